"""RepViT students (timm), with a one-logit head and timm's DeiT-style distillation head.

Each student has its own timm name, ``<timm name>_student`` (``repvit_m0_9_student``), so that
``timm.create_model("repvit_m0_9_student")`` is the one-logit student and ``timm.create_model("repvit_m0_9")``
stays timm's 1000-class ImageNet model. ``pretrained=True`` starts from timm's ImageNet weights (tags
``dist_300e_in1k`` / ``dist_450e_in1k``, network needed) with a new one-logit head.

timm's RepViT keeps two classifiers, ``head`` and ``head_dist``: in training with
``set_distilled_training(True)`` it returns both logits (one for the label, one for the teacher);
in eval it returns their mean. :func:`reparameterize` folds BatchNorms and the RepVGG branches
for deployment (``fuse()``), changing outputs by ~1e-7.
"""

from __future__ import annotations

import copy

import timm.models.repvit
import torch.nn as nn
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


def _entrypoint(name: str, base: str):
    def build(pretrained: bool = False, **kwargs):
        kwargs.setdefault("num_classes", 1)  # timm drops the 1000-class head of the ImageNet weights
        kwargs.setdefault("distillation", True)
        model = getattr(timm.models.repvit, base)(pretrained=pretrained, **kwargs)
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
