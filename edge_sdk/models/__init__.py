"""Model zoo, registered with timm: ``import edge_sdk.models`` then ``timm.create_model(NAME)``.

* ``ms_eff_gcvit_b0`` / ``ms_eff_gcvit_b5``: MS-Eff-GCViT (DeepGuard), image teacher and student.
* ``repvit_m0_9_student`` / ``repvit_m1_1_student`` (timm's own): students, one logit, distillation head on.
* ``m2tr_b4`` / ``m2tr_b0``: M2TR (seed 003): patch attention, a frequency filter that exports (exact DFT
  matrix products) and RGB-frequency cross attention on an EfficientNet.
* ``clip_fcg_vit_b16`` / ``clip_fcg_vit_l14``: frozen-CLIP video teacher (DFD-FCG style).
* ``megatron_rgbd``: Megatron (seed 002): Depth Anything depth + RGB embedded by a frozen RepViT, temporal
  RGB-depth cross-attention over a clip; frames without a face are masked.
* ``vit_b16_hf_deepfake``: the Hugging Face ViT-B/16 real/fake detectors (seed 001); a ``save_pretrained`` folder
  loads directly (``load("folder")``), tags ``.prithivmlmods`` / ``.celebdfv2`` fetch the published ones.

Each has a card (:func:`card`); :func:`load` is the one way a checkpoint, a zoo name or an exported artifact
becomes a model.
"""

from __future__ import annotations

import timm

from . import clip_fcg, m2tr, megatron, ms_eff_gcvit, students, vit_hf  # noqa: F401  (register the models and their cards)
from ._pretrained import guarded
from ._registry import CARDS, card_for, resolve_name, zoo
from .clip_fcg import ClipFCG
from .convert import load_deepguard_checkpoint, load_strict, read_state_dict
from .loader import Loaded, load, read_checkpoint
from .ms_eff_gcvit import MultiScaleEffGCViT
from .students import STUDENTS, reparameterize

__all__ = ["CARDS", "STUDENTS", "MultiScaleEffGCViT", "ClipFCG", "Loaded", "card", "create_model", "load",
           "load_checkpoint", "load_deepguard_checkpoint", "load_strict", "read_checkpoint", "read_state_dict",
           "reparameterize", "zoo"]


def card(name: str):
    """The card of a zoo model (or one made from a timm model's pretrained_cfg)."""
    return card_for(resolve_name(name))


def create_model(name: str, pretrained: bool = False, checkpoint: str | None = None, **kwargs):
    """Any detector of the zoo (or any timm classifier) with one logit.

    ``pretrained=True`` uses timm's weight loading (network needed); ``checkpoint`` loads a local
    state dict strictly after building. The card's defaults apply (RepViT keeps timm's distillation head).
    """
    name = resolve_name(name)
    kwargs.setdefault("num_classes", 1)
    for k, v in card_for(name).defaults.items():
        kwargs.setdefault(k, v)
    model = guarded(name, pretrained, lambda: timm.create_model(name, pretrained=pretrained, **kwargs))
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def load_checkpoint(model, source):
    """Strictly load an edge_sdk or DeepGuard checkpoint (file or state dict) into ``model``."""
    label = source if isinstance(source, str) else "state dict"
    return load_strict(model, read_state_dict(source), source=f"checkpoint {label!r}")
