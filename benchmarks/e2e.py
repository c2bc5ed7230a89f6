"""End-to-end frames/s of the runtime on a video, with the time per stage.

Two views of the same pipeline (decode -> face detection -> crop -> model -> tracking/smoothing):

* ``pipelined``: the camera loop (``edge_sdk.stream.run_stream``) over the file with every frame
  processed; decoding runs on the reader thread while the previous frame is scored, as on a device.
* ``isolated``: each stage alone over the same frames, one after the other (decode, face detection
  per 720p frame, crop + normalise, model at batch 1), so the split adds up without overlap.

The camera loop's ``cpu`` gives each thread's busy seconds against the loop's wall time, and the cores busy.
``throughput``: ``detect`` over every frame of the file with ``--batch-frames N`` (crops of N frames per model
call) against N = 1, frames/s of both in the same run.

    python -m edge_sdk.benchmarks.e2e --video ../shared/samples/western_fake.mp4 [--model ARTIFACT] [--threads 2]

Without ``--model`` it exports MS-Eff-GCViT B0 (random init: speed does not depend on the
weights) to ONNX fp32 under ``--out`` once and reuses it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from edge_sdk.timing import busy_table

from .machine import machine
from .measure import loader, peak_rss_mb, pin_threads, reset_peak_rss

DEFAULT_OUT = Path("runs/e2e")


def default_artifact(out_dir: Path, name: str = "ms_eff_gcvit_b0") -> Path:
    """An fp32 ONNX export of ``name`` with its manifest, made once under ``out_dir``."""
    path = out_dir / f"{name}.onnx"
    if path.exists() and (out_dir / "manifest.json").exists():
        return path
    import torch

    from edge_sdk import manifest
    from edge_sdk.models import create_model, reparameterize
    from edge_sdk.preprocess import CropSpec
    from edge_sdk.export import export_onnx

    model = reparameterize(create_model(name)).eval()
    size = model.pretrained_cfg["input_size"][-1]
    export_onnx(model, path, torch.zeros(1, 3, size, size), dynamic_batch=True)
    m = manifest.build(path, model=name, target="onnx", precision="fp32", crop=CropSpec.for_model(model.pretrained_cfg),
                       input_shape=["batch", 3, size, size])
    manifest.write(m, out_dir / "manifest.json")
    return path


def _ms(times: list[float]) -> dict:
    a = np.asarray(times) * 1e3
    return {"mean": round(float(a.mean()), 2), "p50": round(float(np.percentile(a, 50)), 2),
            "p90": round(float(np.percentile(a, 90)), 2), "n": int(a.size)}


def _timed(fn, inputs: list, warm: int) -> list[float]:
    for x in inputs[:warm]:
        fn(x)
    times = []
    for x in inputs:
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return times


def isolated(video: Path, backend, face_model: str | None = None, frames: int = 120) -> dict:
    """Each stage alone on the first ``frames`` frames: decode, detect, crop, model (batch 1)."""
    import cv2

    from edge_sdk.faces import FaceDetector
    from edge_sdk.video import open_video

    cap = open_video(video)
    decoded, t_decode = [], []
    try:
        while len(decoded) < frames:
            t0 = time.perf_counter()
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            t_decode.append(time.perf_counter() - t0)
            decoded.append(rgb)
    finally:
        cap.release()
    t_detect, boxes, per_frame = [], [], []
    with FaceDetector(face_model, mode="video") as det:
        for i, rgb in enumerate(decoded):
            t0 = time.perf_counter()
            found = det.detect(rgb, timestamp_ms=i * 33)
            t_detect.append(time.perf_counter() - t0)
            per_frame.append(found)
            if found:
                boxes.append((rgb, found[0]))
    spec, t_crop, batches = backend.crop, [], []
    for rgb, face in boxes:
        t0 = time.perf_counter()
        batches.append(spec.to_tensor(spec.crop(rgb, face.box, face.keypoints)))
        t_crop.append(time.perf_counter() - t0)
    T = int(backend.input_shape[1]) if len(backend.input_shape) == 5 else None
    extra = {}
    if T is not None and hasattr(backend, "embed"):  # a bundle: each crop embedded once, the head per clip
        model = backend.embed
        emb = backend.embed(np.concatenate(batches[:T]))[None]
        valid = np.ones((1, T), np.float32)
        extra["head"] = _ms(_timed(lambda _: backend.head(emb, valid), [None] * len(batches), warm=5))
    elif T is not None:  # any other clip model scores the track's last T crops at each frame
        def model(x):
            return backend.predict(np.concatenate([x] * T)[None])
    else:
        model = backend.predict
    stages = {"decode": _ms(t_decode), "detect": _ms(t_detect), "crop": _ms(t_crop),
              "model": _ms(_timed(model, batches, warm=5)), **extra}
    total = sum(s["mean"] for s in stages.values())
    return {"frames": len(decoded), "faces": len(boxes), "frame_size": list(decoded[0].shape[1::-1]) if decoded else None,
            "stage_ms": stages, "sum_ms": round(total, 2), "fps_if_sequential": round(1e3 / total, 2) if total else None,
            "_detections": per_frame, "_frame_shape": decoded[0].shape if decoded else None}


def held_iou(detections: list[list], every: int, shape) -> dict:
    """``--detect-every K`` replayed on the faces detected on every frame: the held boxes against the largest face
    detected on that frame (IoU), over the frames where both exist, and how often a detected face had no box."""
    from edge_sdk.aggregate import iou
    from edge_sdk.stream import EveryK

    class Replay:  # the detector, as it answered on frame ``i``
        i = 0

        def detect(self, rgb, timestamp_ms=None):
            return detections[self.i]

    frame, replay = np.zeros(shape, np.uint8), Replay()
    held = EveryK(replay, every)
    scores, missed = [], 0
    for i, found in enumerate(detections):
        replay.i = i
        got = held.detect(frame)
        if found and got:
            scores.append(max(iou(g.box, found[0].box) for g in got))
        elif found:
            missed += 1
    a = np.asarray(scores) if scores else np.zeros(1)
    return {"every": every, "frames": len(detections), "iou_mean": round(float(a.mean()), 4),
            "iou_p10": round(float(np.percentile(a, 10)), 4), "iou_min": round(float(a.min()), 4),
            "faces_without_box": missed}


def throughput(video: Path, load, batch_frames: int, face_model: str | None = None) -> dict:
    """``detect`` over every frame of ``video`` with ``--batch-frames batch_frames`` against 1, one after the other:
    frames/s of each after an untimed two-frame warm-up, and the largest logit difference between the two (float
    noise; of the records' logits, rounded to 5 decimals). ``artifact_batch``: the crops one call of the artifact
    takes ("dynamic": any; a fixed batch of 1 is one call per crop either way)."""
    from edge_sdk.pipeline import Detector

    runs, batch = {}, None
    for n in dict.fromkeys((1, batch_frames)):
        with Detector(load(), face_model=face_model) as det:
            if det.clip:
                return {"batch_frames": batch_frames, "status": "not run",
                        "reason": "a clip model scores all of a video's clips in one call already"}
            batch = det.backend.fixed_batch or det.crops_per_call or "dynamic"
            if batch == 1:  # one crop per call either way: two more passes over the file would measure nothing
                return {"batch_frames": batch_frames, "status": "not run",
                        "reason": "the artifact takes a batch of 1 (export --dynamic-batch to batch crops)"}
            det.video(video, frames=2, batch_frames=n)  # untimed: the runtime's first calls, the file into the cache
            t0 = time.perf_counter()
            rec = det.video(video, every=1, batch_frames=n)
            runs[n] = (rec, time.perf_counter() - t0)
    logits = {n: np.array([f["logit"] for fr in rec["frames"] for f in fr["faces"]]) for n, (rec, _) in runs.items()}
    (one, t1), (batched, tn) = runs[1], runs[batch_frames]
    return {"batch_frames": batch_frames, "status": "ok", "artifact_batch": batch, "frames": one["frames_sampled"],
            "faces": len(logits[1]),
            "fps_1": round(one["frames_sampled"] / t1, 2), "fps_batched": round(batched["frames_sampled"] / tn, 2),
            "speedup": round(t1 / tn, 3),
            "max_abs_d_logit": (float(np.abs(logits[1] - logits[batch_frames]).max()) if len(logits[1]) else 0.0)
            if len(logits[1]) == len(logits[batch_frames]) else None,
            "same_verdict": one["verdict"] == batched["verdict"]}


def run(video: str | Path, model: str | Path | None = None, threads: int | None = None, repeats: int = 3,
        out_dir: str | Path = DEFAULT_OUT, face_model: str | None = None, detect_every: tuple[int, ...] = (),
        batch_frames: int = 8) -> dict:
    """``detect_every``: also the camera loop with faces detected every K-th frame, for each K: its frames/s, and the
    held boxes against detection on every frame (IoU, :func:`held_iou`). ``batch_frames`` N > 1: also ``detect``'s
    throughput mode over the file at N against 1 (:func:`throughput`); 0 or 1: not run."""
    from edge_sdk.stream import run_stream

    out_dir = Path(out_dir)
    video = Path(video)
    artifact = Path(model) if model else default_artifact(out_dir)
    load = loader(str(artifact), threads)
    # the camera loop first, so the process's peak memory is the loop's (the isolated pass below holds its decoded
    # frames at once, and the allocator keeps that memory afterwards)
    reset = reset_peak_rss()
    runs = []
    for _ in range(repeats):
        backend = load()  # run_stream closes it
        runs.append(run_stream(video, backend, live=False, face_model=face_model))
    loop_peak = peak_rss_mb()
    with load() as backend:
        iso = isolated(video, backend, face_model)
    best = max(runs, key=lambda r: r["fps"])
    detections, shape = iso.pop("_detections"), iso.pop("_frame_shape")
    every = []
    for k in detect_every:
        backend = load()
        r = run_stream(video, backend, live=False, face_model=face_model, detect_every=k)
        every.append({**held_iou(detections, k, shape), "fps": r["fps"], "detect_ms": r["stage_ms"].get("detect")})
    batched = throughput(video, load, batch_frames, face_model) if batch_frames > 1 else None
    result = {"video": str(video), "artifact": str(artifact), "backend": backend.name, "threads": threads or "default",
              "machine": machine(),
              "pipelined": {"fps_runs": [r["fps"] for r in runs], "fps_median": statistics.median(r["fps"] for r in runs),
                            "frames": best["frames_processed"], "stage_ms_of_best": best["stage_ms"],
                            "cpu_of_best": best["cpu"],
                            **({"clips_scored": best["clips_scored"], "clips_per_s": best["clips_per_s"]}
                               if "clips_scored" in best else {})},
              "isolated": iso, **({"detect_every": every} if every else {}),
              **({"throughput": batched} if batched else {}),
              # the camera loop's peak (the target's alone when this runs in a process of its own, as bench does)
              "peak_rss_mb": loop_peak, "peak_rss_of": "camera loop" if reset else "whole process"}
    from edge_sdk.fileio import write_atomic

    write_atomic(out_dir / "e2e.json", json.dumps(result, indent=2) + "\n")
    write_atomic(out_dir / "e2e.md", to_markdown(result) + "\n")
    return result


def to_markdown(r: dict) -> str:
    m, iso, pipe = r["machine"], r["isolated"], r["pipelined"]
    lines = [f"End to end on `{Path(r['video']).name}` ({iso['frame_size'][0]}x{iso['frame_size'][1]}), "
             f"{Path(r['artifact']).name} on {r['backend']} (threads: {r['threads']}); {m['cpu']}, {m['cores']} cores, "
             f"{m['when']}.", "",
             f"Pipelined (camera loop, every frame): **{pipe['fps_median']:.1f} frames/s** "
             f"(median of {len(pipe['fps_runs'])} runs: {', '.join(f'{x:.1f}' for x in pipe['fps_runs'])}).", "",
             "| stage | isolated mean ms | isolated p90 ms | in the loop, mean ms |", "|---|---|---|---|"]
    loop = pipe["stage_ms_of_best"]
    if "clips_per_s" in pipe:
        lines.insert(3, f"Clips scored: {pipe['clips_scored']}, **{pipe['clips_per_s']:.1f} clips/s** (each face track "
                        "once it has its T frames, then at every new frame).")
        lines.insert(4, "")
    for stage in [k for k in ("decode", "detect", "crop", "model", "head") if k in iso["stage_ms"]]:
        s = iso["stage_ms"][stage]
        lines.append(f"| {stage} | {s['mean']:.2f} | {s['p90']:.2f} | {loop.get(stage, 0):.2f} |")
    lines.append(f"| sum | {iso['sum_ms']:.2f} | | |")
    lines.append("")
    lines.append(f"Isolated stages one after the other would give {iso['fps_if_sequential']:.1f} frames/s; the loop "
                 "overlaps decoding (reader thread) with scoring.")
    if pipe.get("cpu_of_best"):
        lines += ["", "Threads of the camera loop (its best run), busy on a CPU against the loop's wall time:", ""]
        lines += busy_table(pipe["cpu_of_best"])
    if r.get("throughput"):
        lines += [""] + throughput_table([(None, r["throughput"])])
    if r.get("detect_every"):
        lines += [""] + detect_every_table([(None, e) for e in r["detect_every"]])
    return "\n".join(lines)


def throughput_table(rows: list[tuple[str | None, dict]]) -> list[str]:
    """Markdown lines: per (model and target, or None, :func:`throughput` result) detect's frames/s at 1 and N."""
    named = any(m is not None for m, _ in rows)
    lines = [("| model, artifact " if named else "") + "| detect --batch-frames N | artifact batch | frames/s at 1 | "
             "frames/s at N | speed-up | max abs d logit |", "|---" * (6 + named) + "|"]
    for m, t in rows:
        lines.append((f"| {m} " if named else "") + (
            f"| {t['batch_frames']} | {t.get('artifact_batch', '-')} | {t['fps_1']:.1f} | {t['fps_batched']:.1f} | "
            f"{t['speedup']:.2f}x | "
            f"{'faces differ' if t['max_abs_d_logit'] is None else format(t['max_abs_d_logit'], '.1e')} |"
            if t["status"] == "ok" else
            f"| {t['batch_frames']} | {t['status']}: {t.get('reason', '')[:80]} | | | | |"))
    frames = next((t["frames"] for _, t in rows if t["status"] == "ok"), None)
    return lines + ["", "`edge-sdk detect --every 1` over the whole file" + (f" ({frames} frames)" if frames else "")
                    + ": each frame's face crops scored as it comes (N = 1, latency mode) against the crops of N frames "
                    "in one model call (throughput mode), one run after the other; decoding is not overlapped here. "
                    "An artifact of a fixed batch of 1 (`export` without `--dynamic-batch`) still takes one crop per "
                    "call, so only a dynamic batch can gain."]


def detect_every_table(rows: list[tuple[str | None, dict]]) -> list[str]:
    """Markdown lines: per (model and target, or None, --detect-every result) frames/s and the held boxes' IoU."""
    named = any(m is not None for m, _ in rows)
    lines = [("| model, artifact " if named else "") + "| --detect-every K | end-to-end frames/s | detect ms per frame | held box "
             "IoU mean | p10 | min | faces without a box |", "|---" * (7 + named) + "|"]
    lines += [(f"| {m} " if named else "") + f"| {e['every']} | {e['fps']:.1f} | {e['detect_ms']:.2f} | "
              f"{e['iou_mean']:.3f} | {e['iou_p10']:.3f} | {e['iou_min']:.3f} | {e['faces_without_box']} |"
              for m, e in rows]
    return lines + ["", f"Faces detected every K-th frame and held between; the IoU is the held box against the "
                        f"largest face detected on that frame, over the first {rows[0][1]['frames']} frames."]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--video", required=True)
    p.add_argument("--model", default=None, help="artifact with manifest (default: B0 ONNX fp32 exported once)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: its own)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--detect-every", default="", help="comma list of K: also the loop detecting every K-th frame")
    p.add_argument("--batch-frames", type=int, default=8,
                   help="also detect's throughput mode over the file at this N against 1 (0 or 1: not run)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    pin_threads(args.threads)  # as bench's measurements: this many cores, and the runtime's threads
    result = run(args.video, args.model, args.threads, args.repeats, args.out,
                 detect_every=tuple(int(k) for k in args.detect_every.split(",") if k.strip()),
                 batch_frames=args.batch_frames)
    print(to_markdown(result))
    print(f"\nwrote {args.out}/e2e.json and {args.out}/e2e.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
