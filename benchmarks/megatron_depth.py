"""Megatron's per-clip cost by depth resolution: the three bundle parts in ONNX Runtime, measured in one run.

Depth-Anything-V2-Small at 518 px (the upstream default) dominates a clip: it runs once per frame, the embedder
twice and the head once per clip. For each ``--sizes`` value this builds ``megatron_rgbd`` at that ``depth_size``
(random weights: latency does not depend on them) in the deployment form export uses (``reparameterize``: RepViT's
branches folded), exports its depth part (224 px crops in, depth maps out) to ONNX
fp32, and times it in ONNX Runtime with ``--threads`` threads; the embedder and the head are timed once. A clip of
T frames then costs T x (depth + 2 x embedder) + head, reported with its ratio to 518 px::

    python -m edge_sdk.benchmarks.megatron_depth --sizes 518,392,266,196,140 --threads 2 --out runs/megatron_depth
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from .measure import _time


def _p50(fn, runs: int, warmup: int = 2) -> float:
    return float(np.median(_time(fn, warmup, runs))) * 1e3


def _session(module, example, folder: Path, name: str, threads: int):
    import onnxruntime as ort

    from edge_sdk.export.onnx import export_onnx

    path = folder / f"{name}.onnx"
    export_onnx(module, path, example)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    s = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    return s, s.get_inputs()[0].name


def measure(sizes: list[int], threads: int = 2, runs: int = 10, frames: int = 20, crop: int = 224) -> dict:
    import torch

    from edge_sdk.models import create_model, reparameterize
    from edge_sdk.models.megatron import pack
    from edge_sdk.versions import versions

    torch.set_num_threads(threads)
    rows, parts = [], {}
    x = np.random.default_rng(0).random((1, 3, crop, crop), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        folder = Path(tmp)
        for k, size in enumerate(sizes):
            torch.manual_seed(0)
            m = reparameterize(create_model("megatron_rgbd", depth_size=size, num_frames=frames))  # as export has it
            if k == 0:  # the embedder and the head do not depend on the depth size
                s, name = _session(m.embedder, torch.from_numpy(x), folder, "embedder", threads)
                parts["embedder_ms"] = _p50(lambda: s.run(None, {name: x}), runs)
                packed = pack(torch.randn(1, frames, 384), torch.randn(1, frames, 384)).numpy()
                s, name = _session(m.parts()["head"], torch.from_numpy(packed), folder, "head", threads)
                parts["head_ms"] = _p50(lambda: s.run(None, {name: packed}), runs)
            s, name = _session(m.depth, torch.from_numpy(x), folder, f"depth{size}", threads)
            depth_ms = _p50(lambda: s.run(None, {name: x}), runs)
            rows.append({"depth_size": size, "depth_ms": round(depth_ms, 2)})
    for r in rows:
        clip = frames * (r["depth_ms"] + 2 * parts["embedder_ms"]) + parts["head_ms"]
        r.update(clip_ms=round(clip, 1), clips_per_s=round(1e3 / clip, 3))
    base = next((r["clip_ms"] for r in rows if r["depth_size"] == 518), rows[0]["clip_ms"])
    for r in rows:
        r["clip_vs_518"] = round(r["clip_ms"] / base, 3)
    return {"frames": frames, "crop": crop, "threads": threads, "runs": runs, "runtime": "onnxruntime CPU, fp32",
            "embedder_ms": round(parts["embedder_ms"], 2), "head_ms": round(parts["head_ms"], 2), "rows": rows,
            "versions": versions(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def to_markdown(result: dict) -> str:
    lines = [f"T = {result['frames']} frames of {result['crop']} px crops, {result['runtime']}, {result['threads']} "
             f"threads; embedder {result['embedder_ms']} ms per crop, head {result['head_ms']} ms per clip.", "",
             "| depth size (px) | depth ms / frame | clip ms | clips / s | clip time vs 518 px |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['depth_size']} | {r['depth_ms']} | {r['clip_ms']} | {r['clips_per_s']} | "
                     f"{r['clip_vs_518']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="518,392,266,196,140", help="depth resolutions, multiples of 14")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("runs/megatron_depth"))
    args = ap.parse_args(argv)
    result = measure([int(s) for s in args.sizes.split(",")], args.threads, args.runs, args.frames)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "megatron_depth.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "megatron_depth.md").write_text(to_markdown(result) + "\n")
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
