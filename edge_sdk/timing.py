"""Latency statistics, one definition for bench, the end-to-end benchmark and the camera summary."""

from __future__ import annotations

import numpy as np


def latency_stats(seconds, digits: int | None = None) -> dict:
    """Times in seconds -> milliseconds: mean, std, min, p50, p90, p99 and the count (``digits``: rounded)."""
    a = np.asarray(list(seconds), dtype=np.float64) * 1e3
    if a.size == 0:
        return {"mean": None, "std": None, "min": None, "p50": None, "p90": None, "p99": None, "n": 0}
    out = {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
           "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99))}
    if digits is not None:
        out = {k: round(v, digits) for k, v in out.items()}
    return {**out, "n": int(a.size)}
