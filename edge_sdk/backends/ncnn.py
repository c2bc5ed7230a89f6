"""NCNN: a ``<name>.ncnn`` folder (``model.param`` + ``model.bin``) through the ``ncnn`` Python package.

NCNN turns on fp16 storage and arithmetic by default where the CPU has them (ARMv8.2 phones), which would put an
fp32 artifact off its PyTorch logits there; they stay on only for artifacts whose weights were stored in fp16.
"""

from __future__ import annotations

import numpy as np

from ..errors import EdgeSDKError
from .base import Backend, require


class NCNNBackend(Backend):
    name = "ncnn"

    def __init__(self, path, manifest, threads: int | None = None):
        super().__init__(path, manifest)
        self._ncnn = ncnn = require("ncnn", "running .ncnn artifacts", extra="ncnn")
        half = bool(manifest.get("export", {}).get("ncnn", {}).get("half_weights"))
        self.net = ncnn.Net()
        for flag in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic"):
            setattr(self.net.opt, flag, half and getattr(self.net.opt, flag))
        if threads:
            self.net.opt.num_threads = int(threads)
        folder = self.path
        for part, load in (("model.param", self.net.load_param), ("model.bin", self.net.load_model)):
            if not (folder / part).is_file() or load(str(folder / part)) != 0:
                raise EdgeSDKError(f"{self.path}: NCNN could not load its {part} (missing, truncated or written by "
                                   "another NCNN version)")
        ins, outs = self.net.input_names(), self.net.output_names()
        if len(ins) != 1 or not outs:
            raise EdgeSDKError(f"{self.path}: NCNN graph has inputs {ins} and outputs {outs}; one input is expected")
        self._in, self._out = ins[0], outs[0]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for x in batch:  # NCNN's Mat is one image (C, H, W)
            with self.net.create_extractor() as ex:
                ex.input(self._in, self._ncnn.Mat(np.ascontiguousarray(x)))
                ret, y = ex.extract(self._out)
            if ret != 0:
                raise EdgeSDKError(f"{self.path}: NCNN could not compute {self._out} (error {ret})")
            out.append(np.array(y, np.float32).reshape(-1))
        return np.stack(out)

    def close(self) -> None:
        self.net.clear()
