"""The regression gate: this bench run against a baseline run, target by target.

Shared CI machines differ and are noisy, so times are not compared in milliseconds. Each
target's p50 is divided by a reference measured in the same run, and those ratios are compared:

* ``torch`` (the default where both runs have it): the eager PyTorch p50 of the same model, so
  ``onnx-int8`` at 0.40 means "40% of eager PyTorch's time" on whatever machine ran it;
* ``probe``: the time of the run's matmul probe (one fp32 1024 x 1024 product at the machine's
  peak); used for the torch row itself and where a run has no torch row.

A target fails the gate when its ratio grew by more than ``max_regression`` (0.20 = 20% slower),
when it ran in the baseline and no longer does (export or run failure), when its parity verdict
went from passed to failed, or when its max |delta logit| grew beyond ``(1 + parity_slack)`` times
the baseline's plus a floor (1e-4, below which float rounding differs between CPUs). Parity is
compared only when both runs calibrated and checked on the same kind of data.
"""

from __future__ import annotations

import json
from pathlib import Path

PARITY_FLOOR = 1e-4
CHECKS = ("all", "parity", "speed")


def load_baseline(path: str | Path) -> dict:
    from edge_sdk.errors import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"baseline {p}: no such file (make one with edge-sdk bench ... --write-baseline {p})")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"baseline {p}: not valid JSON ({err})") from None
    if not isinstance(doc, dict) or "results" not in doc:
        raise InputError(f"baseline {p}: not an edge-sdk bench result (no 'results')")
    return doc


def _data_kind(doc: dict) -> tuple:
    s = doc.get("settings", {})
    calib = s.get("calib")
    return ("random" if calib in (None, "random") else Path(str(calib)).name,
            "random" if not s.get("data") else Path(str(s["data"])).name)


def _ratio(row: dict, rows: dict, probe: dict | None, reference: str) -> tuple[float | None, str]:
    lat = row.get("latency_ms")
    if not lat:
        return None, reference
    torch_row = rows.get((row["model"], "torch"))
    if reference == "torch" and row["target"] != "torch" and torch_row and torch_row.get("latency_ms"):
        return lat["p50"] / torch_row["latency_ms"]["p50"], "torch"
    if probe and probe.get("ms"):
        return lat["p50"] / probe["ms"], "probe"
    return None, "none"


def gate(current: dict, baseline: dict, max_regression: float = 0.20, reference: str = "torch", check: str = "all",
         parity_slack: float = 1.0, baseline_path: str | Path | None = None) -> dict:
    """Compare ``current`` with ``baseline`` (both bench documents); ``passed`` is False on any regression."""
    if check not in CHECKS:
        raise ValueError(f"check must be one of {CHECKS}, got {check!r}")
    cur = {(r["model"], r["target"]): r for r in current["results"]}
    base = {(r["model"], r["target"]): r for r in baseline["results"]}
    same_data = _data_kind(current) == _data_kind(baseline)
    checks, notes = [], []
    if not same_data:
        notes.append(f"parity not compared: calibration/check data differ (baseline {_data_kind(baseline)}, "
                     f"this run {_data_kind(current)})")
    for key, b in base.items():
        c = cur.get(key)
        label = f"{key[0]} {key[1]}"
        if c is None:
            notes.append(f"{label}: in the baseline, not in this run")
            continue
        if b["status"] in ("ok", "parity failed") and c["status"] in ("failed to run", "failed to export"):
            checks.append({"target": label, "check": "status", "baseline": b["status"], "current": c["status"],
                           "ok": False, "detail": c.get("reason", "")[:200]})
            continue
        if check in ("all", "speed"):
            cr, cref = _ratio(c, cur, current.get("probe"), reference)
            br, bref = _ratio(b, base, baseline.get("probe"), cref)
            if cr is not None and br is not None and bref == cref:
                limit = br * (1 + max_regression)
                checks.append({"target": label, "check": f"p50 / {cref}", "baseline": br, "current": cr,
                               "limit": limit, "ok": cr <= limit,
                               "detail": f"{(cr / br - 1) * 100:+.1f}% vs baseline"})
        if check in ("all", "parity") and same_data and b.get("parity") and c.get("parity"):
            bp, cp = b["parity"], c["parity"]
            if bp["passed"] and not cp["passed"]:
                checks.append({"target": label, "check": "parity verdict", "baseline": "passed", "current": "failed",
                               "ok": False, "detail": "; ".join(cp.get("failures", []))})
            limit = bp["max_abs_logit"] * (1 + parity_slack) + PARITY_FLOOR
            checks.append({"target": label, "check": "max abs d logit", "baseline": bp["max_abs_logit"],
                           "current": cp["max_abs_logit"], "limit": limit, "ok": cp["max_abs_logit"] <= limit,
                           "detail": ""})
    failures = [c for c in checks if not c["ok"]]
    return {"passed": not failures, "baseline": None if baseline_path is None else str(baseline_path),
            "baseline_when": baseline.get("machine", {}).get("when"), "reference": reference, "check": check,
            "max_regression": max_regression, "parity_slack": parity_slack, "checks": checks,
            "failures": [f"{c['target']}: {c['check']} {_v(c['current'])} (baseline {_v(c['baseline'])}"
                         + (f", limit {_v(c['limit'])}" if "limit" in c else "") + ")" for c in failures],
            "notes": notes}


def _v(x) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def to_markdown(g: dict) -> str:
    verdict = "PASSED" if g["passed"] else f"FAILED ({len(g['failures'])} regression(s))"
    lines = [f"Regression gate {verdict}: against {g['baseline'] or 'the baseline'} ({g['baseline_when']}); "
             f"times as p50 / {g['reference']} of the same run (probe where there is none), "
             f"allowed +{g['max_regression']:.0%}; parity allowed x{1 + g['parity_slack']:g} + {PARITY_FLOOR:g}; "
             f"checking {g['check']}.", "",
             "| target | check | baseline | this run | limit | ok | |", "|---|---|---|---|---|---|---|"]
    for c in g["checks"]:
        lines.append(f"| {c['target']} | {c['check']} | {_v(c['baseline'])} | {_v(c['current'])} | "
                     f"{_v(c.get('limit', '-'))} | {'yes' if c['ok'] else '**no**'} | {c['detail'].replace('|', '/')} |")
    lines += [f"- {n}" for n in g["notes"]]
    return "\n".join(lines)
