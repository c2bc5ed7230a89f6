"""torch -> deployable artifacts: ONNX (fp32/fp16/int8), ExecuTorch (XNNPACK fp32/int8, Core ML delegate),
Core ML (fp16/fp32, int8 weights, palettized, W8A8) and TensorRT-ready ONNX, each with a manifest and parity."""

from .exporter import FORMATS, ExportOptions, export, formats_for, to_markdown
from .onnx import export_onnx, max_tensor_rank
from .verify import compare, verify

__all__ = ["FORMATS", "ExportOptions", "export", "formats_for", "to_markdown", "export_onnx", "max_tensor_rank",
           "compare", "verify"]
