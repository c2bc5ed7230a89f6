"""Core ML: ``.mlpackage`` through coremltools; prediction needs macOS."""

from __future__ import annotations

import platform

import numpy as np

from ..errors import EdgeSDKError
from .base import Backend, require


class CoreMLBackend(Backend):
    name = "coreml"

    def __init__(self, path, manifest, compute_units: str = "ALL"):
        super().__init__(path, manifest)
        ct = require("coremltools", "running .mlpackage artifacts", extra="export")
        if platform.system() != "Darwin":
            raise EdgeSDKError(f"{self.path}: Core ML models predict only on macOS/iOS (this is {platform.system()}); "
                               "use the ONNX or ExecuTorch artifact here")
        self.model = ct.models.MLModel(str(self.path), compute_units=getattr(ct.ComputeUnit, compute_units))
        self.input_name = manifest["input"]["name"]
        self.output_name = manifest["output"]["name"]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict({self.input_name: batch})[self.output_name])
