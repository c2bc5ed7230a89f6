"""The graph checks, one function per restriction kind, in one explicit table (:data:`CHECKS`), and the report
:func:`check_onnx_for_tensorrt` over a whole ONNX file."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from edge_sdk.errors import InputError

from .graph import _attr, _collect, _Graph, _input, _load_checked_model, _resolve, _typed_tensors, _walk
from .operators import load_operator_table
from .qdq import QDQ_OPS, check_qdq

UNCHECKED = "restriction not checked automatically"


# Each check returns a list of (status, message): "fail" -> offender, "unknown" -> not checked for this node,
# "warn" -> a warning. An empty list means the node respects the restriction.


def _chk_spatial_rank(ctx: _Graph, node, args) -> list:
    ks = _attr(node, "kernel_shape", ctx.opset)
    if node.op_type in ("AveragePool", "MaxPool", "LpPool") and ks:
        n = len(ks)
    else:
        rank = ctx.rank(_input(node, 0))
        if rank is None:
            return [("unknown", "input rank unknown after shape inference")]
        n = rank - 2
    return [] if n in args else [("fail", f"{n}D spatial input; TensorRT takes only "
                                          f"{' or '.join(f'{a}D' for a in args)}")]


def _chk_rank(ctx: _Graph, node, args) -> list:
    rank = ctx.rank(_input(node, 0))
    if rank is None:
        return [("unknown", "input rank unknown after shape inference")]
    return [] if rank in args else [("fail", f"input is {rank}D, TensorRT takes {' or '.join(map(str, args))}D")]


def _chk_attr_ones(ctx: _Graph, node, args) -> list:
    v = _attr(node, args[0], ctx.opset)
    if not v or all(int(x) == 1 for x in v):
        return []
    return [("fail", f"`{args[0]}` = {list(v)}, must be empty or all ones")]


def _chk_constant(ctx: _Graph, node, args) -> list:
    name, must_be_false = args
    where = _resolve(node, name, ctx.opset)
    if where is None or where[0] == "attr":
        return []  # an attribute at this opset (e.g. axes before opset 18): constant by construction
    if where[0] != "input":
        return [("unknown", f"`{name}` is not an input at opset {ctx.opset}")]
    tensor = _input(node, where[1])
    if not tensor:
        return []  # optional input left out: the default applies
    if tensor not in ctx.consts:
        src = ctx.producers.get(tensor)
        made = f" (computed by {src.op_type} node {src.name!r})" if src is not None else " (a graph input)"
        return [("fail", f"`{name}` input {tensor!r} is not an initializer or Constant{made}; TensorRT needs it "
                         "at build time (fold constants, e.g. with onnxslim, or re-export)")]
    if must_be_false and bool(np.any(ctx.consts[tensor])):
        return [("fail", f"`{name}` is True: TensorRT runs only inference mode")]
    return []


def _chk_static_dim_at(ctx: _Graph, node, args) -> list:
    shape = ctx.shapes.get(_input(node, 0))
    if shape is None:
        return [("unknown", "input shape unknown after shape inference")]
    axis = int(_attr(node, args[0], ctx.opset) or -1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis < len(shape):
        return [("fail", f"`{args[0]}` = {axis} is out of range for a {len(shape)}D input")]
    d = shape[axis]
    if isinstance(d, int) and d > 0:
        return []
    if d is None:
        return [("unknown", f"size of input dimension {axis} unknown after shape inference")]
    return [("fail", f"input dimension {axis} (the `{args[0]}` dimension) is dynamic ({d!r})")]


def _chk_static_shape(ctx: _Graph, node, args) -> list:
    shape = ctx.shapes.get(_input(node, 0))
    if shape is None:
        return [("unknown", "input shape unknown after shape inference")]
    dyn = [i for i, d in enumerate(shape) if not (isinstance(d, int) and d > 0)]
    if not dyn:
        return []
    if any(shape[i] is None for i in dyn):
        return [("unknown", f"input dims {dyn} unknown after shape inference")]
    return [("fail", f"input has dynamic dims {dyn} ({shape})")]


def _values(ctx: _Graph, node, name: str):
    """(present, value or None) of an input or attribute named ``name`` (None: present but not constant)."""
    where = _resolve(node, name, ctx.opset)
    if where is None:
        return False, None
    if where[0] == "attr":
        v = _attr(node, where[1], ctx.opset)
        return v is not None, v
    if where[0] != "input":
        return False, None
    tensor = _input(node, where[1])
    if not tensor:
        return False, None
    return True, ctx.consts.get(tensor)


def _known_value(ctx: _Graph, node, name: str):
    """(value as an array, None) when ``name`` is a constant; (None, findings) when absent or run-time."""
    present, v = _values(ctx, node, name)
    if not present:
        return None, []
    if v is None:
        return None, [("unknown", f"`{name}` is computed at run time, its value cannot be checked")]
    return np.asarray(v), None


def _chk_equals(ctx: _Graph, node, args) -> list:
    name, want = args
    arr, findings = _known_value(ctx, node, name)
    if arr is None:
        return findings
    if arr.dtype.kind in "iufb" and np.all(arr == want):
        return []
    return [("fail", f"`{name}` = {arr.tolist()}, TensorRT needs {want}")]


def _chk_less_than(ctx: _Graph, node, args) -> list:
    name, bound = args
    arr, findings = _known_value(ctx, node, name)
    if arr is None:
        return findings
    return [] if np.all(arr < bound) else [("fail", f"`{name}` = {arr.tolist()}, must be less than {bound}")]


def _chk_attr_default(ctx: _Graph, node, args) -> list:
    name = args[0]
    for a in node.attribute:
        if a.name == name:
            v = _attr(node, name, ctx.opset)
            if v in ("none", 0, None, b"none"):
                return []
            return [("fail", f"`{name}` = {v!r} is not supported")]
    return []


def _chk_attrs_absent(ctx: _Graph, node, args) -> list:
    used = [a.name for a in node.attribute if a.name in args]
    return [("fail", f"attribute `{u}` is unsupported") for u in used]


def _chk_output_absent(ctx: _Graph, node, args) -> list:
    where = _resolve(node, args[0], ctx.opset)
    if where is None or where[0] != "output":
        return []
    i = where[1]
    return [("fail", f"output `{args[0]}` ({node.output[i]!r}) is unsupported")] \
        if len(node.output) > i and node.output[i] else []


def _chk_first_output_only(ctx: _Graph, node, args) -> list:
    extra = [o for o in node.output[1:] if o]
    return [("fail", f"only the first output is supported; the node also outputs {extra}")] if extra else []


def _chk_symmetric_pads(ctx: _Graph, node, args) -> list:
    pads = _attr(node, "pads", ctx.opset)
    if not pads:
        return []
    half = len(pads) // 2
    return [] if list(pads[:half]) == list(pads[half:]) else [("fail", f"`pads` = {list(pads)}: begin and end differ")]


def _chk_ignored_attr(ctx: _Graph, node, args) -> list:
    return [("warn", f"`{args[0]}` is set but TensorRT ignores it (results differ from ONNX Runtime)")] \
        if any(a.name == args[0] for a in node.attribute) else []


def _chk_bidirectional_activations(ctx: _Graph, node, args) -> list:
    if _attr(node, "direction", ctx.opset) != "bidirectional":
        return []
    acts = _attr(node, "activations", ctx.opset)
    if not acts:
        return []
    half = len(acts) // 2
    return [] if acts[:half] == acts[half:] else [("fail", f"forward activations {acts[:half]} differ from "
                                                           f"reverse {acts[half:]}")]


def _chk_if_branches(ctx: _Graph, node, args) -> list:
    from onnx import helper

    branches = {a.name: helper.get_attribute_value(a) for a in node.attribute
                if a.name in ("then_branch", "else_branch")}
    if len(branches) != 2:
        return [("unknown", "branches missing")]
    then_out, else_out = branches["then_branch"].output, branches["else_branch"].output
    out, unknown = [], False
    for a, b in zip(then_out, else_out):
        if a.name == b.name:
            out.append(("fail", f"both branches output a tensor named {a.name!r}"))
        ra = len(a.type.tensor_type.shape.dim) if a.type.tensor_type.HasField("shape") else None
        rb = len(b.type.tensor_type.shape.dim) if b.type.tensor_type.HasField("shape") else None
        if ra is None or rb is None:
            unknown = True
        elif ra != rb:
            out.append(("fail", f"branch outputs {a.name!r} ({ra}D) and {b.name!r} ({rb}D) differ in rank"))
    if unknown:
        out.append(("unknown", "rank of a branch output unknown"))
    return out


def _chk_loop_scan_static(ctx: _Graph, node, args) -> list:
    from onnx import helper

    body = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "body"), None)
    if body is None:
        return [("unknown", "loop body missing")]
    n_carried = max(len(node.input) - 2, 0)
    n_scan = len(body.output) - 1 - n_carried
    if n_scan <= 0:
        return []
    trip = _input(node, 0)
    if trip and trip in ctx.consts:
        return []
    return [("fail", f"{n_scan} scan output(s) while the trip count M is "
                     f"{'absent' if not trip else 'computed at run time'}")]


def _chk_attr_in(ctx: _Graph, node, args) -> list:
    name, allowed = args
    if name == "nearest_mode" and _attr(node, "mode", ctx.opset) != "nearest":
        return []  # only read in nearest mode
    v = _attr(node, name, ctx.opset)
    if v is None or v in allowed:
        return []
    return [("fail", f"`{name}` = {v!r}; TensorRT supports {', '.join(allowed)}")]


def _chk_resize_axes_iota(ctx: _Graph, node, args) -> list:
    scales = _input(node, 2)
    if not scales or scales in ctx.consts:
        return []
    axes = _attr(node, "axes", ctx.opset)
    if not axes:
        return []
    rank = ctx.rank(_input(node, 0))
    if rank is None:
        return [("unknown", "input rank unknown after shape inference")]
    return [] if list(axes) == list(range(rank)) else [("fail", f"`axes` = {list(axes)} with run-time `scales`; "
                                                                 f"must be {list(range(rank))}")]


def _chk_zero_point(ctx: _Graph, node, args) -> list:
    return []  # checked with the rest of Q/DQ in _check_qdq, which reports it once per node



# restriction kind (Restriction.check) -> its check; a kind missing here fails loudly, never silently
CHECKS = {
    "spatial_rank": _chk_spatial_rank,
    "rank": _chk_rank,
    "attr_ones": _chk_attr_ones,
    "constant": _chk_constant,
    "static_dim_at": _chk_static_dim_at,
    "static_shape": _chk_static_shape,
    "equals": _chk_equals,
    "less_than": _chk_less_than,
    "attr_default": _chk_attr_default,
    "attrs_absent": _chk_attrs_absent,
    "output_absent": _chk_output_absent,
    "first_output_only": _chk_first_output_only,
    "symmetric_pads": _chk_symmetric_pads,
    "ignored_attr": _chk_ignored_attr,
    "bidirectional_activations": _chk_bidirectional_activations,
    "if_branches": _chk_if_branches,
    "loop_scan_static": _chk_loop_scan_static,
    "attr_in": _chk_attr_in,
    "resize_axes_iota": _chk_resize_axes_iota,
    "zero_point": _chk_zero_point,
}


def check_onnx_for_tensorrt(onnx_path: str | os.PathLike, table_csv: str | os.PathLike) -> dict:
    """Check an ONNX file against TensorRT 10's ONNX operator table; a report (``ok`` False if any offender).

    Keys: ``model``, ``opset``, ``nodes``, ``op_counts``, ``ok``, ``offenders`` (op, node, reason),
    ``unchecked`` (op, restriction, reason, nodes: restrictions no check covered for the ops present),
    ``warnings``, ``dtypes`` (per op: types used vs the table's), ``dynamic_inputs`` (input -> shape
    with symbolic dims: the engine needs an optimization profile), ``qdq`` (None without Q/DQ nodes).
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise InputError(f"{onnx_path}: ONNX file not found")
    table = load_operator_table(table_csv)
    model, notes = _load_checked_model(onnx_path)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    ctx = _collect(model, opset)
    walked = list(_walk(model.graph))
    consumers: dict[str, list] = {}
    for node, _, _ in walked:
        for t in node.input:
            consumers.setdefault(t, []).append(node)

    offenders, warnings = [], [{"op": "", "node": "", "reason": n} for n in notes]
    unchecked: dict[tuple, dict] = {}
    dtypes: dict[str, dict] = {}
    counts = Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}" for n, _, _ in walked)
    if not 9 <= opset <= 20:
        warnings.append({"op": "", "node": "", "reason": f"opset {opset}: the table covers opsets 9 to 20 "
                                                          "(TensorRT 10.0's parser)"})

    def not_checked(op, restriction, reason, node_name):
        key = (op, restriction, reason)
        entry = unchecked.setdefault(key, {"op": op, "restriction": restriction, "reason": reason, "nodes": []})
        entry["nodes"].append(node_name)

    qdq_nodes = []
    for i, (node, _, depth) in enumerate(walked):
        name = node.name or f"<{node.op_type} #{i}>"
        if node.domain not in ("", "ai.onnx"):
            offenders.append({"op": node.op_type, "node": name, "reason": f"custom-domain op ({node.domain}) is not in "
                              "TensorRT's ONNX operator table; it needs a TensorRT plugin of that name"})
            continue
        rule = table.get(node.op_type)
        if rule is None:
            offenders.append({"op": node.op_type, "node": name, "reason": "not in TensorRT 10's ONNX operator table "
                              "(no importer for it; needs a plugin or a different export)"})
            continue
        if not rule.supported:
            offenders.append({"op": node.op_type, "node": name,
                              "reason": "not supported by TensorRT 10's ONNX parser (marked N in the table)"})
            continue
        if node.op_type in QDQ_OPS:
            qdq_nodes.append(node)
        for r in rule.restrictions:
            if r.check is None:
                not_checked(node.op_type, r.text, f"{UNCHECKED}: {r.text}", name)
                continue
            for status, msg in CHECKS[r.check](ctx, node, r.args):
                if status == "fail":
                    offenders.append({"op": node.op_type, "node": name, "reason": f"{msg} (table: {r.text})"})
                elif status == "warn":
                    warnings.append({"op": node.op_type, "node": name, "reason": msg})
                else:
                    not_checked(node.op_type, r.text, f"{UNCHECKED}: {r.text} ({msg})", name)
        # Dtypes against the table's types (Q/DQ types are checked with the rest of Q/DQ below).
        entry = dtypes.setdefault(node.op_type, {"used": set(), "supported": list(rule.types)})
        for t in _typed_tensors(node, opset):
            dt = ctx.dtype(t)
            if dt is None:
                continue
            entry["used"].add(dt)
            if rule.types and dt not in rule.types and node.op_type not in QDQ_OPS:
                offenders.append({"op": node.op_type, "node": name, "reason": f"tensor {t!r} is {dt}; the table "
                                  f"lists {', '.join(rule.types)} for {node.op_type}"})

    qdq = None
    if qdq_nodes:
        qdq, q_off, q_warn, q_unk = check_qdq(ctx, qdq_nodes, consumers)
        offenders += q_off
        warnings += q_warn
        for u in q_unk:
            not_checked(u["op"], u["restriction"], f"{UNCHECKED}: {u['restriction']} ({u['reason']})", u["node"])

    dynamic = {}
    for vi in model.graph.input:
        if vi.name in ctx.consts:
            continue
        shape = ctx.shapes.get(vi.name)
        if shape is not None and any(not (isinstance(d, int) and d > 0) for d in shape):
            dynamic[vi.name] = [d if d is not None else "?" for d in shape]
    return {
        "model": str(onnx_path), "table": str(table_csv), "opset": opset, "nodes": len(walked),
        "op_counts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))), "ok": not offenders,
        "fully_checked": not unchecked,
        "offenders": offenders, "unchecked": list(unchecked.values()), "warnings": warnings,
        "dtypes": {op: {"used": sorted(v["used"]), "supported": v["supported"]} for op, v in sorted(dtypes.items())},
        "dynamic_inputs": dynamic, "qdq": qdq,
    }


