"""What every target starts from: the model in deployable form, its card, crop spec and an example input.

The model comes from the one checkpoint loader (:func:`edge_sdk.models.load`), so a model trained at another
size or with ``model_kwargs`` is exported as it was trained. Eval mode, dropout and drop-path replaced by
identities, RepViT branches folded (``reparameterize``), and optionally the normalisation baked into the graph
so the artifact takes 0-1 RGB (recorded in the crop spec as ``normalize_in_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from edge_sdk.card import Card
from edge_sdk.models import Loaded
from edge_sdk.preprocess import CropSpec


class Normalized(nn.Module):
    """``model((x - mean) / std)`` for a 0-1 RGB input: the normalisation inside the exported graph."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:  # a clip: (N, T, 3, H, W)
            return self.model((x - self.mean.unsqueeze(1)) / self.std.unsqueeze(1))
        return self.model((x - self.mean) / self.std)


@dataclass
class Prepared:
    name: str
    module: nn.Module  # what gets exported, and the reference it is checked against: eval, reparameterized
    crop: CropSpec
    loaded: Loaded

    @property
    def card(self) -> Card:
        return self.loaded.card

    @property
    def checkpoint(self) -> str | None:
        return self.loaded.checkpoint

    def signature(self) -> dict:
        return self.loaded.signature()

    def input_shape(self, batch="batch") -> list:
        return [batch, *self.signature()["shape"]]

    def example(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, *self.signature()["shape"])


def _strip_training_only(model: nn.Module) -> nn.Module:
    """Dropout and drop-path become identities (they already are in eval; this makes the graph say so)."""
    for name, child in list(model.named_children()):
        kind = type(child).__name__
        if isinstance(child, nn.Dropout) or kind in ("DropPath", "Dropout"):
            setattr(model, name, nn.Identity())
        else:
            _strip_training_only(child)
    return model


def prepare(model: str | nn.Module | Loaded, weights: str | Path | None = None, normalize_in_model: bool = False,
            name: str | None = None) -> Prepared:
    """A zoo name (random init, or ``weights``), a checkpoint, a :class:`Loaded` or a module -> :class:`Prepared`."""
    from edge_sdk.models import load, reparameterize

    loaded = model if isinstance(model, Loaded) else load(model, weights=weights)
    name = name or loaded.name
    net = _strip_training_only(reparameterize(loaded.model.eval())).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    crop = loaded.crop
    if normalize_in_model:
        net = Normalized(net, crop.mean, crop.std).eval()
        crop = replace(crop, normalize_in_model=True)
    return Prepared(name=name, module=net, crop=crop, loaded=loaded)
