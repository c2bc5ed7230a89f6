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

STUDENTS = ("repvit_m0_9", "repvit_m1_0", "repvit_m1_1", "repvit_m1_5", "repvit_m2_3")


def reparameterize(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Deployment form of any zoo model: ``fuse()``/``reparameterize()`` on every module that has one.

    Models with nothing to fold (MS-Eff-GCViT, the CLIP teacher) come back unchanged, in eval mode.
    """
    model = model if inplace else copy.deepcopy(model)
    return reparameterize_model(model.eval(), inplace=True)
