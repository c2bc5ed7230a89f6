"""Parity per model and target over the parity set, written as JSON and a Markdown table (docs/export.md's figures).

Each case is a model (zoo name or checkpoint) and the targets to export it to; each artifact is checked by the
runtime's backend against PyTorch on the parity set of ``--data`` (face crops, whole frames, dark / bright / low and
high contrast / JPEG q8 / grey variants; clips of a video for a clip model). A trained checkpoint whose logits
spread is what makes fp16 and int8 agreement mean something: random weights give nearly constant logits.

    python -m edge_sdk.benchmarks.parity_report --data ../shared/samples --out runs/parity \\
        --case ms_eff_gcvit_b0:onnx-fp32,executorch-fp32 --case runs/evidence/teacher/best.pt:onnx-int8
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path


def run_case(model: str, target_names: list[str], data: str, out: Path, calib_variants: bool = True) -> list[dict]:
    from edge_sdk.export import export

    t0 = time.perf_counter()
    records = export(model, formats=target_names, out=out, calib=data, verify_data=data, parity_crops=64,
                     calib_variants=calib_variants)
    label = model
    if Path(model).is_file():  # a checkpoint: its architecture and where it was trained
        arch = next((json.loads((Path(r["path"]).parent / "manifest.json").read_text())["model"]["name"]
                     for r in records if r["ok"]), Path(model).stem)
        label = f"{arch} (trained: {Path(model).parent.parent.name}/{Path(model).parent.name})"
    rows = []
    for r in records:
        p = r.get("parity") or {}
        rows.append({"model": model, "label": label, "target": r["name"], "ok": r["ok"], "error": r.get("error"),
                     "status": p.get("status"), "n": p.get("n"), "max_abs_logit": p.get("max_abs_logit"),
                     "worst_kind": p.get("worst_kind"), "agreement": p.get("agreement"), "spearman": p.get("spearman"),
                     "reference_spread": p.get("reference_spread"), "limits": p.get("limits"),
                     "auc_delta": p.get("auc_delta"),
                     "export_s": (r.get("steps") or {}).get("total_s")})
    rows[-1]["case_s"] = round(time.perf_counter() - t0, 1)
    return rows


def _cases(command: str) -> list[str]:
    """The models a parity_report command checked (its ``--case MODEL:TARGETS`` arguments)."""
    return [c.rpartition(":")[0] for c in re.findall(r"--case[ =](\S+)", command)]


def to_markdown(doc: dict) -> str:
    m = doc["machine"]
    runs = doc.get("runs") or [{"command": doc["command"], "when": m["when"]}]  # --append: every part's command
    lines = [*(f"`{r['command']}` ({r['when'][:10]})" + ("  " if i < len(runs) - 1 else "") for i, r in enumerate(runs)),
             "", f"Machine: {m['cpu']}, {m['cores']} cores; {m['when']}.", "",
             "| model | target | parity | inputs | max abs d logit | worst kind | agreement | Spearman | abs AUC change | "
             "logit spread | export (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        if not r["ok"]:
            lines.append(f"| {r.get('label') or r['model']} | {r['target']} | export failed: {(r['error'] or '')[:80]} "
                         "| | | | | | | | |")
            continue
        f = (lambda v, fmt: "-" if v is None else format(v, fmt))
        lines.append(f"| {r.get('label') or r['model']} | {r['target']} | {r['status']} | {r['n'] or '-'} | "
                     f"{f(r['max_abs_logit'], '.2e')} | {r['worst_kind'] or '-'} | {f(r['agreement'], '.1%')} | "
                     f"{f(r['spearman'], '.4f')} | {f(r.get('auc_delta'), '.4f')} | {f(r['reference_spread'], '.3g')} | "
                     f"{f(r.get('export_s'), '.1f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="face images/videos for calibration and the parity set")
    p.add_argument("--case", action="append", required=True, metavar="MODEL:TARGET,TARGET",
                   help="a zoo name or checkpoint and the targets to check (repeatable)")
    p.add_argument("--out", default="runs/parity")
    p.add_argument("--append", action="store_true",
                   help="keep the rows of other cases already in <out>/parity.json (a run done in parts)")
    p.add_argument("--no-calib-variants", action="store_true",
                   help="calibrate int8 on the face crops alone (export's --no-calib-variants), for comparison")
    args = p.parse_args(argv)
    from edge_sdk.fileio import to_json, write_atomic

    from .machine import machine

    out = Path(args.out)
    rows, runs = [], []
    if args.append and (out / "parity.json").is_file():
        new = {case.rpartition(":")[0] for case in args.case}
        old = json.loads((out / "parity.json").read_text())
        rows = [r for r in old["rows"] if r["model"] not in new]
        if "machine" in old:  # the earlier parts' commands stay named beside the rows they wrote, until redone
            runs = [r for r in old.get("runs") or [{"command": old["command"], "when": old["machine"]["when"]}]
                    if not set(_cases(r["command"])) <= new]
    for case in args.case:
        model, _, names = case.rpartition(":")
        folder = Path(model).parent.name if Path(model).is_file() else model  # teacher/best.pt -> teacher
        rows += run_case(model, [n for n in names.split(",") if n], args.data, out / folder,
                         calib_variants=not args.no_calib_variants)
        write_atomic(out / "parity.json", to_json({"rows": rows}, indent=2))  # what is done so far survives a kill
    command, where = "python -m edge_sdk.benchmarks.parity_report " + " ".join(argv or []), machine()
    doc = {"command": command, "machine": where, "runs": [*runs, {"command": command, "when": where["when"]}],
           "rows": rows}
    write_atomic(out / "parity.json", to_json(doc, indent=2) + "\n")
    write_atomic(out / "parity.md", to_markdown(doc) + "\n")
    print(to_markdown(doc))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
