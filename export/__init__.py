"""torch -> deployable artifacts (ONNX today; ExecuTorch, Core ML and TensorRT build on it)."""

from .onnx import export_onnx, max_tensor_rank

__all__ = ["export_onnx", "max_tensor_rank"]
