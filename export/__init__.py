"""torch -> deployable artifacts, one exporter per format of the target table (:mod:`edge_sdk.targets`): ONNX
(fp32/fp16/int8), ExecuTorch (XNNPACK fp32/int8, Core ML delegate), Core ML (fp16/fp32, int8 weights, palettized,
W8A8) and TensorRT-ready ONNX, each with a manifest and parity.

Names are imported on first use, so ``import edge_sdk.export.config`` (the CLI's options) needs no torch.
"""

from __future__ import annotations

import importlib

_NAMES = {"ExportConfig": "config", "export": "exporter", "formats_for": "exporter", "to_markdown": "exporter",
          "export_onnx": "onnx", "max_tensor_rank": "onnx", "compare": "verify", "verify": "verify"}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
