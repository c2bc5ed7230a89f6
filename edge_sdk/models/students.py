"""RepViT students (timm), with a one-logit head and timm's DeiT-style distillation head.

timm's RepViT keeps two classifiers, ``head`` and ``head_dist``: in training with
``set_distilled_training(True)`` it returns both logits (one for the label, one for the teacher);
in eval it returns their mean. :func:`reparameterize` folds BatchNorms and the RepVGG branches
for deployment (``fuse()``), changing outputs by ~1e-7.
"""

from __future__ import annotations

import copy

import torch.nn as nn
from timm.utils.model import reparameterize_model

from ..card import Card, ExplainLayer, Licence
from ._registry import register_card

STUDENTS = ("repvit_m0_9", "repvit_m1_0", "repvit_m1_1", "repvit_m1_5", "repvit_m2_3")


def reparameterize(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Deployment form of any zoo model: ``fuse()``/``reparameterize()`` on every module that has one.

    Models with nothing to fold (MS-Eff-GCViT, the CLIP teacher) come back unchanged, in eval mode.
    """
    model = model if inplace else copy.deepcopy(model)
    return reparameterize_model(model.eval(), inplace=True)


for _name in STUDENTS:
    register_card(Card(
        name=_name, family="repvit", role="student", size=224, fixed_size=False,
        summary=f"timm's {_name} with a one-logit head and its DeiT-style distillation head (RepViT, THU-MIG)",
        licence=Licence(code="Apache-2.0 (THU-MIG/RepViT; timm's implementation)",
                        weights={"dist_300e_in1k": "Apache-2.0 (timm's ImageNet weights; the one-logit head is new)"}),
        crop={"margin": 0.2, "resize": "pad", "pad_value": 0},
        explain={"last": ExplainLayer("stages.3", "nchw", "gradcam")}, defaults={"distillation": True},
        reference="timm 1.0 RepViT; reparameterize() folds BatchNorm and RepVGG branches (< 1e-5 change)"))
