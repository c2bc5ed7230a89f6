"""The PyTorch reference: a checkpoint plus the model name recorded in its manifest."""

from __future__ import annotations

import numpy as np

from .base import Backend, require


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, path, manifest, model=None):
        super().__init__(path, manifest)
        torch = require("torch", "the torch reference backend", extra="train")
        self._torch = torch
        if model is None:
            from ..models import create_model, load_checkpoint

            model = create_model(manifest["model"]["name"])
            load_checkpoint(model, str(self.path))
        self.model = model.eval()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            return self.model(self._torch.from_numpy(batch)).numpy()
