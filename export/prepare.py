"""What every target starts from: the model in deployable form, its crop spec and an example input.

Eval mode, dropout and drop-path replaced by identities, RepViT branches folded
(``reparameterize``), and optionally the normalisation baked into the graph so the artifact takes
0-1 RGB (recorded in the crop spec as ``normalize_in_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from edge_sdk.preprocess import CropSpec


class Normalized(nn.Module):
    """``model((x - mean) / std)`` for a 0-1 RGB input: the normalisation inside the exported graph."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


@dataclass
class Prepared:
    name: str
    module: nn.Module  # what gets exported, and the reference it is checked against: eval, reparameterized
    crop: CropSpec
    checkpoint: str | None

    def example(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, 3, self.crop.size, self.crop.size)


def _strip_training_only(model: nn.Module) -> nn.Module:
    """Dropout and drop-path become identities (they already are in eval; this makes the graph say so)."""
    for name, child in list(model.named_children()):
        kind = type(child).__name__
        if isinstance(child, nn.Dropout) or kind in ("DropPath", "Dropout"):
            setattr(model, name, nn.Identity())
        else:
            _strip_training_only(child)
    return model


def prepare(model: str | nn.Module, weights: str | Path | None = None, normalize_in_model: bool = False,
            name: str | None = None) -> Prepared:
    """A zoo name (random init, or ``weights``: a checkpoint for it) or a module -> :class:`Prepared`."""
    from edge_sdk.models import create_model, load_checkpoint, reparameterize

    if isinstance(model, str):
        name = name or model
        net = create_model(model)
        if weights is not None:
            load_checkpoint(net, str(weights))
    else:
        net, name = model, name or type(model).__name__
    net = _strip_training_only(reparameterize(net.eval())).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    cfg = getattr(net, "pretrained_cfg", None) or {"input_size": (3, 224, 224), "mean": (0.485, 0.456, 0.406),
                                                   "std": (0.229, 0.224, 0.225)}
    crop = CropSpec.for_model(cfg)
    if normalize_in_model:
        net = Normalized(net, crop.mean, crop.std).eval()
        crop = replace(crop, normalize_in_model=True)
    return Prepared(name=name, module=net, crop=crop, checkpoint=str(weights) if weights else None)
