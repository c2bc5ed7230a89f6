"""Shared fixtures: where ../shared lives, and skips with a reason where it is absent."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGE_SDK_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (set EDGE_SDK_SHARED to the shared/ folder with fixtures and samples)")
    return p


@pytest.fixture(scope="session")
def reference() -> dict:
    with open(shared_path("fixtures", "ms_eff_gcvit_reference.json")) as f:
        return json.load(f)


def deterministic_state_dict(entries: list, model_state: dict) -> dict:
    """The fixture README's rule: every float entry from a CRC32-seeded normal draw; ints kept as built."""
    import torch

    out = {}
    for name, shape, dtype in entries:
        if not dtype.startswith("float"):
            out[name] = model_state[name].clone()
            continue
        z = np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape)
        if name.endswith("running_var"):
            v = 1 + 0.25 * np.abs(z)
        elif name.endswith("running_mean"):
            v = 0.1 * z
        elif len(shape) >= 2:
            v = z / np.sqrt(np.prod(shape[1:]))
        elif name.endswith(".weight"):
            v = 1 + 0.1 * z
        else:
            v = 0.02 * z
        out[name] = torch.from_numpy(np.asarray(v, dtype=np.float32))
    return out


def reference_inputs(size: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    noise = rng.standard_normal((3, size, size))
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    grat = np.stack([2 * np.sin(2 * np.pi * f * (xx + 0.5 * yy)) for f in (3, 7, 13)])
    r = np.sqrt((xx - 0.3) ** 2 + (yy - 0.6) ** 2)
    ramp = np.stack([4 * r - 1.5, 1.5 - 3 * r, 2 * np.cos(9 * r)])
    return np.stack([noise, grat, ramp]).astype(np.float32)
