"""LiteRT (TF Lite): ``.tflite`` flatbuffers through ``ai-edge-litert``'s interpreter, XNNPACK on CPU.

An int8 model keeps int8 input and output (how Android's int8 models ship): the crop is quantized with the
input's scale and zero point from the file, and the logit dequantized with the output's, here as in the demo app.
"""

from __future__ import annotations

import numpy as np

from ..errors import EdgeSDKError
from .base import Backend, require


class LiteRTBackend(Backend):
    name = "litert"

    def __init__(self, path, manifest, threads: int | None = None):
        super().__init__(path, manifest)
        lite = require("ai_edge_litert.interpreter", "running .tflite artifacts", package="ai-edge-litert",
                       extra="litert")
        try:
            self.interpreter = lite.Interpreter(model_path=str(self.path), num_threads=threads or None)
            self.interpreter.allocate_tensors()
        except Exception as err:  # not a flatbuffer, or an operator this runtime lacks
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise EdgeSDKError(f"{self.path}: LiteRT could not load it ({type(err).__name__}: {first})") from None
        (self._in,), outs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        self._out = outs[0]
        self.threads = threads

    @staticmethod
    def _quantized(detail) -> tuple[float, int] | None:
        scale, zero = detail["quantization"]
        return (float(scale), int(zero)) if np.dtype(detail["dtype"]) in (np.int8, np.uint8) and scale else None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        x, q = batch, self._quantized(self._in)
        if q is not None:
            info = np.iinfo(self._in["dtype"])
            x = np.clip(np.round(batch / q[0]) + q[1], info.min, info.max).astype(self._in["dtype"])
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        y, q = self.interpreter.get_tensor(self._out["index"]), self._quantized(self._out)
        return y.astype(np.float32) if q is None else (y.astype(np.float32) - q[1]) * q[0]
