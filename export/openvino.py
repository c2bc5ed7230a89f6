"""The ``openvino-*`` rows: OpenVINO IR (``<name>.openvino/model.xml`` + ``model.bin``) for Intel CPUs, GPUs and NPUs.

fp32 and fp16 are the float ONNX that every ONNX-based target starts from, read by ``openvino.convert_model``
(fp16: ``save_model(compress_to_fp16=True)``, weights in fp16, computed at the device's own precision). int8 is
NNCF's post-training quantization of that model on the calibration crops (each face crop with its hard variants),
with NNCF's transformer model type where the graph multiplies two activations (attention).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def _has_attention(onnx_path: Path) -> bool:
    """A MatMul whose two inputs are both computed (not weights): attention, which NNCF quantizes differently."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer} | {n.output[0] for n in graph.node if n.op_type == "Constant"}
    return any(n.op_type == "MatMul" and not (set(n.input) & weights) for n in graph.node)


def build(prep, path: Path, target, opts, ctx: dict) -> dict:
    import openvino as ov

    from edge_sdk.fileio import atomic_path

    from .onnx import float_onnx

    src, steps, info = float_onnx(prep, opts, ctx)
    t = time.perf_counter()
    model = ov.convert_model(str(src))
    steps["convert_s"] = round(time.perf_counter() - t, 2)
    if target.calibration:
        import logging

        from edge_sdk.backends.base import require

        nncf = require("nncf", "OpenVINO int8 export", extra="export")
        nncf.set_log_level(logging.ERROR)  # its progress bars and notes are not the SDK's lines
        t = time.perf_counter()
        attention = _has_attention(src)
        calib = [b for b in ctx["calib"].batches(1)]
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            model = nncf.quantize(model, nncf.Dataset(calib), subset_size=len(calib),  # (rich progress bars)
                                  model_type=nncf.ModelType.TRANSFORMER if attention else None)
        steps["quantize_s"] = round(time.perf_counter() - t, 2)
        info["quantization"] = {"tool": f"nncf {nncf.__version__}", "method": "post-training (quantize)",
                                "calibration_inputs": len(calib), "model_type": "transformer" if attention else "default"}
    fp16 = target.options.get("compress_to_fp16", False)
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=fp16)
    info["openvino"] = {"version": ov.__version__, "compress_to_fp16": fp16}
    return {"steps": steps, **info}
