"""TensorRT: a serialized engine through the TensorRT Python API (Jetson, NVIDIA GPUs)."""

from __future__ import annotations

import numpy as np

from ..errors import EdgeSDKError
from .base import Backend, require


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, path, manifest):
        super().__init__(path, manifest)
        trt = require("tensorrt", "running .engine artifacts", extra="tensorrt")
        self._torch = require("torch", "TensorRT buffers (CUDA tensors)", extra="train")
        if not self._torch.cuda.is_available():
            raise EdgeSDKError(f"{self.path}: TensorRT engines need an NVIDIA GPU with CUDA; none is visible")
        built = (manifest.get("versions") or {}).get("tensorrt")
        if built and built != trt.__version__:
            raise EdgeSDKError(f"{self.path} was built with TensorRT {built}, this machine has {trt.__version__}: "
                               "engines are tied to the TensorRT version and GPU; rebuild it here with "
                               "`edge-sdk export --target tensorrt` from the ONNX file")
        logger = trt.Logger(trt.Logger.WARNING)
        engine = trt.Runtime(logger).deserialize_cuda_engine(self.path.read_bytes())
        if engine is None:
            raise EdgeSDKError(f"{self.path}: TensorRT could not deserialize the engine (version or GPU mismatch)")
        self.engine, self.context = engine, engine.create_execution_context()
        self.names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]

    @property
    def device(self) -> str:
        return f"cuda:{self._torch.cuda.current_device()}"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(batch).cuda()
        inp, out = self.names[0], self.names[-1]
        self.context.set_input_shape(inp, tuple(x.shape))
        y = torch.empty(tuple(self.context.get_tensor_shape(out)), dtype=torch.float32, device="cuda")
        self.context.set_tensor_address(inp, x.data_ptr())
        self.context.set_tensor_address(out, y.data_ptr())
        stream = torch.cuda.current_stream()
        self.context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return y.cpu().numpy()
