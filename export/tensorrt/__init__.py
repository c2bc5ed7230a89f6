"""TensorRT 10: check an ONNX graph against the parser's operator table offline, and build engines where TensorRT is.

The package, split by job:

* ``operators``: the table parsed into rules; ``graph``: what checks read from a graph; ``checks``: one function
  per restriction kind in one explicit table, and :func:`check_onnx_for_tensorrt`; ``qdq``: explicit-quantization
  checks; ``engine``: engine builds, engine manifests and ``edge-sdk build-engine``.
* :func:`check_onnx_for_tensorrt` needs only ``onnx``. It reads the operator support matrix of TensorRT
  10's ONNX parser (a CSV: ``operator,supported,types,restrictions``, see
  ``shared/fixtures/README.md``) with :func:`load_operator_table`, turns every restriction sentence it
  can into a check on the graph (attributes, constant-ness of inputs, ranks, static dims, opset-dependent
  inputs, tensor dtypes after shape inference), and for Q/DQ graphs checks what TensorRT's explicit
  quantization needs (int8, zero points 0, positive scales, per-channel scales only on weights). A
  sentence it cannot check is reported as "restriction not checked automatically" for every op of the
  model it concerns: nothing is passed silently.
* :func:`build_engine` needs the ``tensorrt`` package (TensorRT 10 Python API) and an NVIDIA GPU.

The table is data the caller passes in (its path), never a copy kept in this package.
"""

from __future__ import annotations

import os
from pathlib import Path

from .checks import UNCHECKED, check_onnx_for_tensorrt, format_report
from .engine import (DEFAULT_BATCHES, TensorRTBuildError, build_engine, main_build_engine, tensorrt_version,
                     write_engine_manifest)
from .operators import OpRule, Restriction, load_operator_table
from .qdq import QDQ_OPS


def _checks(path: Path, target, opts) -> dict:
    from ..exporter import _log

    int8 = target.calibration
    out = {"builder_flags": ["FP16"] + (["INT8"] if int8 else []), "version": tensorrt_version()}
    table = opts.trt_ops_table or os.environ.get("EDGE_SDK_TRT_OPS")
    if table:
        report = check_onnx_for_tensorrt(path, table)
        out["operator_check"] = {"ok": report["ok"], "table": str(table), "offenders": report["offenders"]}
        if not report["ok"]:
            _log(f"TensorRT operator check found offenders:\n{format_report(report)}")
    else:
        out["operator_check"] = "not run: no operator table (give --trt-ops-table or $EDGE_SDK_TRT_OPS)"
    if out["version"] is not None:
        engine = path.with_suffix(".engine")
        out["engine"] = build_engine(path, engine, fp16=True, int8=int8)
    return out


def build(prep, path: Path, target, opts, ctx: dict) -> dict:
    """The ``tensorrt-*`` rows: the float ONNX (fp16 is a builder flag), or int8 as explicit symmetric Q/DQ with
    float biases; checked against the operator table; where TensorRT is installed, the engine is built too and
    gets its own manifest (``runtime_artifact``: what bench measures)."""
    from ..onnx import build as onnx_build

    result = onnx_build(prep, path, target, opts, ctx)  # the row's options: symmetric int8, float biases
    result["tensorrt"] = _checks(path, target, opts)
    engine = result["tensorrt"].get("engine")
    if engine:
        result["post_manifest"] = lambda: write_engine_manifest(path, engine["engine"], engine)
        result["runtime_artifact"] = engine["engine"]
    return result


__all__ = ["OpRule", "Restriction", "TensorRTBuildError", "load_operator_table", "check_onnx_for_tensorrt",
           "format_report", "build_engine", "write_engine_manifest", "tensorrt_version", "main_build_engine",
           "DEFAULT_BATCHES", "UNCHECKED", "QDQ_OPS", "build"]
