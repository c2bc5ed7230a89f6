"""OpenVINO: an IR folder (``<name>.openvino/model.xml`` + ``model.bin``) compiled for a device plugin (CPU here;
``GPU``, ``NPU`` or ``AUTO`` on Intel hardware)."""

from __future__ import annotations

import numpy as np

from ..errors import EdgeSDKError
from .base import Backend, require


class OpenVINOBackend(Backend):
    name = "openvino"

    def __init__(self, path, manifest, device: str = "CPU", threads: int | None = None):
        super().__init__(path, manifest)
        ov = require("openvino", "running OpenVINO artifacts", extra="openvino")
        xml = self.path / "model.xml" if self.path.is_dir() else self.path
        config = {"INFERENCE_NUM_THREADS": int(threads)} if threads else {}
        if device.upper().startswith("CPU"):
            config["INFERENCE_PRECISION_HINT"] = "f32"  # fp16 IR computes in fp32 on CPU, as PyTorch does
        try:
            core = ov.Core()
            self.compiled = core.compile_model(str(xml), device, config)
        except Exception as err:  # a missing plugin, a broken IR: one line naming the file and the device
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise EdgeSDKError(f"{self.path}: OpenVINO {ov.__version__} could not compile it for {device} "
                               f"({type(err).__name__}: {first})") from None
        self._device = device
        self.request = self.compiled.create_infer_request()

    @property
    def device(self) -> str:
        return self._device

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.request.infer({0: batch})[self.compiled.output(0)]
