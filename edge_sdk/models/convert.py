"""State dicts: unwrapping what training scripts save, strict loading, and DeepGuard's published MS-Eff-GCViT files.

Files are read by :func:`edge_sdk.models.loader.read_checkpoint` (``torch.load(weights_only=True)`` or
safetensors); every load is strict: each key consumed, each shape equal, each floating parameter given a floating
tensor, and the error names the first key that does not fit.
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


def read_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint file as a dict (safetensors: its tensors), read without running any code from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(_unreadable(path, err)) from err
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(data).__name__}, not a state dict")
    return data


def _unreadable(path: Path, err: BaseException) -> str:
    text = str(err)
    if any(k in text for k in ("Unsupported global", "unsupported GLOBAL", "Unsupported class", "is blocked")):
        # the pickle names a function or class to call: code that would run on loading
        return (f"checkpoint {str(path)!r} was refused: loading it would run Python code or build objects beyond "
                "tensors and plain containers (torch.load weights_only=True). Re-save only the weights "
                "(torch.save(model.state_dict(), ...)) or use safetensors")
    first = (text.strip().splitlines() or [type(err).__name__])[0][:200]
    return f"checkpoint {str(path)!r} could not be read (truncated or not a checkpoint): {type(err).__name__}: {first}"


def state_dict_of(data: Mapping, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The flat ``{name: tensor}`` inside a checkpoint dict (wrappers and DDP/compile prefixes removed)."""
    sd = dict(data)
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
            raise CheckpointError(f"{source}: entry {name!r} is a {type(value).__name__}, not a tensor")
        out[name] = value
    return {DEEPGUARD_KEY_MAP.get(k, k): v for k, v in out.items()}


def read_state_dict(source: str | os.PathLike | Mapping) -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` from a file (.bin/.pth/.pt/.ckpt/.safetensors) or a mapping."""
    if isinstance(source, Mapping):
        return state_dict_of(source, "state dict")
    return state_dict_of(read_checkpoint(source), f"checkpoint {str(source)!r}")


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> nn.Module:
    """Load with every key consumed, every shape equal and no integer tensor where the model has a floating one
    (a cast would turn every weight into whole numbers, mostly 0); the error names the first misfit."""
    expected = model.state_dict()
    for name, value in state_dict.items():
        if name not in expected:
            raise CheckpointError(f"{source}: key {name!r} has no place in {type(model).__name__} (unexpected key)")
        if tuple(value.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: key {name!r} has shape {tuple(value.shape)}, the model expects {tuple(expected[name].shape)}"
            )
        if expected[name].is_floating_point() and not value.is_floating_point():
            raise CheckpointError(f"{source}: key {name!r} holds {value.dtype} values where the model has a "
                                  f"{expected[name].dtype} parameter: not a weight file for this model")
    for name in expected:
        if name not in state_dict:
            raise CheckpointError(f"{source}: key {name!r} is missing from the checkpoint")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state_dict.items()}, strict=True)
    return model


def infer_deepguard_variant(sd: Mapping[str, torch.Tensor]) -> str | None:
    """``ms_eff_gcvit_b0`` / ``_b5`` from an MS-Eff-GCViT state dict's shapes; None when it is not one."""
    w = sd.get("h_gcvit.patch_embed.proj.0.weight")
    if w is None:
        return None
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
    if model is None:
        variant = infer_deepguard_variant(sd)
        if variant is None:
            raise CheckpointError("not an MS-Eff-GCViT checkpoint: key 'h_gcvit.patch_embed.proj.0.weight' is missing")
        model = timm.create_model(variant)
    label = source if isinstance(source, (str, os.PathLike)) else "state dict"
    return load_strict(model, sd, source=f"DeepGuard checkpoint {str(label)!r}").eval()
