"""``edge-sdk <verb>``: thin verbs over functions a Python user can call too."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import EdgeSDKError


def _zoo(args: argparse.Namespace) -> int:
    from benchmarks.zoo import DEFAULT_MODELS, to_markdown, zoo_report

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else DEFAULT_MODELS
    entries = zoo_report(models, out_dir=args.out)
    print(to_markdown(entries))
    if args.out:
        print(f"\nwrote {args.out}/zoo.md and {args.out}/zoo.json")
    return 0


def _fetch_assets(args: argparse.Namespace) -> int:
    from .assets import fetch_assets

    for name, path in fetch_assets().items():
        print(f"{name}: {path}")
    return 0


def _detect(args: argparse.Namespace) -> int:
    import json

    from .pipeline import detect

    records = detect(args.paths, args.model, json_out=args.json, annotate=args.annotate, frames=args.frames, every=args.every, fps=args.fps,
                     strategy=args.aggregate, face_model=args.face_model, min_confidence=args.min_confidence,
                     threshold=args.threshold, progress=not args.quiet)
    for r in records:
        line = {k: r.get(k) for k in ("path", "ok", "kind", "verdict", "score", "error") if r.get(k) is not None}
        print(json.dumps(line))
    failed = sum(not r["ok"] for r in records)
    if args.json:
        print(f"wrote {len(records)} records to {args.json}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(records)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _camera(args: argparse.Namespace) -> int:
    import json

    from .stream import run_stream

    if args.out is None and not args.show and args.jsonl is None:
        raise EdgeSDKError("camera: nothing to show or write: give --show, --out FILE.mp4 or --jsonl FILE")
    summary = run_stream(args.source, args.model, out=args.out, show=args.show, jsonl=args.jsonl,
                         live={"auto": None, "yes": True, "no": False}[args.live], max_frames=args.max_frames,
                         smooth=args.smooth, face_model=args.face_model, min_confidence=args.min_confidence,
                         threshold=args.threshold, stall_timeout=args.stall_timeout, stall_limit=args.stall_limit,
                         progress=not args.quiet)
    if not args.quiet:
        print(file=sys.stderr)
    print(json.dumps(summary, indent=2))
    print(f"edge-sdk camera: {summary['message']}", file=sys.stderr)
    return 1 if summary["status"] in ("stalled", "failed") else 0


def _runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="artifact (.onnx, .pte, .engine, .mlpackage, .pt) with its manifest")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the manifest's)")
    p.add_argument("--min-confidence", type=float, default=0.5, help="face detector minimum confidence")
    p.add_argument("--face-model", default=None, help="BlazeFace .tflite (default: cache / EDGE_SDK_FACE_MODEL)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-sdk", description="Deepfake detectors from training to the edge.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edge-sdk {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    zoo = verbs.add_parser("zoo", help="params, MACs/FLOPs and parameter split per model",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    zoo.add_argument("--models", default=None,
                     help="comma-separated model names (default: ms_eff_gcvit_b0,ms_eff_gcvit_b5,repvit_m0_9,"
                          "repvit_m1_1,clip_fcg_vit_b16)")
    zoo.add_argument("--out", default=None, help="folder for zoo.md and zoo.json")
    zoo.set_defaults(func=_zoo)

    fa = verbs.add_parser("fetch-assets", help="fetch the BlazeFace face model into the cache ($EDGE_SDK_HOME)")
    fa.set_defaults(func=_fetch_assets)

    det = verbs.add_parser("detect", help="score images, videos and folders with an exported artifact",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    det.add_argument("paths", nargs="+", help="images, videos or folders (searched recursively)")
    _runtime_options(det)
    det.add_argument("--json", default=None, help="write all records to this JSON file")
    det.add_argument("--annotate", default=None, metavar="DIR",
                     help="write annotated copies here: images as .jpg, videos' sampled frames as .mp4")
    det.add_argument("--frames", type=int, default=32, help="frames sampled uniformly per video")
    det.add_argument("--every", type=int, default=None, help="instead: every k-th frame")
    det.add_argument("--fps", type=float, default=None, help="instead: frames at this rate")
    det.add_argument("--aggregate", default="confident", choices=["mean", "vote", "confident"])
    det.set_defaults(func=_detect)

    cam = verbs.add_parser("camera", help="score a camera, stream or video live, with an overlay or an annotated video",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cam.add_argument("--source", default="0",
                     help="camera index, video file, rtsp:// or http:// URL, GStreamer pipeline, or csi://N (Jetson)")
    _runtime_options(cam)
    cam.add_argument("--show", action="store_true", help="show frames with the overlay in a window (q or Esc stops)")
    cam.add_argument("--out", default=None, help="headless: write the annotated video here (.mp4)")
    cam.add_argument("--jsonl", default=None, help="write one JSON line per processed frame here")
    cam.add_argument("--live", default="auto", choices=["auto", "yes", "no"],
                     help="yes: keep only the newest frame (drop stale ones); no: every frame; auto: yes except files")
    cam.add_argument("--max-frames", type=int, default=None, help="stop after this many processed frames")
    cam.add_argument("--smooth", type=float, default=0.3, help="EMA weight of the newest P(fake) per tracked face")
    cam.add_argument("--stall-timeout", type=float, default=5.0, help="warn after this many seconds without a frame")
    cam.add_argument("--stall-limit", type=float, default=30.0, help="give up after this many seconds without a frame")
    cam.set_defaults(func=_camera)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EdgeSDKError as err:
        print(f"edge-sdk {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
