"""TensorRT 10: check an ONNX graph against the parser's operator table offline, and build engines where TensorRT is.

Two halves:

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

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_sdk.errors import EdgeSDKError, InputError, MissingDependencyError

UNCHECKED = "restriction not checked automatically"
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
DEFAULT_BATCHES = (1, 4, 16)  # min, opt, max batch of the optimization profile when the batch is dynamic

# ONNX element types, named as the table names them.
_DTYPE_NAMES = {
    "FLOAT": "FP32", "FLOAT16": "FP16", "BFLOAT16": "BF16", "DOUBLE": "FP64", "FLOAT8E4M3FN": "FP8",
    "FLOAT8E5M2": "FP8E5M2", "FLOAT8E4M3FNUZ": "FP8E4M3FNUZ", "FLOAT8E5M2FNUZ": "FP8E5M2FNUZ", "FLOAT4E2M1": "FP4",
}
# Spellings in the table that mean a known type (the TensorRT 10.0 docs write "INF64" for ConstantOfShape).
_TYPE_FIXES = {"INF64": "INT64"}
# Names in restriction texts that differ from the ONNX schema's (the docs' typo for Dropout's input).
_NAME_ALIASES = {"is_traning": "training_mode", "is_training": "training_mode"}
# Ops whose table types describe the output too (Cast) or only the output (no data input).
_CHECK_OUTPUT = {"Cast": "both", "CastLike": "both", "ConstantOfShape": "output"}


class TensorRTBuildError(EdgeSDKError):
    """TensorRT could not parse the ONNX file or build an engine from it; ``errors`` lists each parser error."""

    def __init__(self, model: str, message: str, errors: list[dict] | None = None):
        super().__init__(f"TensorRT engine build from {model} failed: {message}")
        self.errors = errors or []


# --------------------------------------------------------------------------------------------------
# The operator table
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restriction:
    """One sentence of the table's restrictions column and, where the text allows, a check for it.

    ``check`` names a function of this module (``_chk_<check>``); ``None`` means the sentence is not
    checked automatically and is reported as such for every node of that op.
    """

    text: str
    check: str | None = None
    args: tuple = ()


@dataclass(frozen=True)
class OpRule:
    op: str
    supported: bool
    types: tuple[str, ...]
    restrictions: tuple[Restriction, ...] = ()
    text: str = ""

    @property
    def unchecked(self) -> tuple[str, ...]:
        return tuple(r.text for r in self.restrictions if r.check is None)


def _sentences(text: str) -> list[str]:
    out = []
    for part in re.split(r"<br\s*/?>|\n", text or ""):
        for s in re.split(r"(?<=\.)\s+(?=[A-Z`])", part.strip()):
            s = s.strip()
            if s:
                out.append(s)
    return out


def _latest_schema(op: str):
    import onnx

    try:
        return onnx.defs.get_schema(op)
    except Exception:  # noqa: BLE001 - ops the table knows but ONNX no longer defines (ImageScaler, ...)
        return None


def _schema_names(schema) -> dict[str, str]:
    """Lower-cased name -> kind ('input'/'output'/'attr') over one schema version."""
    names = {}
    for p in schema.inputs:
        names.setdefault(p.name.lower(), "input")
    for p in schema.outputs:
        names.setdefault(p.name.lower(), "output")
    for a in schema.attributes:
        names.setdefault(a.lower(), "attr")
    return names


def _known_name(op: str, name: str, schema) -> bool:
    """Whether ``name`` is an input, output or attribute of ``op`` in any opset the table covers (9..20)."""
    import onnx

    name = _NAME_ALIASES.get(name, name).lower()
    if schema is None:
        return False
    for version in range(9, 21):
        try:
            s = onnx.defs.get_schema(op, version)
        except Exception:  # noqa: BLE001
            continue
        if name in _schema_names(s):
            return True
    return name in _schema_names(schema)


def _parse_sentence(op: str, s: str, schema) -> Restriction:
    """Map one restriction sentence to a check, by its wording (the table's phrasings, not its op names)."""
    body = s.rstrip(".").strip()

    def named(check: str, name: str, *more) -> Restriction:
        if not _known_name(op, name, schema):
            return Restriction(s)  # a name the schema does not know: cannot check, say so
        return Restriction(s, check, (_NAME_ALIASES.get(name, name), *more))

    m = re.fullmatch(r"(\d)D or (\d)D [Pp]ooling only", body)
    if m:
        return Restriction(s, "spatial_rank", (int(m.group(1)), int(m.group(2))))
    m = re.fullmatch(r"`(\w+)` must be empty or all ones", body)
    if m:
        return named("attr_ones", m.group(1))
    m = re.fullmatch(r"`(\w+)` dimension of input must be a build-time constant", body)
    if m:
        return named("static_dim_at", m.group(1))
    m = re.fullmatch(r"`(\w+)`(?: input)? must be (?:an initializer|a constant tensor|a build-time constant)"
                     r"( and evaluate to False)?", body)
    if m:
        return named("constant", m.group(1), bool(m.group(2)))
    m = re.fullmatch(r"`([xy]_zero_point)` must be (?:zero|0)", body)
    if m:
        return named("zero_point", m.group(1))
    m = re.fullmatch(r"`(\w+)`(?: attribute| input)? must be (\d+)", body)
    if m:
        return named("equals", m.group(1), int(m.group(2)))
    m = re.fullmatch(r"`(\w+)`(?: attribute| input)? must be less than (\d+)", body)
    if m:
        return named("less_than", m.group(1), int(m.group(2)))
    m = re.fullmatch(r"`(\w+)` is not supported", body)
    if m:
        return named("attr_default", m.group(1))
    m = re.fullmatch(r"((?:`\w+`(?:,\s*|\s+and\s+|,\s*and\s+)?)+) attributes are unsupported", body)
    if m:
        attrs = tuple(re.findall(r"`(\w+)`", m.group(1)))
        if all(_known_name(op, a, schema) for a in attrs):
            return Restriction(s, "attrs_absent", attrs)
        return Restriction(s)
    m = re.fullmatch(r"`(\w+)` output tensor unsupported", body)
    if m:
        return named("output_absent", m.group(1))
    m = re.fullmatch(r"Only the first output `(\w+)` is supported", body)
    if m:
        return Restriction(s, "first_output_only")
    m = re.fullmatch(r"`(\w+)` must have (\d)D or (\d)D spatial dimensions", body)
    if m:
        return Restriction(s, "spatial_rank", (int(m.group(2)), int(m.group(3))))
    m = re.fullmatch(r"Input must be (\d)D input", body)
    if m:
        return Restriction(s, "rank", (int(m.group(1)),))
    m = re.fullmatch(r"`(\w+)` must have static dimensions", body)
    if m:
        return Restriction(s, "static_shape")
    if re.fullmatch(r"`pads` for the beginning and end along each spatial axis must be the same", body):
        return named("symmetric_pads", "pads")
    m = re.fullmatch(r"`(\w+)` value is ignored by TensorRT", body)
    if m:
        return named("ignored_attr", m.group(1))
    if re.fullmatch(r"For bidirectional \w+, activation functions must be the same for both the forward and "
                    r"reverse pass", body):
        return Restriction(s, "bidirectional_activations")
    if re.fullmatch(r"Output tensors of the two conditional branches must have the same rank and must have "
                    r"different names", body):
        return Restriction(s, "if_branches")
    if re.fullmatch(r"Scan output length cannot be dynamic", body):
        return Restriction(s, "loop_scan_static")
    m = re.fullmatch(r"Supported (resize transformation modes|resize modes|nearest modes|aspect ratio policy): (.+)",
                     body)
    if m:
        attr = {"resize transformation modes": "coordinate_transformation_mode", "resize modes": "mode",
                "nearest modes": "nearest_mode", "aspect ratio policy": "keep_aspect_ratio_policy"}[m.group(1)]
        return named("attr_in", attr, tuple(re.findall(r"`(\w+)`", m.group(2))))
    if re.fullmatch(r"When `scales` is a tensor input, `axes` must be an iota vector of length rank\(input\)", body):
        return named("resize_axes_iota", "axes")
    if re.fullmatch(r"Antialiasing is not supported", body):
        return named("equals", "antialias", 0)
    return Restriction(s)  # e.g. Loop: "The shape of Loop carried dependencies must be the same ..."


def load_operator_table(csv_path: str | os.PathLike) -> dict[str, OpRule]:
    """Parse TensorRT's ONNX operator table (``operator,supported,types,restrictions``) into rules by op name."""
    path = Path(csv_path)
    if not path.is_file():
        raise InputError(f"{path}: TensorRT operator table not found (pass the path of "
                         "tensorrt10_onnx_operators.csv from the shared fixtures)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"operator", "supported", "types", "restrictions"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise InputError(f"{path}: expected columns {sorted(need)}, found {reader.fieldnames}")
        table: dict[str, OpRule] = {}
        for row in reader:
            op = (row["operator"] or "").strip()
            if not op:
                continue
            flag = (row["supported"] or "").strip().upper()
            if flag not in ("Y", "N"):
                raise InputError(f"{path}: operator {op}: supported must be Y or N, got {row['supported']!r}")
            types = []
            for t in (row["types"] or "").split(","):
                t = _TYPE_FIXES.get(t.strip().upper(), t.strip().upper())
                if t and t not in types:
                    types.append(t)
            text = (row["restrictions"] or "").strip()
            schema = _latest_schema(op)
            rules = tuple(_parse_sentence(op, s, schema) for s in _sentences(text))
            table[op] = OpRule(op, flag == "Y", tuple(types), rules, text)
    if not table:
        raise InputError(f"{path}: the operator table is empty")
    return table


# --------------------------------------------------------------------------------------------------
# What the checks read from a graph
# --------------------------------------------------------------------------------------------------


def _dtype_name(elem_type: int) -> str:
    import onnx

    name = onnx.TensorProto.DataType.Name(elem_type)
    return _DTYPE_NAMES.get(name, name)


@dataclass
class _Graph:
    opset: int
    consts: dict = field(default_factory=dict)  # name -> numpy array (initializers, Constant outputs)
    types: dict = field(default_factory=dict)  # name -> ONNX elem type
    shapes: dict = field(default_factory=dict)  # name -> list of int | str | None, or absent when unknown
    producers: dict = field(default_factory=dict)  # name -> node

    def dtype(self, name: str) -> str | None:
        t = self.types.get(name)
        return _dtype_name(t) if t else None

    def rank(self, name: str) -> int | None:
        s = self.shapes.get(name)
        return None if s is None else len(s)


def _constant_value(node):
    from onnx import helper, numpy_helper

    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int", "value_floats", "value_ints"):
            return np.asarray(helper.get_attribute_value(a))
    return None


def _walk(graph, depth: int = 0):
    """Every node of a graph and of its subgraphs (If/Loop/Scan bodies), with the graph it belongs to."""
    for node in graph.node:
        yield node, graph, depth
        for a in node.attribute:
            if a.g is not None and a.g.node:
                yield from _walk(a.g, depth + 1)
            for g in a.graphs:
                yield from _walk(g, depth + 1)


def _collect(model, opset: int) -> _Graph:
    from onnx import numpy_helper

    ctx = _Graph(opset)
    graphs = [model.graph] + [g for n, g, d in _walk(model.graph) if d > 0]
    for g in graphs:
        for init in g.initializer:
            ctx.consts[init.name] = numpy_helper.to_array(init)
            ctx.types[init.name] = init.data_type
            ctx.shapes[init.name] = list(init.dims)
        for vi in [*g.input, *g.value_info, *g.output]:
            tt = vi.type.tensor_type
            if tt.elem_type:
                ctx.types.setdefault(vi.name, tt.elem_type)
            if tt.HasField("shape"):
                ctx.shapes.setdefault(vi.name, [d.dim_value if d.HasField("dim_value") else
                                                (d.dim_param or None) for d in tt.shape.dim])
    for node, _, _ in _walk(model.graph):
        for o in node.output:
            if o:
                ctx.producers[o] = node
        if node.op_type == "Constant" and node.output:
            value = _constant_value(node)
            if value is not None:
                ctx.consts[node.output[0]] = value
    return ctx


def _schema(op: str, opset: int):
    import onnx

    try:
        return onnx.defs.get_schema(op, opset)
    except Exception:  # noqa: BLE001
        return None


def _resolve(node, name: str, opset: int):
    """Where ``name`` lives for this node's op at this opset: ('input', index), ('output', index), ('attr', None)."""
    schema = _schema(node.op_type, opset)
    if schema is None:
        return None
    for kind, params in (("input", schema.inputs), ("output", schema.outputs)):
        for exact in (True, False):
            for i, p in enumerate(params):
                if p.name == name if exact else p.name.lower() == name.lower():
                    return kind, i
    for a in schema.attributes:
        if a.lower() == name.lower():
            return "attr", a
    return None


def _attr(node, name: str, opset: int):
    """An attribute's value, or the schema's default where the node does not set it (None: no default)."""
    from onnx import helper

    def text(v):
        if isinstance(v, bytes):
            return v.decode()
        if isinstance(v, list):
            return [x.decode() if isinstance(x, bytes) else x for x in v]
        return v

    for a in node.attribute:
        if a.name == name:
            return text(helper.get_attribute_value(a))
    schema = _schema(node.op_type, opset)
    if schema is not None and name in schema.attributes:
        d = schema.attributes[name].default_value
        if d.type:
            return text(helper.get_attribute_value(d))
    return None


def _input(node, i: int) -> str:
    return node.input[i] if len(node.input) > i else ""


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


# --------------------------------------------------------------------------------------------------
# Tensor dtypes against the table's types
# --------------------------------------------------------------------------------------------------


def _typed_tensors(node, opset: int) -> list[str]:
    """The node's tensors whose dtype the table's types column describes (the op's main type parameter)."""
    schema = _schema(node.op_type, opset)
    mode = _CHECK_OUTPUT.get(node.op_type)
    if schema is None:
        return [t for t in node.input[:1] if t]
    if mode == "output" or not node.input:
        return [t for t in node.output[:1] if t]
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}

    def formal(params, i):
        if not params:
            return None
        if i < len(params):
            return params[i]
        last = params[-1]
        return last if last.option == last.option.Variadic else None

    ins = [(t, formal(schema.inputs, i)) for i, t in enumerate(node.input) if t]
    ins = [(t, p) for t, p in ins if p is not None]
    if not ins:
        return []
    main = next((p.type_str for t, p in ins if allowed.get(p.type_str) != {"tensor(bool)"}), ins[0][1].type_str)
    names = [t for t, p in ins if p.type_str == main]
    if mode == "both":
        names += [t for t in node.output[:1] if t]
    else:
        names += [t for i, t in enumerate(node.output) if t and (p := formal(schema.outputs, i)) is not None
                  and p.type_str == main]
    return names


# --------------------------------------------------------------------------------------------------
# Q/DQ (explicit quantization)
# --------------------------------------------------------------------------------------------------

_WEIGHT_AXIS = {"Conv": lambda n, r, ctx: 0, "ConvTranspose": lambda n, r, ctx: 1,
                "Gemm": lambda n, r, ctx: 0 if _attr(n, "transB", ctx.opset) else 1,
                "MatMul": lambda n, r, ctx: r - 1}


def _check_qdq(ctx: _Graph, nodes: list, consumers: dict) -> tuple[dict, list, list, list]:
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


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


def _load_checked_model(onnx_path: Path):
    import onnx

    model = onnx.load(str(onnx_path))
    if len(model.functions):
        from onnx import inliner

        model = inliner.inline_local_functions(model)
    notes = []
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as err:  # noqa: BLE001 - a graph shape inference cannot finish is still checked
        notes.append(f"shape inference failed ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                     "dtype and shape checks use what the file declares")
    return model, notes


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
            for status, msg in globals()[f"_chk_{r.check}"](ctx, node, r.args):
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
        qdq, q_off, q_warn, q_unk = _check_qdq(ctx, qdq_nodes, consumers)
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


# --------------------------------------------------------------------------------------------------
# Engine building (TensorRT 10 Python API)
# --------------------------------------------------------------------------------------------------


def _import_tensorrt():
    try:
        import tensorrt as trt
    except (ImportError, OSError) as err:  # OSError: the wheel is there but libnvinfer cannot be loaded
        raise MissingDependencyError("tensorrt", "building TensorRT engines", extra="tensorrt") from err
    return trt


def tensorrt_version() -> str | None:
    """The installed TensorRT version, or None where it cannot be imported."""
    try:
        return _import_tensorrt().__version__
    except MissingDependencyError:
        return None


def _write_atomic(data, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            n = f.write(memoryview(data))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n


def _profile_shape(dims: tuple, given, which: str, name: str) -> tuple:
    """A full shape for one profile point: ``given`` is a batch size (int) or a full shape."""
    if isinstance(given, (list, tuple)):
        shape = tuple(int(d) for d in given)
        if len(shape) != len(dims) or any(d >= 0 and d != s for d, s in zip(dims, shape)):
            raise InputError(f"{which}_shape {shape} does not fit input {name!r} of shape {dims}")
        return shape
    if any(d < 0 for d in dims[1:]):
        raise InputError(f"input {name!r} has dynamic dims besides the batch ({dims}): give full min/opt/max "
                         "shapes, not batch sizes")
    return (int(given), *dims[1:])


def _parser_errors(parser) -> list[dict]:
    out = []
    for i in range(parser.num_errors):
        e = parser.get_error(i)
        item = {"message": str(e)}
        for key in ("code", "desc", "node", "node_name", "node_operator", "file", "line", "func"):
            fn = getattr(e, key, None)
            if callable(fn):
                try:
                    v = fn()
                    item[key] = v if isinstance(v, (int, str)) else str(v)
                except Exception:  # noqa: BLE001 - older bindings lack some accessors
                    pass
        out.append(item)
    return out


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, *, fp16: bool = True,
                 int8: bool = False, workspace_gb: float = 2.0, timing_cache: str | os.PathLike | None = None,
                 min_shape=None, opt_shape=None, max_shape=None) -> dict:
    """Build a serialized TensorRT engine from an ONNX file with the TensorRT 10 Python API.

    ``fp16``/``int8`` set the builder's precision flags; int8 needs an explicitly quantized (Q/DQ) graph,
    since TensorRT 10 deprecates calibrators (a Q/DQ graph gets the INT8 flag either way). Inputs with a
    dynamic dim get one optimization profile: ``min/opt/max_shape`` are batch sizes or full shapes
    (default batches 1, 4, 16). ``timing_cache`` is loaded if it exists and saved after the build. The
    engine is written atomically. Returns what was built: TensorRT version, seconds, engine bytes, profile.
    """
    trt = _import_tensorrt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise InputError(f"{onnx_path}: ONNX file not found")
    if workspace_gb <= 0:
        raise InputError(f"workspace_gb must be positive, got {workspace_gb}")
    import onnx

    has_qdq = any(n.op_type in QDQ_OPS for n, _, _ in _walk(onnx.load(str(onnx_path), load_external_data=False).graph))
    if int8 and not has_qdq:
        raise InputError(f"{onnx_path.name} has no QuantizeLinear/DequantizeLinear nodes: TensorRT 10 builds int8 "
                         "from explicitly quantized (Q/DQ) ONNX only; quantize it first (symmetric int8 QDQ), or "
                         "build without --int8")
    t0 = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # from the file, so external data beside it is found
        errors = _parser_errors(parser)
        detail = "; ".join(f"[{e.get('node_operator') or '?'} {e.get('node_name') or ''}] "
                           f"{e.get('desc') or e['message']}" for e in errors) or "no error recorded"
        raise TensorRTBuildError(onnx_path.name, f"the ONNX parser rejected it ({len(errors)} error(s)): {detail}",
                                 errors)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    flags = []
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        flags.append("FP16")
    if int8 or has_qdq:
        config.set_flag(trt.BuilderFlag.INT8)
        flags.append("INT8")

    inputs, profile_report = [], {}
    profile = None
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tuple(tensor.shape)
        inputs.append({"name": tensor.name, "shape": list(dims), "dtype": str(tensor.dtype)})
        if all(d >= 0 for d in dims):
            continue
        if profile is None:
            profile = builder.create_optimization_profile()
        points = [_profile_shape(dims, given if given is not None else default, which, tensor.name)
                  for given, default, which in zip((min_shape, opt_shape, max_shape), DEFAULT_BATCHES,
                                                   ("min", "opt", "max"))]
        if not all(a <= b <= c for a, b, c in zip(*points)):
            raise InputError(f"input {tensor.name!r}: need min <= opt <= max, got {points}")
        profile.set_shape(tensor.name, *points)
        profile_report[tensor.name] = dict(zip(("min", "opt", "max"), map(list, points)))
    if profile is not None:
        config.add_optimization_profile(profile)

    cache_path = Path(timing_cache) if timing_cache else None
    cache_loaded = False
    if cache_path is not None:
        data = cache_path.read_bytes() if cache_path.is_file() else b""
        cache_loaded = bool(data)
        config.set_timing_cache(config.create_timing_cache(data), ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTBuildError(onnx_path.name, "build_serialized_network returned nothing (see TensorRT's log "
                                                 "above: unsupported layer, workspace too small, or no GPU)")
    n_bytes = _write_atomic(serialized, engine_path)
    if cache_path is not None:
        _write_atomic(config.get_timing_cache().serialize(), cache_path)
    return {
        "engine": str(engine_path), "onnx": str(onnx_path), "tensorrt": trt.__version__,
        "seconds": round(time.perf_counter() - t0, 2), "engine_bytes": n_bytes, "flags": flags,
        "explicit_quantization": has_qdq, "workspace_gb": workspace_gb, "inputs": inputs,
        "outputs": [network.get_output(i).name for i in range(network.num_outputs)], "profile": profile_report,
        "timing_cache": str(cache_path) if cache_path else None, "timing_cache_loaded": cache_loaded,
    }


def write_engine_manifest(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, report: dict) -> Path | None:
    """``<engine>.manifest.json`` from the ONNX file's manifest, so ``edge_sdk.load(engine)`` works.

    Same model, crop spec, input and threshold; the artifact, its sha256 and size are the engine's, and the
    build report (TensorRT version, flags, profile) goes under ``export.engine``. Returns None when the ONNX
    file has no manifest (an engine from a foreign ONNX file: the runtime cannot load it without one).
    """
    from edge_sdk import manifest
    from edge_sdk.preprocess import CropSpec

    try:
        m = manifest.load(onnx_path)
    except EdgeSDKError:
        return None
    engine_path = Path(engine_path)
    built = manifest.build(engine_path, model=m["model"]["name"], target="tensorrt", precision=m["precision"],
                           crop=CropSpec.from_dict(m["crop"]),
                           input_shape=m["input"]["shape"], input_name=m["input"]["name"],
                           output_name=m["output"]["name"], input_dtype=m["input"]["dtype"],
                           threshold=m["threshold"], variant=m["model"].get("variant"),
                           checkpoint=m["model"].get("checkpoint"), calibration=m.get("calibration"),
                           export={**(m.get("export") or {}), "engine": report, "from_onnx": Path(onnx_path).name})
    if report.get("tensorrt"):
        built["versions"]["tensorrt"] = report["tensorrt"]
    return manifest.write(built, engine_path.with_name(engine_path.name + ".manifest.json"))


def _batches(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or not 0 < parts[0] <= parts[1] <= parts[2]:
        raise argparse.ArgumentTypeError(f"--shapes takes min,opt,max batch sizes like 1,4,16, got {text!r}")
    return parts


def main_build_engine(argv: list[str] | None = None) -> int:
    """``edge-sdk build-engine model.onnx``: build a TensorRT engine and print what was built."""
    p = argparse.ArgumentParser(prog="edge-sdk build-engine",
                                description="Build a TensorRT engine from an ONNX file (TensorRT 10, NVIDIA GPU).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("onnx", type=Path, help="ONNX file (fp32, or symmetric int8 Q/DQ for --int8)")
    p.add_argument("--out", type=Path, default=None, help="engine file (default: the ONNX path with .engine)")
    p.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True, help="allow fp16 kernels")
    p.add_argument("--int8", action="store_true", help="int8 from the graph's Q/DQ nodes (explicit quantization)")
    p.add_argument("--workspace-gb", type=float, default=2.0, help="builder workspace memory pool limit")
    p.add_argument("--timing-cache", type=Path, default=None, help="timing cache file, loaded and saved")
    p.add_argument("--shapes", type=_batches, default=DEFAULT_BATCHES, metavar="MIN,OPT,MAX",
                   help="batch sizes of the optimization profile when the batch is dynamic")
    p.add_argument("--check", type=Path, default=None, metavar="TABLE_CSV",
                   help="first check the ONNX against TensorRT's operator table; stop if it has offenders")
    args = p.parse_args(argv)
    out = args.out or args.onnx.with_suffix(".engine")
    try:
        if args.check is not None:
            report = check_onnx_for_tensorrt(args.onnx, args.check)
            print(format_report(report))
            if not report["ok"]:
                print(f"error: {args.onnx} has {len(report['offenders'])} TensorRT offender(s); not building",
                      file=sys.stderr)
                return 1
        mn, opt, mx = args.shapes
        report = build_engine(args.onnx, out, fp16=args.fp16, int8=args.int8, workspace_gb=args.workspace_gb,
                              timing_cache=args.timing_cache, min_shape=mn, opt_shape=opt, max_shape=mx)
    except MissingDependencyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except EdgeSDKError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    written = write_engine_manifest(args.onnx, out, report)
    print(json.dumps(report, indent=2))
    print(f"manifest: {written}" if written else
          f"note: {args.onnx} has no edge-sdk manifest, so none was written for {out}; edge_sdk.load() needs one",
          file=sys.stderr)
    return 0


__all__ = ["OpRule", "Restriction", "TensorRTBuildError", "load_operator_table", "check_onnx_for_tensorrt",
           "format_report", "build_engine", "write_engine_manifest", "tensorrt_version", "main_build_engine",
           "DEFAULT_BATCHES"]


if __name__ == "__main__":
    raise SystemExit(main_build_engine())
