"""The library versions recorded with every manifest and benchmark: one list."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# What produced or runs an artifact; a package that is not installed is recorded as None.
PACKAGES = ("edge-sdk", "torch", "timm", "onnx", "onnxruntime", "executorch", "coremltools", "tensorrt", "mediapipe",
            "opencv-python-headless", "numpy", "transformers", "openvino", "nncf", "ai-edge-litert", "litert-torch",
            "ncnn", "pnnx")


def versions(packages=PACKAGES, installed_only: bool = False) -> dict[str, str | None]:
    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            if not installed_only:
                out[pkg] = None
    return out
