"""ONNX export with the torch.export-based exporter, written atomically: fp32, fp16, int8 (QDQ).

:func:`build` is the exporter of the ``onnx-*`` rows of :mod:`edge_sdk.targets`; the TensorRT rows start from the
same float ONNX (:func:`float_onnx`, made once per export run).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from edge_sdk.fileio import atomic_path


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, example: torch.Tensor, opset: int = 18,
                dynamic_batch: bool = False, input_name: str = "input", output_name: str = "logit") -> Path:
    """Export ``model`` (eval mode) for input like ``example`` to a single ONNX file at ``path``.

    The file appears only when the export succeeded: it is written beside ``path`` and renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dynamic = None
    if dynamic_batch:
        dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=256)}}
        if example.shape[0] == 1:  # torch.export specialises a size-1 dimension: trace with two
            example = example.expand(2, *example.shape[1:]).contiguous()
    with atomic_path(path) as tmp:
        torch.onnx.export(model, (example,), str(tmp), opset_version=opset, dynamo=True, external_data=False,
                          input_names=[input_name], output_names=[output_name], dynamic_shapes=dynamic, verbose=False)
    return path


def max_tensor_rank(path: str | os.PathLike) -> tuple[int, str]:
    """The highest rank of any tensor in the graph after shape inference, and one tensor that has it."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    best = (0, "")
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        rank = len(vi.type.tensor_type.shape.dim)
        if rank > best[0]:
            best = (rank, vi.name)
    for init in graph.initializer:
        if len(init.dims) > best[0]:
            best = (len(init.dims), init.name)
    return best


def _save_atomic(model_proto, path: Path) -> Path:
    import onnx

    with atomic_path(path) as tmp:
        onnx.save(model_proto, str(tmp))
    return path


def node_count(path: str | os.PathLike) -> int:
    import onnx

    return len(onnx.load(str(path), load_external_data=False).graph.node)


def simplify(path: str | os.PathLike) -> dict:
    """Simplify in place with onnxslim (constant folding, dead nodes, fusions); node counts before/after."""
    from edge_sdk.backends.base import require

    onnxslim = require("onnxslim", "ONNX graph simplification", extra="export")
    import onnx

    path = Path(path)
    before = node_count(path)
    _save_atomic(onnxslim.slim(onnx.load(str(path))), path)
    return {"tool": f"onnxslim {onnxslim.__version__}", "nodes_before": before, "nodes_after": node_count(path)}


def to_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Weights and compute in fp16, inputs and outputs kept float32 (so the runtime feeds the same tensors)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    converted = OnnxModel(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True))
    converted.topological_sort()  # the converter appends its Casts at the end; the checker wants graph order
    return _save_atomic(converted.model, Path(dst))


CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def matching_nodes(graph, patterns: list[str]) -> list[str]:
    """Names of an ONNX graph's nodes whose name or op type matches any glob pattern (``--keep-float``)."""
    import fnmatch

    return [n.name for n in graph.node if any(fnmatch.fnmatch(n.name, p) or fnmatch.fnmatch(n.op_type, p)
                                              for p in patterns)]


# The card's int8_float kinds as ONNX op types; GELU below opset 20 is torch's erf form, found by kind_nodes
KIND_OPS = {"layer_norm": ("LayerNormalization",), "softmax": ("Softmax",), "gelu": ("Gelu",)}


def kind_nodes(graph, kinds) -> dict[str, list[str]]:
    """Node names of each op kind (``Card.int8_float``) in an ONNX graph: by op type, and GELU also as torch.onnx
    writes it below opset 20, ``x * (0.5 * (1 + erf(x / sqrt 2)))``: Div -> Erf -> Add -> Mul -> Mul."""
    from collections import defaultdict

    producer = {o: n for n in graph.node for o in n.output}
    consumers = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)
    found = {k: [n.name for n in graph.node if n.op_type in KIND_OPS[k]] for k in kinds}
    if "gelu" in kinds:
        for erf in (n for n in graph.node if n.op_type == "Erf"):
            group, cur = [erf], erf
            div = producer.get(erf.input[0])
            if div is not None and div.op_type == "Div":
                group.insert(0, div)
            for op in ("Add", "Mul", "Mul"):
                nxt = [c for c in consumers[cur.output[0]] if c.op_type == op]
                if not nxt:
                    break
                cur = nxt[0]
                group.append(cur)
            found["gelu"] += [n.name for n in group]
    return found


def spectral_nodes(graph) -> list:
    """The MatMuls of a frequency filter's exact DFT: those with an operand among its ``dft_*`` buffers."""
    dft = {i.name for i in graph.initializer if i.name.rpartition(".")[2].startswith("dft_")}
    return [n for n in graph.node if n.op_type == "MatMul" and dft & set(n.input)]


