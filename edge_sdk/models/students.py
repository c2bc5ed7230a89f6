"""RepViT students (timm), with a one-logit head and timm's DeiT-style distillation head.

Each student has its own timm name, ``<timm name>_student`` (``repvit_m0_9_student``), so that
``timm.create_model("repvit_m0_9_student")`` is the one-logit student and ``timm.create_model("repvit_m0_9")``
stays timm's 1000-class ImageNet model. ``pretrained=True`` starts from timm's ImageNet weights (tags
``dist_300e_in1k`` / ``dist_450e_in1k``, network needed) with a new one-logit head.

timm's RepViT keeps two classifiers, ``head`` and ``head_dist``: in training with
``set_distilled_training(True)`` it returns both logits (one for the label, one for the teacher);
in eval it returns their mean. :func:`reparameterize` folds BatchNorms and the RepVGG branches
for deployment (``fuse()``), changing outputs by ~1e-7.

``freq_branch=SIZE`` (input side in pixels, e.g. 224) adds M2TR's frequency block after the stem (stride 4): the
learnable global filter in its exportable DFT form after ``reparameterize`` and a dilated-conv feed forward, as a
residual (``stem.freq``; the other keys stay timm's, so ImageNet weights still load).
"""

from __future__ import annotations

import copy

import timm.models.repvit
import torch
import torch.nn as nn
from timm.models.repvit import RepVitStem
from timm.models import generate_default_cfgs, get_pretrained_cfg, register_model
from timm.utils.model import reparameterize_model

from ..card import Card, ExplainLayer, Licence
from ._registry import register_card

SUFFIX = "_student"
TIMM_REPVIT = ("repvit_m0_9", "repvit_m1_0", "repvit_m1_1", "repvit_m1_5", "repvit_m2_3")
STUDENTS = tuple(f"{base}{SUFFIX}" for base in TIMM_REPVIT)
TAGS = ("dist_300e_in1k", "dist_450e_in1k")


def reparameterize(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Deployment form of any zoo model: ``fuse()``/``reparameterize()`` on every module that has one.

    Models with nothing to fold (MS-Eff-GCViT, the CLIP teacher) come back unchanged, in eval mode.
    """
    model = model if inplace else copy.deepcopy(model)
    return reparameterize_model(model.eval(), inplace=True)


class FrequencyStem(RepVitStem):
    """timm's RepViT stem, then M2TR's frequency block (``freq``: x + feed_forward(filter(x)))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.freq(super().forward(x))


def add_frequency_branch(model: nn.Module, size: int) -> nn.Module:
    """Give a timm RepViT the frequency block after its stem, for ``size`` px inputs (its filter fixes the size)."""
    from .m2tr import FreqBlock

    if size % model.stem.stride:
        raise ValueError(f"freq_branch={size}: the input side must be a multiple of the stem's stride "
                         f"{model.stem.stride}")
    grid = size // model.stem.stride
    model.stem.freq = FreqBlock(model.stem.conv2.c.out_channels, grid, grid)
    model.stem.__class__ = FrequencyStem  # same parameters and names as timm's stem, plus ``freq``
    # the filter fixes the input size: training (pretrained_cfg) and the loader (img_size) read it
    model.img_size = size
    model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, size, size), "fixed_input_size": True}
    model.default_cfg = model.pretrained_cfg
    return model


def _entrypoint(name: str, base: str):
    def build(pretrained: bool = False, freq_branch: int = 0, **kwargs):
        kwargs.setdefault("num_classes", 1)  # timm drops the 1000-class head of the ImageNet weights
        kwargs.setdefault("distillation", True)
        model = getattr(timm.models.repvit, base)(pretrained=pretrained, **kwargs)
        if freq_branch:
            add_frequency_branch(model, int(freq_branch))
        # the module names the student, not timm's ImageNet model (what load, explain and manifests read)
        model.pretrained_cfg = {**model.pretrained_cfg, "architecture": name}
        model.default_cfg = model.pretrained_cfg
        return model

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"timm's {base} as a one-logit deepfake student (distillation head on)."
    return build


def _cfgs() -> dict:
    out = {}
    for base in TIMM_REPVIT:
        for tag in TAGS:
            cfg = get_pretrained_cfg(f"{base}.{tag}")
            if cfg is not None:
                out[f"{base}{SUFFIX}.{tag}"] = {**cfg.to_dict(), "architecture": f"{base}{SUFFIX}",
                                                "hf_hub_id": f"timm/{base}.{tag}"}
    return out


default_cfgs = generate_default_cfgs(_cfgs())
for _base, _name in zip(TIMM_REPVIT, STUDENTS):
    globals()[_name] = register_model(_entrypoint(_name, _base))

for _base, _name in zip(TIMM_REPVIT, STUDENTS):
    register_card(Card(
        name=_name, family="repvit", role="student", size=224, fixed_size=False,
        summary=f"timm's {_base} with a one-logit head and its DeiT-style distillation head (RepViT, THU-MIG)",
        licence=Licence(code="Apache-2.0 (THU-MIG/RepViT; timm's implementation)",
                        weights={"dist_300e_in1k": "Apache-2.0 (timm's ImageNet weights; the one-logit head is new)"}),
        crop={"margin": 0.2, "resize": "pad", "pad_value": 0},
        explain={"last": ExplainLayer("stages.3", "nchw", "gradcam")}, defaults={"distillation": True},
        reference="timm 1.0 RepViT; reparameterize() folds BatchNorm and RepVGG branches (< 1e-5 change)"))
