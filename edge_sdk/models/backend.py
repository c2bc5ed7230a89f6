"""The PyTorch reference backend: a checkpoint with its manifest, run eagerly (the ``torch`` row of the table)."""

from __future__ import annotations

import numpy as np
import torch

from ..backends.base import Backend


class TorchBackend(Backend):
    name = "torch"
    # eager attention holds its whole score matrix: M2TR's fusion block is 6,400 x 6,400 floats (164 MB) per face and
    # block, so the 120-input parity batch of bench was killed for memory in one call
    max_batch = 8

    def __init__(self, path, manifest, model=None):
        super().__init__(path, manifest)
        if model is None:
            from .loader import load

            model = load(manifest["model"]["name"], weights=str(self.path),
                         kwargs=dict(manifest["model"].get("kwargs") or {})).model
        self.model = model.eval()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.from_numpy(batch)).numpy()
