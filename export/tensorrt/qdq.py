"""What TensorRT's explicit quantization needs of Q/DQ nodes: signed int8 (or FP8), zero points 0, positive
scales, per-channel scales only on weights along the output-channel axis."""

from __future__ import annotations

import numpy as np

from .graph import _attr, _Graph, _input

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")

_WEIGHT_AXIS = {"Conv": lambda n, r, ctx: 0, "ConvTranspose": lambda n, r, ctx: 1,
                "Gemm": lambda n, r, ctx: 0 if _attr(n, "transB", ctx.opset) else 1,
                "MatMul": lambda n, r, ctx: r - 1}


def check_qdq(ctx: _Graph, nodes: list, consumers: dict) -> tuple[dict, list, list, list]:
    """Summary, offenders, warnings, unchecked for every QuantizeLinear/DequantizeLinear node."""
    offenders, warnings, unchecked = [], [], []
    summary = {"quantize_nodes": 0, "dequantize_nodes": 0, "per_tensor": 0, "per_channel": 0,
               "per_channel_axes": {}, "zero_points_all_zero": True, "all_int8": True, "scales_positive": True,
               "quantized_dtypes": []}
    qtypes = set()

    def fail(node, reason):
        offenders.append({"op": node.op_type, "node": node.name, "reason": reason})

    for node in nodes:
        is_q = node.op_type == "QuantizeLinear"
        summary["quantize_nodes" if is_q else "dequantize_nodes"] += 1
        x, scale, zp = _input(node, 0), _input(node, 1), _input(node, 2)
        # The quantized type: the zero point's type, else Q's output / DQ's input, else ONNX's default uint8.
        qtype = ctx.dtype(zp) if zp else ctx.dtype(node.output[0] if is_q else x)
        if qtype is None and is_q and not zp and ctx.opset < 21:
            qtype = "UINT8"
        if qtype:
            qtypes.add(qtype)
        if qtype == "UINT8":
            summary["all_int8"] = False
            fail(node, "uint8 quantization (asymmetric activations, e.g. ActivationSymmetric=False / QUInt8): "
                       "TensorRT quantizes only to signed int8 with zero point 0; quantize with int8 symmetric "
                       "activations")
        elif qtype == "INT32" and not is_q:
            summary["all_int8"] = False
            fail(node, "int32 DequantizeLinear input (a quantized bias, ONNX Runtime's default): TensorRT's "
                       "DequantizeLinear takes INT8, FP8 or INT4 only; quantize with extra_options "
                       "QuantizeBias=False to keep biases float")
        elif qtype not in (None, "INT8", "FP8") and not (qtype == "INT4" and not is_q):
            summary["all_int8"] = False
            fail(node, f"{qtype} quantization: TensorRT takes INT8 or FP8 (INT4 weights only)")
        elif qtype is None:
            unchecked.append({"op": node.op_type, "node": node.name, "restriction": "int8 quantized type",
                              "reason": "quantized dtype unknown after shape inference"})
        if is_q and (t := ctx.dtype(x)) and t not in ("FP32", "FP16", "BF16"):
            fail(node, f"QuantizeLinear input is {t}; TensorRT quantizes FP32, FP16 or BF16")
        # Zero point: all zeros, same size as the scale.
        if zp:
            if zp in ctx.consts:
                z = np.asarray(ctx.consts[zp])
                if np.any(z != 0):
                    summary["zero_points_all_zero"] = False
                    nz = z[z != 0]
                    fail(node, f"zero point {zp!r} is nonzero ({nz.size} of {z.size} values, e.g. {nz.flat[0]}): "
                               "TensorRT's explicit quantization is symmetric, every zero point must be 0")
                if scale in ctx.consts and np.asarray(ctx.consts[scale]).size != z.size:
                    fail(node, f"zero point has {z.size} values and scale {np.asarray(ctx.consts[scale]).size}")
            else:
                unchecked.append({"op": node.op_type, "node": node.name, "restriction": "zero point must be 0",
                                  "reason": f"zero point {zp!r} is computed at run time"})
        elif is_q and ctx.opset < 21:
            warnings.append({"op": node.op_type, "node": node.name,
                             "reason": "no y_zero_point: ONNX means uint8 output here, TensorRT quantizes to int8, "
                                       "so ONNX Runtime and TensorRT results differ; give an int8 zero point of 0"})
        # Scale: present, constant, finite and positive.
        if not scale:
            fail(node, "no scale input: TensorRT needs a scale")
            continue
        if scale not in ctx.consts:
            unchecked.append({"op": node.op_type, "node": node.name, "restriction": "scales positive",
                              "reason": f"scale {scale!r} is computed at run time"})
            n_scale = None
        else:
            s = np.asarray(ctx.consts[scale], dtype=np.float64)
            n_scale = s.size
            if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
                summary["scales_positive"] = False
                bad = s[~(np.isfinite(s) & (s > 0))] if s.size else s
                fail(node, f"scale {scale!r} has {bad.size} non-positive or non-finite value(s)"
                           f"{f' (e.g. {bad.flat[0]})' if bad.size else ' (empty)'}: TensorRT needs all scales > 0")
        if n_scale is None:
            continue
        if n_scale == 1:
            summary["per_tensor"] += 1
            continue
        # Per-channel: only for weights (constant data), along the output-channel axis, one scale per channel.
        summary["per_channel"] += 1
        rank = ctx.rank(x)
        axis = int(_attr(node, "axis", ctx.opset) if _attr(node, "axis", ctx.opset) is not None else 1)
        if rank is not None:
            axis = axis + rank if axis < 0 else axis
        summary["per_channel_axes"][str(axis)] = summary["per_channel_axes"].get(str(axis), 0) + 1
        if x not in ctx.consts:
            fail(node, f"per-channel quantization ({n_scale} scales, axis {axis}) of a tensor computed at run time: "
                       "TensorRT supports per-channel scales only for weights; quantize activations per tensor")
        shape = ctx.shapes.get(x)
        if shape is not None and 0 <= axis < len(shape) and isinstance(shape[axis], int) and shape[axis] != n_scale:
            fail(node, f"{n_scale} scales along axis {axis}, but that dimension has {shape[axis]} channels")
        if not is_q and rank is not None:
            for user in consumers.get(node.output[0], []):
                if user.op_type in _WEIGHT_AXIS and list(user.input).index(node.output[0]) == 1:
                    want = _WEIGHT_AXIS[user.op_type](user, rank, ctx)
                    if axis != want:
                        warnings.append({"op": node.op_type, "node": node.name,
                                         "reason": f"per-channel axis {axis} is not the output-channel axis {want} of "
                                                   f"the {user.op_type} weights it feeds ({user.name!r})"})
    summary["quantized_dtypes"] = sorted(qtypes)
    return summary, offenders, warnings, unchecked

