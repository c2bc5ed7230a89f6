"""Check the zoo's Megatron temporal head against the public code.

    python -m edge_sdk.benchmarks.check_megatron_reference MEGATRON_DIR

``MEGATRON_DIR`` is a checkout of valerio98-lab/Megatron_DeepFake (MIT; not shipped here, network needed to get it).
Its ``TransformerFakeDetector`` (``src/megatron/trans_one.py``, plain torch) is built with the training config's
sizes (d_model 384, 2 heads, d_ff 1024, ``--layers`` layers) and random weights; its state dict loads strictly into
``megatron_rgbd``'s head; the public positional encoding (``preprocessing.PositionalEncoding``) is added to random
RGB and depth embeddings of ``--frames`` frames as its collate function does. In eval mode the zoo's logit must equal
the public class-0 (fake) minus class-1 logit within 1e-5, the parameter counts must be equal, and a mask of all ones
must change nothing. Prints one JSON line; exit 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import torch


def reference_modules(repo: Path):
    """The public ``trans_one`` and ``preprocessing`` modules, imported without the package's other files."""
    pkg = types.ModuleType("megatron")
    pkg.__path__ = [str(repo / "src" / "megatron")]
    sys.modules["megatron"] = pkg
    return importlib.import_module("megatron.trans_one"), importlib.import_module("megatron.preprocessing")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path, help="a checkout of valerio98-lab/Megatron_DeepFake")
    ap.add_argument("--layers", type=int, default=1, help="encoder layers (configuration.py: 1; model.py's docstring: 2)")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from edge_sdk.models.megatron import TemporalHead

    trans_one, preprocessing = reference_modules(args.repo)
    torch.manual_seed(args.seed)
    ref = trans_one.TransformerFakeDetector(d_model=384, n_heads=2, n_layers=args.layers, d_ff=1024,
                                            num_classes=2).eval()
    ours = TemporalHead(384, 2, args.layers, 1024).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    pe = preprocessing.PositionalEncoding(384, max_len=args.frames)
    rgb, depth = torch.randn(4, args.frames, 384), torch.randn(4, args.frames, 384)
    with torch.no_grad():
        two = ref(torch.stack([pe(r) for r in rgb]), torch.stack([pe(d) for d in depth]))
        mine = ours(rgb, depth)[:, 0]
        masked = ours(rgb, depth, torch.ones(4, args.frames))[:, 0]
    want = two[:, 0] - two[:, 1]
    n_ref, n_ours = (sum(p.numel() for p in m.parameters()) for m in (ref, ours))
    out = {"max_abs_logit": float((mine - want).abs().max()), "max_abs_mask_all_ones": float((masked - mine).abs().max()),
           "logit_spread": float(want.max() - want.min()), "params": n_ours, "params_reference": n_ref,
           "layers": args.layers, "frames": args.frames}
    ok = out["max_abs_logit"] < 1e-5 and out["max_abs_mask_all_ones"] < 1e-5 and n_ref == n_ours \
        and out["logit_spread"] > 1e-3
    print(json.dumps({**out, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
