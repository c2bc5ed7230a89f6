"""Check the zoo's M2TR against the public code.

    python -m edge_sdk.benchmarks.check_m2tr_reference PYDEEPFAKEDET_DIR

``PYDEEPFAKEDET_DIR`` is a checkout of wdrink/PyDeepFakeDet (MIT; not shipped here, network needed to get it). The
public ``M2TR`` is built from its ``configs/m2tr.yaml`` with random weights (its ImageNet download switched off,
its fvcore registry stubbed), its state dict converted with :func:`edge_sdk.models.m2tr.convert_pydeepfakedet` and
loaded strictly into ``m2tr_b4``; then, with BatchNorm statistics from one random batch and in eval mode on random
320 px inputs, the zoo's logit must equal the public code's class-1 minus class-0 projection within 1e-4 (and the
logits must differ across inputs), and the parameter counts must differ by exactly the public backbone's unused
classifier and the second class. Prints one JSON line; exit 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import torch


def reference_m2tr(repo: Path, img_size: int = 320):
    """The public M2TR with random weights, importing only its model files."""
    registry = types.ModuleType("fvcore.common.registry")

    class Registry:  # fvcore's, as far as the model files use it
        def __init__(self, name):
            self.name = name

        def register(self, obj=None):
            return obj if obj is not None else (lambda o: o)

    registry.Registry = Registry
    for name in ("fvcore", "fvcore.common"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["fvcore.common.registry"] = registry
    for pkg in ("PyDeepFakeDet", "PyDeepFakeDet.models", "PyDeepFakeDet.models.modules", "PyDeepFakeDet.utils"):
        mod = types.ModuleType(pkg)
        mod.__path__ = [str(repo / pkg.replace(".", "/"))]
        sys.modules[pkg] = mod
    effnet = importlib.import_module("PyDeepFakeDet.models.efficientnet")
    effnet.EfficientNet.load_pretrained_weights = lambda self, *a, **k: None  # no download: random weights
    m2tr = importlib.import_module("PyDeepFakeDet.models.m2tr")
    cfg = {"IMG_SIZE": img_size, "BACKBONE": "efficientnet-b4", "TEXTURE_LAYER": "b2", "FEATURE_LAYER": "final",
           "DEPTH": 4, "NUM_CLASSES": 2, "DROP_RATIO": 0.5, "HAS_DECODER": False}
    return m2tr.M2TR(cfg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path, help="a checkout of wdrink/PyDeepFakeDet")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import timm

    import edge_sdk.models  # noqa: F401
    from edge_sdk.models.m2tr import convert_pydeepfakedet

    torch.manual_seed(args.seed)
    ref = reference_m2tr(args.repo)
    # BatchNorm statistics of one random batch (momentum 1), so that eval mode tests them and the random network's
    # features depend on its input (with the default statistics they shrink to ~1e-13 apart across inputs)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    with torch.no_grad():
        ref.train()({"img": torch.randn(4, 3, 320, 320)})
    ref.eval()
    ours = timm.create_model("m2tr_b4").eval()
    ours.load_state_dict(convert_pydeepfakedet(ref.state_dict(), ours), strict=True)
    ref.classifier.act = torch.nn.Identity()  # the public head applies a sigmoid per class in eval
    x = torch.randn(4, 3, 320, 320)
    with torch.no_grad():
        two = ref({"img": x})["logits"]
        mine = ours(x)[:, 0]
    want = two[:, 1] - two[:, 0]
    n_ref = sum(p.numel() for p in ref.parameters())
    n_ours = sum(p.numel() for p in ours.parameters())
    fc = ref.model._fc.weight.numel() + ref.model._fc.bias.numel()
    one_class = ref.classifier.projection.weight.shape[1] + 1
    out = {"reference": "wdrink/PyDeepFakeDet models/m2tr.py", "max_abs_logit_diff": float((mine - want).abs().max()),
           "logits": [round(float(v), 6) for v in mine], "params_reference": n_ref, "params_zoo": n_ours,
           "params_unused_backbone_fc": fc, "params_second_class": one_class}
    out["logit_spread"] = float(want.std())
    out["ok"] = out["max_abs_logit_diff"] < 1e-4 and out["logit_spread"] > 1e-3 and n_ref - fc - one_class == n_ours
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