def op_precisions(graph) -> dict:
    """Op types of an ONNX graph that run int8 (a DequantizeLinear gives every input that is not a constant) and
    those left in float, with counts: what the manifest says stayed float."""
    from collections import Counter

    dq = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    consts = {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    out = {"quantized": Counter(), "float": Counter()}
    for n in graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear", "Constant"):
            live = [i for i in n.input if i and i not in consts]
            out["quantized" if live and all(i in dq for i in live) else "float"][n.op_type] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, batches, method: str = "minmax",
                  keep_float: list[str] | None = None, per_channel: bool = True, symmetric: bool = True,
                  quantize_bias: bool = True, float_kinds=()) -> dict:
    """Static int8 quantization with ONNX Runtime: QDQ format, per-channel weights, calibrated on ``batches``.

    ``symmetric`` keeps every zero point at 0 (int8 activations and weights), which TensorRT's explicit
    quantization needs; otherwise activations are uint8 with zero points (U8S8), what ONNX Runtime
    recommends on x86 CPUs (S8S8 ran B0 at 83 ms against 40 ms here). TensorRT also wants float biases
    (``quantize_bias=False``: it takes only int8 into DequantizeLinear). ``keep_float``: glob
    patterns of node names or op types left in float; ``float_kinds``: the card's op kinds kept float
    (``kind_nodes``). Returns what was done (node counts, excluded nodes, which op types run int8 and float).
    """
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edge_sdk.errors import InputError

    if method not in CALIBRATION_METHODS:
        raise InputError(f"calibration method {method!r}: choose one of {', '.join(CALIBRATION_METHODS)}")
    src, dst = Path(src), Path(dst)
    import onnx

    src_graph = onnx.load(str(src), load_external_data=False).graph  # read once: patterns, kinds, input name
    excluded = matching_nodes(src_graph, keep_float or [])
    if keep_float and not excluded:
        raise InputError(f"--keep-float {keep_float}: no node name or op type matches in {src.name}")
    kinds = kind_nodes(src_graph, float_kinds)
    excluded += [n for names in kinds.values() for n in names if n not in excluded]
    # GroupNorm (exported as InstanceNormalization between reshapes) stays float: ONNX Runtime's quantizer gave
    # MS-Eff-GCViT B0 with backbone_norm="group" a duplicate tensor name (an invalid model) when it quantized them
    excluded += [n.name for n in src_graph.node if n.op_type == "InstanceNormalization" and n.name not in excluded]
    # A frequency filter's DFT matrix products (edge_sdk.models.spectral: MatMuls reading its dft_* buffers) stay
    # float: a per-tensor int8 spectrum keeps the large low-frequency bins and rounds away the small high-frequency
    # ones the filter is there to see (a trained tiny M2TR: decision agreement 0.969 quantized, 0.984 kept float)
    spectral = spectral_nodes(src_graph)
    excluded += [n.name for n in spectral if n.name not in excluded]
    # with kinds kept float, only the matmuls' and convs' inputs are quantized, and their outputs left float (NNCF's
    # transformer preset does the same): an excluded op between two quantized tensors would still sit between a
    # DequantizeLinear and a QuantizeLinear, which ONNX Runtime fuses into its int8 kernel (QLinearSoftmax, ...)
    # (with a frequency filter too, so that no Add / Mul / Sub between its DFT products is quantized either)
    op_types = ["Conv", "MatMul", "Gemm"] if float_kinds or spectral else None
    input_name = src_graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{input_name: np.asarray(b, np.float32)} for b in batches])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory(dir=dst.parent if dst.parent.exists() else None) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))
        out = Path(tmp) / "q.onnx"
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=excluded, op_types_to_quantize=op_types,
                        calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                                          "percentile": CalibrationMethod.Percentile}[method],
                        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                                       "QuantizeBias": quantize_bias,
                                       **({"OpTypesToExcludeOutputQuantization": op_types} if op_types else {})})
        quantized = onnx.load(str(out))
        _save_atomic(quantized, dst)
    graph = quantized.graph  # what was written, read once
    ops = [n.op_type for n in graph.node]
    return {"method": method, "per_channel": per_channel, "symmetric": symmetric, "quantize_bias": quantize_bias,
            "kept_float": excluded, **({"kept_float_kinds": {k: len(v) for k, v in kinds.items()}} if kinds else {}),
            "quantize_nodes": ops.count("QuantizeLinear"), "dequantize_nodes": ops.count("DequantizeLinear"),
            "ops": op_precisions(graph)}


def float_onnx(prep, opts, ctx: dict) -> tuple[Path, dict, dict]:
    """The fp32 (simplified) ONNX every ONNX-based target starts from, exported once per export run (``ctx``)."""
    if "float_onnx" not in ctx:
        path, steps, info = Path(ctx["workdir"]) / f"{prep.name}.onnx", {}, {}
        t = time.perf_counter()
        export_onnx(prep.module, path, prep.example(), opset=opts.opset, dynamic_batch=opts.dynamic_batch)
        steps["export_s"] = round(time.perf_counter() - t, 2)
        if opts.simplify:
            t = time.perf_counter()
            info["simplify"] = simplify(path)
            steps["simplify_s"] = round(time.perf_counter() - t, 2)
        ctx["float_onnx"] = (path, steps, info)
    path, steps, info = ctx["float_onnx"]
    return path, dict(steps), dict(info)


def copy_atomic(src: Path, dst: Path) -> Path:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def build(prep, path: Path, target, opts, ctx: dict) -> dict:
    """The ``onnx-*`` rows (and the start of the ``tensorrt-*`` ones): the float ONNX as it is, converted to fp16
    (``options.convert``), or int8 QDQ (``target.calibration``): uint8 activations, as ONNX Runtime recommends on
    x86 CPUs, or symmetric int8 with float biases where the row says so (TensorRT's explicit quantization)."""
    src, steps, info = float_onnx(prep, opts, ctx)
    t = time.perf_counter()
    if target.options.get("convert") == "float16":
        to_fp16(src, path)
        steps["fp16_s"] = round(time.perf_counter() - t, 2)
    elif target.calibration:
        info["quantization"] = quantize_int8(src, path, ctx["calib"].batches(1), method=opts.calib_method,
                                             keep_float=list(opts.keep_float), float_kinds=prep.card.int8_float,
                                             symmetric=target.options.get("symmetric", False),
                                             quantize_bias=target.options.get("quantize_bias", True))
        steps["quantize_s"] = round(time.perf_counter() - t, 2)
    else:
        copy_atomic(src, path)
    return {"steps": steps, **info}
