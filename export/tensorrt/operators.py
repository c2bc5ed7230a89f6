"""TensorRT 10's ONNX operator table (a CSV: ``operator,supported,types,restrictions``) parsed into rules: each
restriction sentence the wording allows becomes a named check (:data:`edge_sdk.export.tensorrt.checks.CHECKS`);
the others are reported as not checked automatically."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from edge_sdk.errors import InputError

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



@dataclass(frozen=True)
class Restriction:
    """One sentence of the table's restrictions column and, where the text allows, a check for it.

    ``check`` names an entry of :data:`edge_sdk.export.tensorrt.checks.CHECKS`; ``None`` means the sentence is
    not checked automatically and is reported as such for every node of that op.
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