def format_report(report: dict, max_nodes: int = 5) -> str:
    """The report as Markdown: verdict, offenders (op, node, reason), what was not checked, warnings, Q/DQ."""
    name = Path(report["model"]).name
    n_off = len(report["offenders"])
    lines = [f"## TensorRT 10 ONNX check: {name} — " + ("OK" if report["ok"] else f"{n_off} offender(s)"), "",
             f"- opset {report['opset']}, {report['nodes']} nodes, {len(report['op_counts'])} op types"]
    for inp, shape in report["dynamic_inputs"].items():
        lines.append(f"- dynamic input `{inp}` {shape}: the engine needs an optimization profile")
    if report["offenders"]:
        lines += ["", "### Offenders", ""]
        lines += [f"- **{o['op']}** `{o['node']}`: {o['reason']}" for o in report["offenders"]]
    if report["unchecked"]:
        lines += ["", "### Not checked automatically", ""]
        for u in report["unchecked"]:
            nodes = ", ".join(f"`{n}`" for n in u["nodes"][:max_nodes])
            more = f" and {len(u['nodes']) - max_nodes} more" if len(u["nodes"]) > max_nodes else ""
            lines.append(f"- **{u['op']}**: {u['reason']} — {nodes}{more}")
    if report["warnings"]:
        lines += ["", "### Warnings", ""]
        lines += [f"- {'**' + w['op'] + '** `' + w['node'] + '`: ' if w['op'] else ''}{w['reason']}"
                  for w in report["warnings"]]
    q = report.get("qdq")
    if q:
        lines += ["", "### Q/DQ (explicit quantization)", "",
                  f"- {q['quantize_nodes']} QuantizeLinear, {q['dequantize_nodes']} DequantizeLinear; "
                  f"{q['per_tensor']} per-tensor, {q['per_channel']} per-channel (axes {q['per_channel_axes']})",
                  f"- zero points all 0: {q['zero_points_all_zero']}; int8: {q['all_int8']} "
                  f"({', '.join(q['quantized_dtypes']) or 'unknown'}); scales positive: {q['scales_positive']}"]
    return "\n".join(lines) + "\n"

