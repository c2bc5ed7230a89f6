"""ONNX Runtime: CPU everywhere; TensorRT and CUDA execution providers first where present."""

from __future__ import annotations

import numpy as np

from ..errors import EdgeSDKError
from .base import Backend, require


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path, manifest, providers: list[str] | None = None, threads: int | None = None):
        super().__init__(path, manifest)
        ort = require("onnxruntime", "running .onnx artifacts", extra="runtime")
        available = ort.get_available_providers()
        wanted = providers or ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
        self.providers = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=self.providers)
        except Exception as err:  # InvalidProtobuf, InvalidGraph, a missing op...: one line naming the file
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise EdgeSDKError(f"{self.path}: not a valid ONNX model for ONNX Runtime {ort.__version__} "
                               f"({type(err).__name__}: {first})") from None
        self.input_name = self.session.get_inputs()[0].name

    @property
    def device(self) -> str:
        return ",".join(self.session.get_providers())

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
