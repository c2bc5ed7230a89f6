"""Backends, one per target, and ``load(path)`` which picks one from the artifact (like AutoBackend)."""

from __future__ import annotations

from pathlib import Path

from .. import manifest as _manifest
from ..errors import InputError
from .base import Backend

SUFFIXES = {
    ".onnx": ("onnxruntime", "OnnxRuntimeBackend"),
    ".pte": ("executorch", "ExecuTorchBackend"),
    ".engine": ("tensorrt", "TensorRTBackend"), ".plan": ("tensorrt", "TensorRTBackend"),
    ".mlpackage": ("coreml", "CoreMLBackend"), ".mlmodel": ("coreml", "CoreMLBackend"),
    ".pt": ("pytorch", "TorchBackend"), ".pth": ("pytorch", "TorchBackend"), ".bin": ("pytorch", "TorchBackend"),
    ".safetensors": ("pytorch", "TorchBackend"),
}


def backend_class(path: str | Path) -> type[Backend]:
    import importlib

    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unknown artifact type {suffix!r}; expected one of {', '.join(sorted(SUFFIXES))}")
    module, cls = SUFFIXES[suffix]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def load(path: str | Path, verify: bool = True, **kwargs) -> Backend:
    """Load any artifact with its manifest (sha256 checked) through the backend its file type needs."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: artifact does not exist")
    cls = backend_class(path)
    return cls(path, _manifest.load(path, verify_sha256=verify), **kwargs)


__all__ = ["Backend", "load", "backend_class", "SUFFIXES"]
