"""M2TR's cross-modality fusion: peak memory and latency per ``kv_pool``, each in a fresh process.

At 320 px the fusion block attends over all 80 x 80 = 6,400 positions of the stride-4 map: one 6,400 x 6,400 float
matrix (164 MB) per face and block unless the runtime fuses the attention. ``kv_pool`` k average-pools the frequency
map before its keys and values (6,400 x 6,400 / k^2). For each k this builds ``m2tr_b4`` (random weights, the
deployment form), times eager PyTorch (the whole model, and the four fusion blocks alone on the real texture map),
exports ONNX fp32, then times that file in ONNX Runtime in a process of its own (no torch imported), and reads each
process's peak resident memory (VmHWM; ``rss_before_mb`` is after loading, so the difference is what inference
adds)::

    python -m edge_sdk.benchmarks.m2tr_fusion --pools 1,2,4 --threads 2 --out runs/m2tr_fusion
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from edge_sdk.benchmarks.measure import peak_rss_mb, rss_mb
pool, threads, runs, what, folder = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
path = f"{folder}/m2tr_b4_pool{pool}.onnx"
x = np.random.default_rng(0).standard_normal((1, 3, 320, 320)).astype(np.float32)
def p50(fn):
    for _ in range(2):
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts))
out = {"kv_pool": pool, "keys": (80 // pool + (80 % pool > 0)) ** 2, "what": what}
if what == "torch":  # eager PyTorch, the deployment form; also writes the ONNX file the next process times
    import torch, timm, edge_sdk.models
    from edge_sdk.models import reparameterize
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = reparameterize(timm.create_model("m2tr_b4", kv_pool=pool))
    xt = torch.from_numpy(x)
    with torch.no_grad():
        texture = model._texture(xt)
        fuse = [layer[2] for layer in model.layers]
        base = rss_mb()
        out["fusion_ms"] = p50(lambda: [f(texture, texture) for f in fuse])
        out["model_ms"] = p50(lambda: model(xt))
    out["rss_before_mb"], out["peak_rss_mb"] = base, peak_rss_mb()
    torch.onnx.export(model, (xt,), path, dynamo=True, opset_version=18, external_data=False)
else:  # ONNX Runtime alone in its process (no torch imported): the memory an edge process needs
    import onnxruntime as ort
    opts = ort.SessionOptions(); opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    base = rss_mb()
    out["model_ms"] = p50(lambda: sess.run(None, feed))
    out["rss_before_mb"], out["peak_rss_mb"] = base, peak_rss_mb()
print(json.dumps(out))
"""


def to_markdown(doc: dict) -> str:
    m = doc["machine"]
    lines = [f"`{doc['command']}`; {m['cpu']}, {m['cores']} cores, {doc['threads']} threads; {m['when']}.", "",
             "| kv_pool | keys per query | runtime | whole model p50 ms | the 4 fusion blocks p50 ms "
             "| RSS after loading (MB) | peak RSS (MB) | inference adds (MB) |", "|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        if "error" in r:
            lines.append(f"| {r['kv_pool']} | - | {r['what']} | failed: {' '.join(r['error'])[:100]} | | | | |")
            continue
        fusion = f"{r['fusion_ms']:.1f}" if "fusion_ms" in r else "-"
        added = r["peak_rss_mb"] - r["rss_before_mb"]
        lines.append(f"| {r['kv_pool']} | {r['keys']:,} | {r['what']} | {r['model_ms']:.1f} | {fusion} | "
                     f"{r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | {added:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", default="1,2,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("runs/m2tr_fusion"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for pool in (int(p) for p in args.pools.split(",")):
        for what in ("torch", "onnxruntime"):
            proc = subprocess.run([sys.executable, "-c", CHILD, str(pool), str(args.threads), str(args.runs), what,
                                   str(args.out)], capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            row = json.loads(lines[-1]) if proc.returncode == 0 and lines else \
                {"kv_pool": pool, "what": what, "error": proc.stderr.strip().splitlines()[-1:]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    from edge_sdk.fileio import write_atomic

    from .machine import machine

    command = "python -m edge_sdk.benchmarks.m2tr_fusion " + " ".join(argv if argv is not None else sys.argv[1:])
    write_atomic(args.out / "m2tr_fusion.json", json.dumps({"command": command.strip(), "machine": machine(),
                                                            "threads": args.threads, "rows": rows}, indent=1))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
