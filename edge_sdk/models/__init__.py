"""Model zoo, registered with timm: ``import edge_sdk.models`` then ``timm.create_model(NAME)``.

* ``ms_eff_gcvit_b0`` / ``ms_eff_gcvit_b5``: MS-Eff-GCViT (DeepGuard), image teacher and student.
* ``repvit_m0_9`` / ``repvit_m1_1`` (timm's own): students, one logit, distillation head on.
* ``clip_fcg_vit_b16`` / ``clip_fcg_vit_l14``: frozen-CLIP video teacher (DFD-FCG style).
"""

from __future__ import annotations

import timm

from ..errors import InputError
from . import clip_fcg, ms_eff_gcvit  # noqa: F401  (register the models)
from ._pretrained import guarded
from .clip_fcg import ClipFCG
from .convert import load_deepguard_checkpoint, load_strict, read_state_dict
from .ms_eff_gcvit import MultiScaleEffGCViT
from .students import STUDENTS, reparameterize

ZOO = ("ms_eff_gcvit_b0", "ms_eff_gcvit_b5", "repvit_m0_9", "repvit_m1_1", "clip_fcg_vit_b16", "clip_fcg_vit_l14")
VIDEO_MODELS = ("clip_fcg_vit_b16", "clip_fcg_vit_l14")

__all__ = ["ZOO", "VIDEO_MODELS", "STUDENTS", "MultiScaleEffGCViT", "ClipFCG", "create_model", "load_checkpoint",
           "load_deepguard_checkpoint", "load_strict", "read_state_dict", "reparameterize"]


def create_model(name: str, pretrained: bool = False, checkpoint: str | None = None, **kwargs):
    """Any detector of the zoo (or any timm classifier) with one logit.

    ``pretrained=True`` uses timm's weight loading (network needed); ``checkpoint`` loads a local
    state dict strictly after building. RepViT students keep timm's distillation head.
    """
    base = name.split(".")[0]
    if base not in timm.list_models(base):
        raise InputError(f"unknown model {name!r}: choose one of {', '.join(ZOO)} or any timm model name")
    kwargs.setdefault("num_classes", 1)
    if base in STUDENTS:
        kwargs.setdefault("distillation", True)
    model = guarded(name, pretrained, lambda: timm.create_model(name, pretrained=pretrained, **kwargs))
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def load_checkpoint(model, source):
    """Strictly load an edge_sdk or DeepGuard checkpoint (file or state dict) into ``model``."""
    label = source if isinstance(source, str) else "state dict"
    return load_strict(model, read_state_dict(source), source=f"checkpoint {label!r}")
