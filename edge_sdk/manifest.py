"""``manifest.json``: what an artifact is and how to feed it. One schema, in the package.

The runtime and the demo apps read it; nothing restates its numbers.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from .assets import sha256, size_bytes
from .errors import EdgeSDKError, InputError
from .fileio import write_atomic
from .preprocess import CropSpec

SCHEMA_VERSION = 1
OUTPUT_MEANING = "logit; sigmoid gives P(fake)"


class ManifestError(EdgeSDKError):
    pass


def schema() -> dict:
    return json.loads(resources.files("edge_sdk").joinpath("schemas/manifest.schema.json").read_text())


def validate(data: dict, source: str = "manifest") -> dict:
    import jsonschema

    try:
        jsonschema.validate(data, schema())
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ManifestError(f"{source}: field {where}: {err.message}") from None
    return data


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("edge-sdk", "torch", "timm", "onnx", "onnxruntime", "executorch", "coremltools", "tensorrt", "mediapipe"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def build(artifact: str | os.PathLike, *, model: str, target: str, precision: str, crop: CropSpec,
          input_shape: list, input_name: str = "input", output_name: str = "logit", input_dtype: str = "float32",
          threshold: float = 0.5, variant: str | None = None, checkpoint: str | None = None,
          parity: dict | None = None, calibration: dict | None = None, export: dict | None = None) -> dict:
    path = Path(artifact)
    data = {
        "schema_version": SCHEMA_VERSION,
        "model": {"name": model, "variant": variant or model, "checkpoint": checkpoint},
        "artifact": {"file": path.name, "sha256": sha256(path), "bytes": size_bytes(path)},
        "target": target, "precision": precision,
        "input": {"name": input_name, "shape": list(input_shape), "dtype": input_dtype,
                  "layout": "NTCHW" if len(input_shape) == 5 else "NCHW"},
        "crop": crop.to_dict(),
        "output": {"name": output_name, "meaning": OUTPUT_MEANING},
        "threshold": threshold, "versions": versions(), "parity": parity, "calibration": calibration,
        "export": export,
    }
    return validate(data)


def write(data: dict, path: str | os.PathLike) -> Path:
    """Validate and write atomically (no half-written manifest is ever left)."""
    validate(data)
    return write_atomic(path, json.dumps(data, indent=2) + "\n")


def find(artifact: str | os.PathLike) -> Path:
    """The manifest of an artifact: ``<artifact>.manifest.json``, else ``manifest.json`` beside it."""
    a = Path(artifact)
    for candidate in (a.with_name(a.name + ".manifest.json"), a.parent / "manifest.json"):
        if candidate.is_file():
            return candidate
    raise ManifestError(f"{a}: no manifest found ({a.name}.manifest.json or manifest.json beside it); "
                        "artifacts made by `edge-sdk export` carry one")


def load(artifact: str | os.PathLike, verify_sha256: bool = True) -> dict:
    a = Path(artifact)
    mpath = find(a)
    try:
        data = json.loads(mpath.read_text())
    except json.JSONDecodeError as err:
        raise ManifestError(f"{mpath}: not valid JSON ({err})") from None
    validate(data, str(mpath))
    if data["artifact"]["file"] != a.name:
        raise ManifestError(f"{mpath} describes {data['artifact']['file']!r}, not {a.name!r}")
    if not a.exists():
        raise InputError(f"{a}: artifact file is missing")
    if verify_sha256:
        digest = sha256(a)
        if digest != data["artifact"]["sha256"]:
            raise ManifestError(f"{a}: sha256 {digest[:12]}... does not match the manifest's "
                                f"{data['artifact']['sha256'][:12]}...: the file was changed or is incomplete")
    return data
