"""``manifest.json``: what an artifact is and how to feed it. One schema, in the package.

The runtime and the demo apps read it; nothing restates its numbers.
"""

from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path

from .assets import sha256, size_bytes
from .card import OUTPUT_MEANING
from .errors import EdgeSDKError, InputError
from .fileio import to_json, write_atomic
from .preprocess import CropSpec
from .versions import versions

SCHEMA_VERSION = 1
# What an artifact outputs: a detector's logit, or a bundle part's depth maps or embeddings (export/bundle.py).
DEPTH_MEANING = "depth map (N, 3, H, W) in [0, 1], larger is nearer (a bundle part)"
EMBEDDING_MEANING = "embedding (N, D) (a bundle part)"
LAYOUTS = {5: "NTCHW", 4: "NCHW", 3: "NTC"}  # by input rank: clips, frames, per-frame vectors (a packed head)


class ManifestError(EdgeSDKError):
    pass


def schema() -> dict:
    return json.loads(resources.files("edge_sdk").joinpath("schemas/manifest.schema.json").read_text())


def _non_finite(value, where: str = "") -> str | None:
    """The path of the first NaN or infinite number in a JSON-like value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "(top level)"
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _non_finite(v, f"{where}/{k}" if where else str(k))
            if bad:
                return bad
    if isinstance(value, list):
        for i, v in enumerate(value):
            bad = _non_finite(v, f"{where}/{i}")
            if bad:
                return bad
    return None


def validate(data: dict, source: str = "manifest") -> dict:
    import jsonschema

    try:
        jsonschema.validate(data, schema())
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ManifestError(f"{source}: field {where}: {err.message}") from None
    for key in ("crop", "input", "threshold"):  # numbers the runtime computes with must be numbers
        bad = _non_finite(data.get(key), key)
        if bad:
            raise ManifestError(f"{source}: field {bad}: {data_at(data, bad)!r} is not a finite number")
    try:
        CropSpec.from_dict(data["crop"])
    except InputError as err:
        raise ManifestError(f"{source}: {err}") from None
    return data


def data_at(data, path: str):
    for part in path.split("/"):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def target_name(data: dict) -> str:
    """The target-table row an artifact was made by (older manifests: from target and precision)."""
    return data.get("target_name") or f"{data['target']}-{data['precision']}"


def build(artifact: str | os.PathLike, *, model: str, target: str, precision: str, crop: CropSpec,
          input_shape: list, input_name: str = "input", output_name: str = "logit", input_dtype: str = "float32",
          threshold: float = 0.5, variant: str | None = None, checkpoint: str | None = None,
          parity: dict | None = None, calibration: dict | None = None, export: dict | None = None,
          target_name: str | None = None, card: dict | None = None, weights: dict | None = None,
          signature: dict | None = None, kwargs: dict | None = None, meaning: str = OUTPUT_MEANING) -> dict:
    """The manifest of ``artifact``. ``weights``: what the weights are (default: the checkpoint, else random);
    ``card``: the model card's manifest part (family, licence); ``signature``: the input signature (clips: frames
    and stride)."""
    path = Path(artifact)
    if weights is None:
        weights = {"trained": True, "checkpoint": checkpoint, "sha256": sha256(Path(checkpoint))} \
            if checkpoint and Path(checkpoint).is_file() else \
            ({"trained": True, "checkpoint": checkpoint, "sha256": None} if checkpoint else
             {"trained": False, "note": "random initialisation: scores are meaningless"})
    clip = None
    if signature and signature.get("kind") == "clip":
        clip = {"frames": int(signature["frames"]), "stride": int(signature.get("stride") or 1)}
    data = {
        "schema_version": SCHEMA_VERSION,
        "model": {"name": model, "variant": variant or model, "checkpoint": checkpoint, "kwargs": dict(kwargs or {})},
        "artifact": {"file": path.name, "sha256": sha256(path), "bytes": size_bytes(path)},
        "target": target, "precision": precision, "target_name": target_name or f"{target}-{precision}",
        "input": {"name": input_name, "shape": list(input_shape), "dtype": input_dtype,
                  "layout": LAYOUTS[len(input_shape)], "clip": clip,
                  "streams": (signature or {}).get("streams") or [{"name": "rgb", "channels": 3}]},
        "crop": crop.to_dict(),
        "output": {"name": output_name, "meaning": meaning},
        "threshold": threshold, "weights": weights, "versions": versions(), "parity": parity,
        "calibration": calibration, "export": export,
    }
    if card is not None:
        data["card"] = card
    return validate(data)


def write(data: dict, path: str | os.PathLike) -> Path:
    """Validate and write atomically (no half-written manifest is ever left; no bare NaN token)."""
    validate(data)
    return write_atomic(path, to_json(data, indent=2) + "\n")


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
