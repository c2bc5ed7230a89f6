"""The one table of targets, like Ultralytics' ``export_formats()``: every (format, precision) declared once.

Each :class:`Target` row says what file it makes (suffix), which function exports it (``exporter``, a
``module:function`` path imported only when that target is exported), which runtime backend runs the file
(``backend``, a row of :data:`BACKENDS`), whether it needs calibration crops, what this machine lacks to run
it (``requires``: checked by :func:`unavailable`), its parity limits, and the text reports show. The
exporter, ``edge_sdk.load``, ``bench --targets``, the CLI's choices and help, the demo and the reports read
this table; no other module names a precision.

A new target is one exporter file, one backend file and one :func:`register` call (a plugin module named in
``$EDGE_SDK_PLUGINS``, comma-separated, is imported the first time the table is read, so a measuring
subprocess sees the same table).

This module is part of the torch-free runtime: it imports nothing heavy.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field

from .errors import InputError


# ---------------------------------------------------------------------------------------------- requirements
def _macos() -> str | None:
    return None if sys.platform == "darwin" else \
        "Core ML predicts only on macOS (the model converts here; bench it on a Mac or with the iOS demo)"


def _apple_device() -> str | None:
    # ExecuTorch's Python runtime from PyPI carries no Core ML delegate: such programs run in the iOS/macOS apps
    return "the Core ML delegate of ExecuTorch runs only on Apple devices (iOS/macOS apps)"


def _tensorrt() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return ("TensorRT is not installed (NVIDIA GPU or Jetson: pip install tensorrt from NVIDIA's index, then "
                "bench --targets tensorrt-fp16,tensorrt-int8 there)")
    if not any(os.path.exists(d) for d in ("/dev/nvidiactl", "/dev/nvhost-ctrl", "/dev/nvgpu")) and \
            sys.platform.startswith("linux"):
        return "TensorRT is installed but no NVIDIA GPU device is visible (/dev/nvidiactl, Jetson's /dev/nvhost-ctrl)"
    return None


def _module(name: str, extra: str):
    def check() -> str | None:
        return None if importlib.util.find_spec(name) is not None else \
            f"the '{name}' package is not installed (pip install 'edge-sdk[{extra}]')"
    return check


# name -> check returning why this machine lacks it (None: it has it)
REQUIREMENTS = {"macos": _macos, "apple-device": _apple_device, "tensorrt": _tensorrt,
                "onnxruntime": _module("onnxruntime", "runtime"), "executorch": _module("executorch", "export"),
                "torch": _module("torch", "train"), "coremltools": _module("coremltools", "export"),
                "openvino": _module("openvino", "openvino"), "ai_edge_litert": _module("ai_edge_litert", "litert"),
                "ncnn": _module("ncnn", "ncnn")}


def unavailable(requires: tuple[str, ...]) -> str | None:
    """The first reason this machine cannot meet ``requires`` (names in :data:`REQUIREMENTS`), or None."""
    for name in requires:
        why = REQUIREMENTS[name]()
        if why:
            return why
    return None


# ---------------------------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class BackendRow:
    """A runtime that runs artifact files: which suffixes it loads, its class, and what it needs here."""

    name: str
    cls: str                       # "module:Class"
    suffixes: tuple[str, ...]
    requires: tuple[str, ...] = ()

    def load_class(self):
        module, _, attr = self.cls.partition(":")
        return getattr(importlib.import_module(module), attr)


# Parity limits per kind of precision: float formats bound the logit difference; compressed ones bound decisions
# and (with labels) AUC. Speed work may never loosen them.
FLOAT32 = {"max_abs_logit": 1e-3}
# ExecuTorch fp32 is held tighter: a layout bug (pytorch/executorch#21837) once put it 8e-3 off on photos while it
# passed on random tensors; measured on the parity set it is <= 2e-5 (docs/export.md). 1e-3 stays for the other
# fp32 rows, whose error grows with the head's gain (a test model with logits spread by a x5000 head reaches 7e-4).
EXECUTORCH_FP32 = {"max_abs_logit": 1e-4}
FLOAT16 = {"max_abs_logit": 2e-2}
DECISIONS = {"min_agreement": 0.98, "max_auc_delta": 0.005}


@dataclass(frozen=True)
class Target:
    format: str                    # what `export --target` takes: onnx, executorch, ...
    precision: str                 # fp32, fp16, int8, ...
    suffix: str                    # the exported file's suffix
    backend: str                   # BACKENDS row that runs the exported file
    exporter: str | None           # "module:function"; None for the eager reference
    label: str                     # what reports call it
    calibration: bool = False      # needs calibration crops (activation quantization)
    parity: dict = field(default_factory=lambda: dict(FLOAT32))
    requires: tuple[str, ...] = ()          # to run the exported file here (parity)
    bench_requires: tuple[str, ...] | None = None  # to measure the deployed form here (default: ``requires``)
    manifest_target: str | None = None      # the manifest's "target" field (default: ``format``)
    options: dict = field(default_factory=dict)  # exporter settings of this row (e.g. the Core ML compression)
    elsewhere: str = ""            # where it is checked when not here
    short: str | None = None       # a name instead of <format>-<precision> (the eager reference is just "torch")

    @property
    def name(self) -> str:
        return self.short or f"{self.format}-{self.precision}"

    @property
    def compressed(self) -> bool:
        """Judged by decisions, not logit distance (quantized or palettized weights)."""
        return "max_abs_logit" not in self.parity

    def unavailable(self) -> str | None:
        """Why the exported file cannot be run (for parity) on this machine, or None."""
        return unavailable(self.requires + BACKENDS[self.backend].requires)

    def bench_unavailable(self) -> str | None:
        """Why the deployed form cannot be measured on this machine, or None."""
        need = self.requires if self.bench_requires is None else self.bench_requires
        return unavailable(need + BACKENDS[self.backend].requires)

    def load_exporter(self):
        if self.exporter is None:
            raise InputError(f"{self.name} is the eager PyTorch reference; it is not exported")
        module, _, attr = self.exporter.partition(":")
        return getattr(importlib.import_module(module), attr)


BACKENDS: dict[str, BackendRow] = {}
TARGETS: dict[str, Target] = {}
REFERENCE = "torch"  # bench's eager PyTorch row


def register_backend(row: BackendRow) -> BackendRow:
    for s in row.suffixes:
        other = next((b for b in BACKENDS.values() if s in b.suffixes and b.name != row.name), None)
        if other is not None:
            raise InputError(f"backend {row.name}: suffix {s} is already loaded by backend {other.name}")
    BACKENDS[row.name] = row
    return row


def register(target: Target) -> Target:
    """Add a target row (a plugin's, or a test's toy); its backend must be registered and load its suffix."""
    if target.backend not in BACKENDS:
        raise InputError(f"target {target.name}: unknown backend {target.backend!r} (register_backend it first)")
    if target.suffix not in BACKENDS[target.backend].suffixes:
        raise InputError(f"target {target.name}: backend {target.backend} does not load {target.suffix} files")
    TARGETS[target.name] = target
    return target


_ONNX, _ET, _CML = "edge_sdk.export.onnx:build", "edge_sdk.export.executorch:build", "edge_sdk.export.coreml:build"
_TRT, _OV = "edge_sdk.export.tensorrt:build", "edge_sdk.export.openvino:build"
_NCNN = dict(exporter="edge_sdk.export.ncnn:build", elsewhere="ARM phones and boards (NCNN's Vulkan and ARM kernels)")
_LITERT = dict(exporter="edge_sdk.export.litert:build", elsewhere="Android (LiteRT, the demo app's option)")
_COREML = dict(requires=("macos",), elsewhere="macOS tests, the iOS demo")
for _row in (
    BackendRow("torch", "edge_sdk.models.backend:TorchBackend", (".pt", ".pth", ".bin", ".safetensors"), ("torch",)),
    BackendRow("onnxruntime", "edge_sdk.backends.onnxruntime:OnnxRuntimeBackend", (".onnx",), ("onnxruntime",)),
    BackendRow("executorch", "edge_sdk.backends.executorch:ExecuTorchBackend", (".pte",), ("executorch", "torch")),
    BackendRow("coreml", "edge_sdk.backends.coreml:CoreMLBackend", (".mlpackage", ".mlmodel"), ("coremltools",)),
    BackendRow("tensorrt", "edge_sdk.backends.tensorrt:TensorRTBackend", (".engine", ".plan"), ("tensorrt",)),
    BackendRow("openvino", "edge_sdk.backends.openvino:OpenVINOBackend", (".openvino",), ("openvino",)),
    BackendRow("litert", "edge_sdk.backends.litert:LiteRTBackend", (".tflite",), ("ai_edge_litert",)),
    BackendRow("ncnn", "edge_sdk.backends.ncnn:NCNNBackend", (".ncnn",), ("ncnn",)),
    BackendRow("bundle", "edge_sdk.backends.bundle:BundleBackend", (".bundle",), ()),  # parts load by their suffixes
):
    register_backend(_row)
for _t in (
    Target("torch", "fp32", ".pt", "torch", None, "eager PyTorch (eval mode, as trained)", short=REFERENCE),
    Target("onnx", "fp32", ".onnx", "onnxruntime", _ONNX, "ONNX Runtime fp32"),
    Target("onnx", "fp16", ".onnx", "onnxruntime", _ONNX, "ONNX Runtime fp16 (fp32 inputs/outputs)", parity=FLOAT16,
           options={"convert": "float16"}),
    Target("onnx", "int8", ".onnx", "onnxruntime", _ONNX, "ONNX Runtime int8 (static QDQ)", calibration=True,
           parity=DECISIONS),
    Target("executorch", "fp32", ".pte", "executorch", _ET, "ExecuTorch XNNPACK fp32", parity=EXECUTORCH_FP32,
           elsewhere="Android (demo app)"),
    Target("executorch", "int8", ".pte", "executorch", _ET, "ExecuTorch XNNPACK int8 (PT2E)", calibration=True,
           parity=DECISIONS, options={"quantize": "pt2e"}, elsewhere="Android (demo app)"),
    Target("executorch-coreml", "fp16", ".pte", "executorch", _ET, "ExecuTorch Core ML delegate fp16", parity=FLOAT16,
           requires=("apple-device",), manifest_target="executorch", options={"delegate": "coreml", "compute": "fp16"},
           elsewhere="iOS (an ExecuTorch app)"),
    Target("coreml", "fp16", ".mlpackage", "coreml", _CML, "Core ML mlprogram fp16", parity=FLOAT16, **_COREML),
    Target("coreml", "fp32", ".mlpackage", "coreml", _CML, "Core ML mlprogram fp32", options={"compute": "fp32"},
           **_COREML),
    Target("coreml", "int8", ".mlpackage", "coreml", _CML, "Core ML int8 weights", parity=DECISIONS,
           options={"compression": "int8"}, **_COREML),
    Target("coreml", "palettized", ".mlpackage", "coreml", _CML, "Core ML palettized weights", parity=DECISIONS,
           options={"compression": "palettize"}, **_COREML),
    Target("coreml", "w8a8", ".mlpackage", "coreml", _CML, "Core ML W8A8 (int8 weights and activations)",
           calibration=True, parity=DECISIONS, options={"compression": "w8a8"}, **_COREML),
    Target("tensorrt", "fp16", ".onnx", "onnxruntime", _TRT, "TensorRT fp16 (its ONNX checked here)",
           bench_requires=("tensorrt",), elsewhere="Jetson / NVIDIA GPU (engine build + parity tests)"),
    Target("tensorrt", "int8", ".onnx", "onnxruntime", _TRT, "TensorRT int8 (explicit symmetric Q/DQ)",
           calibration=True, parity=DECISIONS, bench_requires=("tensorrt",),
           options={"symmetric": True, "quantize_bias": False},
           elsewhere="Jetson / NVIDIA GPU (engine build + parity tests)"),
    Target("openvino", "fp32", ".openvino", "openvino", _OV, "OpenVINO fp32 (IR, CPU plugin here)",
           elsewhere="Intel CPU / iGPU / NPU (device GPU, NPU)"),
    Target("openvino", "fp16", ".openvino", "openvino", _OV, "OpenVINO fp16 weights", parity=FLOAT16,
           options={"compress_to_fp16": True}, elsewhere="Intel CPU / iGPU / NPU (device GPU, NPU)"),
    Target("openvino", "int8", ".openvino", "openvino", _OV, "OpenVINO int8 (NNCF post-training)", calibration=True,
           parity=DECISIONS, elsewhere="Intel CPU / iGPU / NPU (device GPU, NPU)"),
    Target("litert", "fp32", ".tflite", "litert", label="LiteRT fp32 (XNNPACK)", **_LITERT),
    Target("litert", "fp16", ".tflite", "litert", label="LiteRT fp16 weights (ai-edge-quantizer)", parity=FLOAT16,
           options={"recipe": "float_casting"}, **_LITERT),
    Target("litert", "int8", ".tflite", "litert", label="LiteRT int8 (ai-edge-quantizer static, int8 I/O)",
           calibration=True, parity=DECISIONS, options={"recipe": "static_wi8_ai8"}, **_LITERT),
    Target("ncnn", "fp32", ".ncnn", "ncnn", label="NCNN fp32 (pnnx)", **_NCNN),
    Target("ncnn", "fp16", ".ncnn", "ncnn", label="NCNN fp16 weights (fp16 compute where the CPU has it)",
           parity=FLOAT16, options={"half_weights": True}, **_NCNN),
):
    register(_t)

_plugins_loaded = False


def _load_plugins() -> None:
    """Import the modules named in ``$EDGE_SDK_PLUGINS`` once; each registers its own rows."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name in filter(None, (s.strip() for s in os.environ.get("EDGE_SDK_PLUGINS", "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise InputError(f"EDGE_SDK_PLUGINS names {name!r}, which cannot be imported: {err}") from err


