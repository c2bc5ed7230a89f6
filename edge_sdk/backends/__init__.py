"""Backends, one per runtime, and ``load(path)`` which picks one from the artifact's suffix (like AutoBackend).

Which backend loads which suffix is a row of the target table (:mod:`edge_sdk.targets`).
"""

from __future__ import annotations

from pathlib import Path

from .. import manifest as _manifest
from .. import targets
from ..errors import InputError
from .base import Backend


def backend_class(path: str | Path) -> type[Backend]:
    return targets.backend_for(path).load_class()


def load(path: str | Path, verify: bool = True, **kwargs) -> Backend:
    """Load any artifact with its manifest (sha256 checked) through the backend its file type needs."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: artifact does not exist")
    cls = backend_class(path)
    return cls(path, _manifest.load(path, verify_sha256=verify), **kwargs)


__all__ = ["Backend", "load", "backend_class"]
