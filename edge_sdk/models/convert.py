"""Loading checkpoints: DeepGuard's published MS-Eff-GCViT files and edge_sdk's own.

All checkpoint reading goes through :func:`read_state_dict` (``torch.load(weights_only=True)``
or safetensors), and every load is strict: each key consumed, each shape checked, and the
error names the first key that does not fit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import CheckpointError

# Wrappers that training scripts put around a state dict, tried in this order.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "ema")
# Prefixes added by DataParallel / DDP / torch.compile.
_PREFIXES = ("module.", "_orig_mod.")
# DeepGuard key -> edge_sdk key, for names that differ. Our modules reuse the reference names,
# so nothing needs renaming today; this is the one place a rename would go.
DEEPGUARD_KEY_MAP: dict[str, str] = {}


def read_state_dict(source: str | os.PathLike | Mapping) -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` from a file (.bin/.pth/.pt/.ckpt/.safetensors) or a mapping."""
    if isinstance(source, Mapping):
        sd = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} does not exist or is not a file")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                sd = load_file(str(path))
            else:
                sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise CheckpointError(f"checkpoint {str(path)!r} could not be read: {type(err).__name__}: {err}") from err
    for key in _WRAPPER_KEYS:
        if key in sd and isinstance(sd[key], Mapping):
            sd = dict(sd[key])
            break
    out = {}
    for name, value in sd.items():
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"checkpoint entry {name!r} is a {type(value).__name__}, not a tensor")
        out[name] = value
    return out


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> nn.Module:
    """Load with every key consumed and every shape equal; the error names the first misfit."""
    expected = model.state_dict()
    for name, value in state_dict.items():
        if name not in expected:
            raise CheckpointError(f"{source}: key {name!r} has no place in {type(model).__name__} (unexpected key)")
        if tuple(value.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: key {name!r} has shape {tuple(value.shape)}, the model expects {tuple(expected[name].shape)}"
            )
    for name in expected:
        if name not in state_dict:
            raise CheckpointError(f"{source}: key {name!r} is missing from the checkpoint")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state_dict.items()}, strict=True)
    return model


def _infer_variant(sd: Mapping[str, torch.Tensor]) -> str:
    w = sd.get("h_gcvit.patch_embed.proj.0.weight")
    if w is None:
        raise CheckpointError("not an MS-Eff-GCViT checkpoint: key 'h_gcvit.patch_embed.proj.0.weight' is missing")
    by_shape = {(256, 320): "ms_eff_gcvit_b0", (512, 512): "ms_eff_gcvit_b5"}
    variant = by_shape.get(tuple(w.shape[:2]))
    if variant is None:
        raise CheckpointError(f"unknown MS-Eff-GCViT variant: high-branch embedding has shape {tuple(w.shape)}")
    return variant


def load_deepguard_checkpoint(source: str | os.PathLike | Mapping, model: nn.Module | None = None) -> nn.Module:
    """Load a DeepGuard MS-Eff-GCViT checkpoint (B0 or B5, any dataset) strictly.

    ``model`` defaults to a fresh ``ms_eff_gcvit_b0`` / ``_b5`` chosen from the checkpoint's shapes.
    Returns the model in eval mode.
    """
    import timm

    from . import ms_eff_gcvit  # noqa: F401  (registers the models)

    sd = read_state_dict(source)
    sd = {DEEPGUARD_KEY_MAP.get(k, k): v for k, v in sd.items()}
    if model is None:
        model = timm.create_model(_infer_variant(sd))
    label = source if isinstance(source, (str, os.PathLike)) else "state dict"
    return load_strict(model, sd, source=f"DeepGuard checkpoint {str(label)!r}").eval()
