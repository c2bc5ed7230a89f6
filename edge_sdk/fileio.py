"""Writing files so that a reader never sees half of one: one helper for every artifact, record and report.

Both helpers write beside the final path under a name unique to this process and call (``.<name>.<pid>.<random>
.tmp``), flush it to disk (fsync), and rename it into place; two processes writing the same path never share a
temporary file, and a crash leaves no file under the final name.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError



# artifacts that are folders (Core ML packages, OpenVINO IR with its weights, NCNN param + bin)
FOLDER_ARTIFACTS = (".mlpackage", ".openvino", ".ncnn", ".bundle")

def _temp_name(path: Path, suffix: str | None = None) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix or ''}")


def _check_target(path: Path, is_dir: bool = False) -> None:
    if path.is_dir() and not is_dir:
        raise InputError(f"{path}: is a folder; cannot write a file in its place")
    if path.parent.exists() and not path.parent.is_dir():
        raise InputError(f"{path}: its parent {path.parent} is a file, not a folder")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _swap_in(tmp: Path, path: Path) -> None:
    """``tmp`` takes ``path``'s place; an existing folder there (a .mlpackage) is moved aside first."""
    if tmp.is_dir() and path.is_dir():
        old = _temp_name(path, ".old")
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def finite(value):
    """A JSON-like value with every NaN or infinite float replaced by None (numpy scalars become Python numbers)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value, **kwargs) -> str:
    """``json.dumps`` that never writes the bare NaN / Infinity tokens (they are not JSON): such numbers become
    null. Callers that must not lose a non-finite number turn it into an error record first."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically (parents created); the file's mode follows the umask."""
    path = Path(path)
    _check_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def atomic_path(path: str | os.PathLike, keep_suffix: bool = True):
    """A temporary path beside ``path`` for a library to write into (a file or a folder); renamed into place when
    the block ends, deleted if it raises. ``keep_suffix``: the temporary name ends in the final suffix, for writers
    that choose the format by it (``.mp4``, ``.onnx``)."""
    path = Path(path)
    _check_target(path, is_dir=path.suffix in FOLDER_ARTIFACTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, path.suffix if keep_suffix else None)
    try:
        yield tmp
        if not tmp.exists():
            raise InputError(f"{path}: nothing was written")
        if tmp.is_file():
            _fsync(tmp)
        _swap_in(tmp, path)
    finally:
        _remove(tmp)


class LineWriter:
    """JSON Lines (or any lines) appended and flushed one record at a time, so a killed run keeps every finished
    record; ``fsync`` each line when asked (slower, survives a power cut)."""

    def __init__(self, path: str | os.PathLike, append: bool = False, fsync: bool = False):
        self.path = Path(path)
        _check_target(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a" if append else "w", encoding="utf-8")
        self.fsync, self.lines = fsync, 0

    def write(self, line: str) -> None:
        self._fh.write(line.rstrip("\n") + "\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        self.lines += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> "LineWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["write_atomic", "atomic_path", "LineWriter", "to_json", "finite"]
