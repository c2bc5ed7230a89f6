"""The one backend interface: load an artifact with its manifest, ``predict(NCHW float32) -> logits (N,)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..preprocess import CropSpec


def require(module: str, purpose: str, package: str | None = None, extra: str | None = None):
    """Import ``module`` or raise an error naming what to install (never a silent fallback)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(package or module, purpose, extra) from err


class Backend:
    name = "base"

    max_batch: int | None = None  # a dynamic-batch backend runs at most this many inputs per call (None: all)

    def __init__(self, path: str | Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self.crop = CropSpec.from_dict(manifest["crop"])
        shape = manifest["input"]["shape"]
        self.input_shape = list(shape)
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    @property
    def device(self) -> str:
        return "cpu"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def outputs(self, batch: np.ndarray) -> np.ndarray:
        """The artifact's whole output (N, ...) for a float32 batch shaped like the manifest's input (any N): a
        bundle part's depth maps or embeddings; :meth:`predict` takes the logit from it."""
        x = np.asarray(batch)
        want = self.input_shape[1:]
        if x.ndim != len(self.input_shape) or [int(s) for s in x.shape[1:]] != [int(s) for s in want]:
            raise InputError(f"{self.name} backend ({self.path.name}) takes input (N, {', '.join(map(str, want))}), "
                             f"got {tuple(x.shape)}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        n = x.shape[0]
        if n == 0:
            return np.zeros((0,), np.float32)

        def run(chunk: np.ndarray) -> np.ndarray:
            out = np.asarray(self._run(chunk), np.float32)
            return out.reshape(len(chunk), *out.shape[1:]) if out.ndim else out.reshape(len(chunk))

        if self.fixed_batch is None:  # a dynamic batch, run in chunks of at most max_batch
            step = self.max_batch or n
            return np.concatenate([run(x[i:i + step]) for i in range(0, n, step)])
        b, outs = self.fixed_batch, []
        for i in range(0, n, b):  # fixed-batch artifacts: chunk, and pad the last chunk
            chunk = x[i:i + b]
            k = chunk.shape[0]
            if k < b:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], b - k, axis=0)])
            outs.append(run(chunk)[:k])
        return np.concatenate(outs)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N,) for a float32 batch shaped like the manifest's input (any N)."""
        out = self.outputs(batch)
        return out.reshape(len(out), -1)[:, 0] if len(out) else np.zeros((0,), np.float32)

    def close(self) -> None:
        pass

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path.name} on {self.device}>"
