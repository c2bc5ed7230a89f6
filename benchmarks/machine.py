"""What a benchmark ran on: CPU model, usable cores, library versions, time. Stored with every result."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from datetime import datetime, timezone

LIBRARIES = ("torch", "timm", "onnx", "onnxruntime", "executorch", "coremltools", "mediapipe", "opencv-python-headless",
             "numpy")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_model(), "cores": cores,
            "machine": platform.machine(), "os": platform.platform(terse=True), "python": platform.python_version(),
            "versions": versions}
