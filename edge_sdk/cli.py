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

    records = detect(args.paths, args.model, json_out=args.json, frames=args.frames, every=args.every, fps=args.fps,
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
    det.add_argument("--model", required=True, help="artifact (.onnx, .pte, .engine, .mlpackage, .pt) with its manifest")
    det.add_argument("--json", default=None, help="write all records to this JSON file")
    det.add_argument("--frames", type=int, default=32, help="frames sampled uniformly per video")
    det.add_argument("--every", type=int, default=None, help="instead: every k-th frame")
    det.add_argument("--fps", type=float, default=None, help="instead: frames at this rate")
    det.add_argument("--aggregate", default="confident", choices=["mean", "vote", "confident"])
    det.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the manifest's)")
    det.add_argument("--min-confidence", type=float, default=0.5, help="face detector minimum confidence")
    det.add_argument("--face-model", default=None, help="BlazeFace .tflite (default: cache / EDGE_SDK_FACE_MODEL)")
    det.add_argument("--quiet", action="store_true", help="no progress bar")
    det.set_defaults(func=_detect)
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
