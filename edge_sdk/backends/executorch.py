"""ExecuTorch: ``.pte`` programs through ``executorch.runtime`` (XNNPACK kernels on CPU)."""

from __future__ import annotations

import numpy as np

from .base import Backend, require


class ExecuTorchBackend(Backend):
    name = "executorch"

    def __init__(self, path, manifest):
        super().__init__(path, manifest)
        rt = require("executorch.runtime", "running .pte artifacts", package="executorch", extra="export")
        self._torch = require("torch", "ExecuTorch's Python runtime", extra="train")
        self.program = rt.Runtime.get().load_program(str(self.path))
        self.method = self.program.load_method("forward")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = self.method.execute([self._torch.from_numpy(batch)])
        return out[0].detach().numpy()
