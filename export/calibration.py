"""Calibration and parity inputs, made by the runtime's own face detector and crop spec.

Sources: a folder (or file) of images (face photos or ready-made crops) and/or videos; ``"packaged"``, the real
face photos that ship inside installed packages (:mod:`edge_sdk.samples`), the default when none is given; and
``"random"``, noise, only when asked for by name (warned). Each image goes through face detection and is
cropped by the crop spec; an image without a detected face is taken as a ready-made crop (the whole image
through the same resize). Videos give a few frames each.

The parity set (:func:`parity_inputs`) covers what devices see, not only clean faces: every face crop, the whole
frame through the same resize, and each crop at brightness and contrast extremes, heavily JPEG-compressed and in
grey. Parity verdicts are the worst case over all of them (an XNNPACK program that passes random tensors can
still diverge on photos).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_sdk.errors import InputError
from edge_sdk.media import is_image, is_video, scan
from edge_sdk.preprocess import CropSpec, load_image
from edge_sdk.video import sample_frames

PACKAGED, RANDOM = "packaged", "random"


@dataclass
class CropSet:
    """Model-ready inputs (N, 3, S, S) or clips (N, T, 3, S, S) float32, labels where the folder names say (real/
    fake/), provenance; ``rgb``: the uint8 crops behind ``x`` (frame models); ``kinds``: what each input is."""

    x: np.ndarray
    labels: np.ndarray | None
    summary: dict
    files: list[str] = field(default_factory=list)
    rgb: np.ndarray | None = None
    kinds: list[str] | None = None

    def batches(self, size: int = 1):
        for i in range(0, len(self.x), size):
            yield self.x[i:i + size]

    def head(self, n: int) -> "CropSet":
        return CropSet(self.x[:n], None if self.labels is None else self.labels[:n],
                       {**self.summary, "crops": int(min(n, len(self.x)))}, self.files[:n],
                       None if self.rgb is None else self.rgb[:n], None if self.kinds is None else self.kinds[:n])


def _label(path: Path, root: Path) -> int | None:
    try:
        parts = {p.lower() for p in path.relative_to(root).parts[:-1]}
    except ValueError:
        return None
    if "fake" in parts:
        return 1
    if "real" in parts:
        return 0
    return None


def _files(source) -> tuple[list[Path], Path, str]:
    """(media files, the root labels are read under, a description) of a source."""
    if str(source) == PACKAGED:
        from edge_sdk.samples import describe, require_packaged

        photos = require_packaged()
        files = [photos[k] for k in sorted(photos)]
        return files, files[0].parent, f"face photos shipped in installed packages: {describe()}"
    root = Path(source)
    if not root.exists():
        raise InputError(f"calibration data {root}: no such file or folder")
    files = scan([root]).files
    if not files:
        raise InputError(f"calibration data {root}: no images or videos found")
    return files, root if root.is_dir() else root.parent, str(root)


def _noise(spec: CropSpec, n: int) -> CropSet:
    warnings.warn("calibrating on random noise: quantized accuracy on real faces is unknown; "
                  "give a folder of face images or videos instead", stacklevel=3)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (n, spec.size, spec.size, 3), dtype=np.uint8)
    return CropSet(spec.to_tensor(rgb), None, {"source": RANDOM, "crops": n, "warning": "random noise, not faces"},
                   rgb=rgb, kinds=["noise"] * n)


def face_crops(source: str | Path, spec: CropSpec, limit: int = 512, frames_per_video: int = 4,
               face_model: str | None = None, whole_frames: bool = False) -> CropSet:
    """Crops from a folder (recursive), one file or ``"packaged"``, at most ``limit``; ``"random"`` for noise
    (warned). ``whole_frames``: each image also as a whole frame through the same resize."""
    if str(source) == RANDOM:
        return _noise(spec, min(limit, 64))
    from edge_sdk.faces import FaceDetector

    files, base, described = _files(source)
    crops, labels, used, kinds, skipped = [], [], [], [], []
    faces_found = whole_images = 0
    whole = replace(spec, margin=0.0, align="box", template=())  # the image as it is, whatever the face crops
    with FaceDetector(face_model) as det:
        for f in files:
            if len(crops) >= limit:
                break
            try:
                if is_video(f):
                    frames = [rgb for _, _, _, rgb in sample_frames(f, frames=frames_per_video)]
                else:
                    frames = [load_image(f)]
            except Exception as err:  # a calibration set keeps going past a bad file, and says so
                skipped.append(f"{f}: {err}")
                continue
            for rgb in frames:
                h, w = rgb.shape[:2]
                found = det.detect(rgb)
                if found:
                    faces_found += 1
                    crops.append(spec.crop(rgb, found[0].box, found[0].keypoints))
                    kinds.append("face")
                elif is_image(f):
                    whole_images += 1
                    crops.append(whole.crop(rgb, (0, 0, w, h)))
                    kinds.append("crop")
                else:
                    continue
                labels.append(_label(f, base))
                used.append(str(f))
                if whole_frames and found:
                    crops.append(whole.crop(rgb, (0, 0, w, h)))
                    kinds.append("whole_frame")
                    labels.append(labels[-1])
                    used.append(str(f))
    if not crops:
        raise InputError(f"calibration data {source}: no usable crop in {len(files)} files ({len(skipped)} unreadable)")
    if skipped:
        print(f"calibration: skipped {len(skipped)} unreadable files, e.g. {skipped[0]}", file=sys.stderr)
    rgb = np.stack(crops[:limit])
    lab = None if any(v is None for v in labels) else np.asarray(labels[:limit])
    summary = {"source": described, "files": len(files), "crops": int(len(rgb)), "faces_detected": faces_found,
               "whole_images_as_crops": whole_images, "skipped": len(skipped),
               "labels": None if lab is None else {"real": int((lab == 0).sum()), "fake": int((lab == 1).sum())}}
    return CropSet(spec.to_tensor(rgb), lab, summary, used[:limit], rgb=rgb, kinds=kinds[:limit])


# What devices see besides clean crops (each applied to every face crop of the parity set).
def _jpeg(rgb: np.ndarray, quality: int = 8) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1] if ok else rgb


def _scale(rgb: np.ndarray, gain: float, contrast: float = 1.0) -> np.ndarray:
    x = rgb.astype(np.float32)
    m = x.mean()
    return np.clip((x - m) * contrast + m * gain + 0.5, 0, 255).astype(np.uint8)


def _grey(rgb: np.ndarray) -> np.ndarray:
    y = (rgb.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)
    return np.repeat(y[..., None], 3, axis=2)


VARIANTS = {"dark": lambda c: _scale(c, 0.25), "bright": lambda c: _scale(c, 1.9),
            "low_contrast": lambda c: _scale(c, 1.0, 0.25), "high_contrast": lambda c: _scale(c, 1.0, 2.5),
            "jpeg_q8": _jpeg, "grey": _grey}


def parity_inputs(source, spec: CropSpec, limit: int = 64, face_model: str | None = None) -> CropSet:
    """The parity set: face crops of ``source`` (default: the packaged photos) and whole frames, then each face
    crop dark, bright, at low and high contrast, JPEG quality 8 and grey; at most ``limit`` base crops."""
    base = face_crops(source, spec, limit=limit, face_model=face_model, whole_frames=str(source) != RANDOM)
    if str(source) == RANDOM:
        return base
    rgb, kinds = list(base.rgb), list(base.kinds)
    labels = None if base.labels is None else list(base.labels)
    files = list(base.files)
    for k in range(len(base.rgb)):
        if base.kinds[k] not in ("face", "crop"):
            continue
        for name, fn in VARIANTS.items():
            rgb.append(fn(base.rgb[k]))
            kinds.append(name)
            files.append(base.files[k])
            if labels is not None:
                labels.append(base.labels[k])
    rgb = np.stack(rgb)
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    summary = {**base.summary, "crops": int(len(rgb)), "kinds": counts,
               "note": "face crops and whole frames, each face crop also dark, bright, low/high contrast, JPEG q8, "
                       "grey; the verdict is the worst case over all"}
    return CropSet(spec.to_tensor(rgb), None if labels is None else np.asarray(labels), summary, files, rgb, kinds)


def face_clips(source: str | Path, spec: CropSpec, frames: int, stride: int = 1, limit: int = 64,
               face_model: str | None = None) -> CropSet:
    """Clips (N, T, 3, S, S) for a clip model: from each video, windows of ``frames`` crops ``stride`` frames apart,
    the largest face of each frame; a window where a frame has no face is not used (never invented). Still
    images cannot make clips and are passed over. ``"random"``: noise clips (warned)."""
    if str(source) == RANDOM:
        warnings.warn("clips of random noise: give a folder of face videos instead", stacklevel=2)
        rng = np.random.default_rng(0)
        n = min(limit, 8)
        x = np.stack([spec.to_tensor(rng.integers(0, 256, (frames, spec.size, spec.size, 3), dtype=np.uint8))
                      for _ in range(n)])
        return CropSet(x, None, {"source": RANDOM, "crops": n, "frames": frames, "warning": "random noise, not faces"},
                       kinds=["noise"] * n)
    from edge_sdk.faces import FaceDetector

    if str(source) == PACKAGED:
        raise InputError(f"a clip model needs videos ({frames} frames of one face) for calibration and parity; the "
                         "packaged photos are stills: give --calib / --verify-data with a folder of face videos")
    root = Path(source)
    if not root.exists():
        raise InputError(f"clip data {root}: no such file or folder")
    videos = [f for f in scan([root]).files if is_video(f)]
    if not videos:
        raise InputError(f"clip data {root}: no videos found (a clip model needs {frames} frames of one face)")
    clips, labels, used, skipped = [], [], [], 0
    base = root if root.is_dir() else root.parent
    for f in videos:
        if len(clips) >= limit:
            break
        with FaceDetector(face_model, mode="video") as det:
            window = []
            for _, index, ts, rgb in sample_frames(f, every=stride):
                found = det.detect(rgb, timestamp_ms=ts)
                if not found:
                    window, skipped = [], skipped + 1
                    continue
                window.append(spec.crop(rgb, found[0].box, found[0].keypoints))
                if len(window) == frames:
                    clips.append(spec.to_tensor(np.stack(window)))
                    labels.append(_label(f, base))
                    used.append(str(f))
                    window = []
                    if len(clips) >= limit:
                        break
    if not clips:
        raise InputError(f"clip data {root}: no window of {frames} frames with a face in {len(videos)} videos")
    lab = None if any(v is None for v in labels) else np.asarray(labels)
    summary = {"source": str(root), "files": len(videos), "crops": len(clips), "frames": frames, "stride": stride,
               "frames_without_face": skipped,
               "labels": None if lab is None else {"real": int((lab == 0).sum()), "fake": int((lab == 1).sum())}}
    return CropSet(np.stack(clips), lab, summary, used, kinds=["clip"] * len(clips))


def model_inputs(source, prep, limit: int = 512, face_model: str | None = None, parity: bool = False) -> CropSet:
    """Inputs shaped for the prepared model: face crops (``parity``: the parity set), or clips for a clip model."""
    sig = prep.signature()
    if sig["kind"] == "clip":
        return face_clips(source, prep.crop, sig["frames"], sig["stride"] or 1, limit=min(limit, 64),
                          face_model=face_model)
    if parity:
        return parity_inputs(source, prep.crop, limit=limit, face_model=face_model)
    return face_crops(source, prep.crop, limit=limit, face_model=face_model)