# ---------------------------------------------------------------------------------------------- lookups
def table() -> dict[str, Target]:
    _load_plugins()
    return TARGETS


def names(exportable: bool = False) -> list[str]:
    """Every target name in table order (``exportable``: leave out the eager reference)."""
    return [n for n, t in table().items() if not exportable or t.exporter is not None]


def formats() -> list[str]:
    """The formats ``export --target`` takes, in table order."""
    return list(dict.fromkeys(t.format for t in table().values() if t.exporter is not None))


def get(name: str) -> Target:
    t = table().get(name)
    if t is None:
        raise InputError(f"unknown target {name!r}{_did_you_mean(name, names())}: choose from {', '.join(names())}")
    return t


def select(fmt: str, precision: str | None = None) -> list[Target]:
    """The rows a request means: a format (or ``all``) and a precision (or None: every precision it has)."""
    fmts = formats()
    if fmt != "all" and fmt not in fmts:
        raise InputError(f"unknown export target {fmt!r}{_did_you_mean(fmt, fmts)}: choose one of "
                         f"{', '.join(fmts)} or all")
    rows = [t for t in table().values() if t.exporter is not None and (fmt == "all" or t.format == fmt)]
    picked = [t for t in rows if precision is None or t.precision == precision]
    if not picked:
        raise InputError(f"target {fmt} has no precision {precision!r}: it has {', '.join(t.precision for t in rows)}")
    return picked


def parse(text: str | None, default: tuple[str, ...] = ()) -> list[Target]:
    """A comma-separated list of target names (or ``all``) -> rows, in the order given."""
    if not text:
        return [get(n) for n in default]
    if text.strip() == "all":
        return list(table().values())
    return [get(n) for n in dict.fromkeys(s.strip() for s in text.split(",") if s.strip())]


def backend_for(path) -> BackendRow:
    """The backend that loads a file of this suffix."""
    from pathlib import Path

    _load_plugins()
    suffix = Path(path).suffix.lower()
    for row in BACKENDS.values():
        if suffix in row.suffixes:
            return row
    known = sorted(s for b in BACKENDS.values() for s in b.suffixes)
    raise InputError(f"{path}: unknown artifact type {suffix!r}; expected one of {', '.join(known)}")


def help_text() -> str:
    """One line per target for ``--help``: name, what it is, where it runs."""
    return "; ".join(f"{t.name} ({t.label})" for t in table().values())


def _did_you_mean(word: str, choices) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


__all__ = ["Target", "BackendRow", "TARGETS", "BACKENDS", "REFERENCE", "register", "register_backend", "table",
           "names", "formats", "get", "select", "parse", "backend_for", "unavailable", "help_text"]
