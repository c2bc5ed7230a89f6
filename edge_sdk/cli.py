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
