"""Calibration and verification crops, made by the runtime's own face detector and crop spec.

A folder of images (face photos or ready-made crops) and/or videos: each image goes through face
detection and is cropped by the artifact's crop spec; an image without a detected face is taken
as a ready-made crop (the whole image through the same resize). Videos give a few frames each.
Random data only when asked for by name (``"random"``), with a warning.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_sdk.errors import InputError
from edge_sdk.preprocess import CropSpec, load_image
from edge_sdk.video import VIDEO_SUFFIXES, sample_frames

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class CropSet:
    """Model-ready crops (N, 3, S, S) float32, labels where the folder names say (real/ fake/), and provenance."""

    x: np.ndarray
    labels: np.ndarray | None
    summary: dict
    files: list[str] = field(default_factory=list)

    def batches(self, size: int = 1):
        for i in range(0, len(self.x), size):
            yield self.x[i:i + size]


def _label(path: Path, root: Path) -> int | None:
    parts = {p.lower() for p in path.relative_to(root).parts[:-1]}
    if "fake" in parts:
        return 1
    if "real" in parts:
        return 0
    return None


def face_crops(source: str | Path, spec: CropSpec, limit: int = 512, frames_per_video: int = 4,
               face_model: str | None = None) -> CropSet:
    """Crops from a folder (recursive) or one file, at most ``limit``; ``"random"`` for noise (warned)."""
    if str(source) == "random":
        warnings.warn("calibrating on random noise: quantized accuracy on real faces is unknown; "
                      "give a folder of face images or videos instead", stacklevel=2)
        rng = np.random.default_rng(0)
        x = spec.to_tensor(rng.integers(0, 256, (min(limit, 64), spec.size, spec.size, 3), dtype=np.uint8))
        return CropSet(x, None, {"source": "random", "crops": len(x), "warning": "random noise, not faces"})
    from edge_sdk.faces import FaceDetector

    root = Path(source)
    if not root.exists():
        raise InputError(f"calibration data {root}: no such file or folder")
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    if not files:
        raise InputError(f"calibration data {root}: no images or videos found")
    crops, labels, used, skipped = [], [], [], []
    faces_found = whole_images = 0
    base = root if root.is_dir() else root.parent
    with FaceDetector(face_model) as det:
        for f in files:
            if len(crops) >= limit:
                break
            try:
                if f.suffix.lower() in VIDEO_SUFFIXES:
                    frames = [rgb for _, _, _, rgb in sample_frames(f, frames=frames_per_video)]
                else:
                    frames = [load_image(f)]
            except Exception as err:  # a calibration set keeps going past a bad file, and says so
                skipped.append(f"{f}: {err}")
                continue
            for rgb in frames:
                found = det.detect(rgb)
                if found:
                    faces_found += 1
                    crops.append(spec.crop(rgb, found[0].box))
                elif f.suffix.lower() in IMAGE_SUFFIXES:
                    whole_images += 1
                    h, w = rgb.shape[:2]
                    crops.append(replace(spec, margin=0.0).crop(rgb, (0, 0, w, h)))
                else:
                    continue
                labels.append(_label(f, base))
                used.append(str(f))
    if not crops:
        raise InputError(f"calibration data {root}: no usable crop in {len(files)} files ({len(skipped)} unreadable)")
    if skipped:
        print(f"calibration: skipped {len(skipped)} unreadable files, e.g. {skipped[0]}", file=sys.stderr)
    x = spec.to_tensor(np.stack(crops[:limit]))
    lab = None if any(v is None for v in labels) else np.asarray(labels[:limit])
    summary = {"source": str(root), "files": len(files), "crops": int(len(x)), "faces_detected": faces_found,
               "whole_images_as_crops": whole_images, "skipped": len(skipped),
               "labels": None if lab is None else {"real": int((lab == 0).sum()), "fake": int((lab == 1).sum())}}
    return CropSet(x, lab, summary, used[:limit])
