"""What the checks read from an ONNX graph: constants, dtypes and shapes after shape inference, producers,
schema-aware attribute and input lookups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .operators import _CHECK_OUTPUT, _DTYPE_NAMES


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

