"""Weight loading shared by every model in the zoo: timm's normal path, and one clear error offline."""

from __future__ import annotations

import os
from typing import Any, Callable

import torch.nn as nn
from timm.models import build_model_with_cfg

from ..errors import PretrainedWeightsError


def weights_error(what: str, err: BaseException) -> PretrainedWeightsError:
    return PretrainedWeightsError(
        f"could not fetch pretrained weights for {what} ({type(err).__name__}: {err}). "
        "Without a network, pass a local file instead: "
        "timm.create_model(NAME, pretrained=True, pretrained_file='/path/weights.{bin,pth,safetensors}') "
        "or `--weights PATH` on the command line; for a backbone, set backbone_pretrained=False and load "
        "a full checkpoint with edge_sdk.models.load_checkpoint()."
    )


def guarded(what: str, wants_weights: bool, build: Callable[[], nn.Module]) -> nn.Module:
    """Run ``build``; when it fetches weights and fails, raise :class:`PretrainedWeightsError`."""
    if not wants_weights:
        return build()
    try:
        return build()
    except PretrainedWeightsError:
        raise
    except Exception as err:  # network stacks raise many unrelated types (URLError, httpx, OSError...)
        raise weights_error(what, err) from err


def build_with_weights(cls: type[nn.Module], variant: str, pretrained: bool, pretrained_file: str | None = None,
                       **kwargs: Any) -> nn.Module:
    """``timm.models.build_model_with_cfg`` with strict loading and a local-file option.

    ``pretrained_file`` points timm at a local checkpoint (``pretrained_cfg_overlay=dict(file=...)``),
    so users without a network get the same loading path as those with one.
    """
    if pretrained_file is not None:
        if not os.path.isfile(pretrained_file):
            raise PretrainedWeightsError(f"pretrained_file {pretrained_file!r} does not exist")
        overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {}, file=str(pretrained_file))
        kwargs["pretrained_cfg_overlay"] = overlay
        pretrained = True
    wants = pretrained or bool(kwargs.get("backbone_pretrained"))
    return guarded(variant, wants, lambda: build_model_with_cfg(cls, variant, pretrained, pretrained_strict=True, **kwargs))
