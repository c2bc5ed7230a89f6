"""ExecuTorch: ``.pte`` programs through ``executorch.runtime`` (XNNPACK kernels on CPU)."""

from __future__ import annotations

import numpy as np

from ..errors import EdgeSDKError
from .base import Backend, require


class ExecuTorchBackend(Backend):
    name = "executorch"

    def __init__(self, path, manifest):
        super().__init__(path, manifest)
        rt = require("executorch.runtime", "running .pte artifacts", package="executorch", extra="export")
        self._torch = require("torch", "ExecuTorch's Python runtime", extra="train")
        try:
            self.program = rt.Runtime.get().load_program(str(self.path))
            self.method = self.program.load_method("forward")
        except Exception as err:  # a corrupt program, or an operator this runtime lacks (found at load time)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise EdgeSDKError(f"{self.path}: ExecuTorch could not load this program ({type(err).__name__}: "
                               f"{first})") from None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        # the runtime reads an input's bytes in the program's dim order without checking the tensor's strides
        # (pytorch/executorch#21837): always hand it a C-contiguous (NCHW) tensor
        out = self.method.execute([self._torch.from_numpy(np.ascontiguousarray(batch))])
        return out[0].detach().numpy()
