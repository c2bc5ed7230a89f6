"""The crop spec: one definition of how a face box becomes a model input.

Training data preparation, the runtime, export calibration and the demo apps all follow it,
read from the artifact's manifest. The arithmetic is spelled out so a Kotlin or Swift
re-implementation gives the same pixels:

1. box (x0, y0, x1, y1) in pixels; centre (cx, cy); if ``square``, w = h = max(w, h);
2. margin: w' = w * (1 + 2 * margin), h' likewise (DeepGuard: 20% per side);
3. rectangle: left = floor(cx - w'/2 + 0.5), top = floor(cy - h'/2 + 0.5), width = floor(w' + 0.5),
   height = floor(h' + 0.5), then clipped to the image;
4. resize, bilinear: ``pad`` scales the longer side to ``size`` (other side floor(s * scale + 0.5))
   and centres it on a ``pad_value`` square (offset floor((size - s) / 2)); ``stretch`` resizes to
   size x size;
5. RGB order; float32 = (pixel / 255 - mean) / std, CHW. With ``normalize_in_model`` the model
   takes the 0-1 RGB tensor and normalises inside its graph.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _round(v: float) -> int:
    return int(math.floor(v + 0.5))


@dataclass(frozen=True)
class CropSpec:
    size: int = 224
    margin: float = 0.2
    square: bool = True
    resize: str = "pad"  # "pad" (isotropic + pad) or "stretch"
    pad_value: int = 0
    color_order: str = "RGB"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    normalize_in_model: bool = False
    interpolation: str = "bilinear"

    def __post_init__(self):
        if self.resize not in ("pad", "stretch"):
            raise InputError(f"crop spec: resize must be 'pad' or 'stretch', got {self.resize!r}")
        if self.color_order != "RGB":
            raise InputError(f"crop spec: only RGB colour order is supported, got {self.color_order!r}")
        if self.size <= 0 or self.margin < 0:
            raise InputError(f"crop spec: size must be > 0 and margin >= 0, got size={self.size} margin={self.margin}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CropSpec":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if k in known:
                known[k] = tuple(float(v) for v in known[k])
        return cls(**known)

    @classmethod
    def for_model(cls, pretrained_cfg: dict, **overrides) -> "CropSpec":
        """The spec for a timm model's default cfg (input size, mean, std)."""
        size = int(pretrained_cfg["input_size"][-1])
        return cls(size=size, mean=tuple(pretrained_cfg["mean"]), std=tuple(pretrained_cfg["std"]), **overrides)

    # -- geometry --------------------------------------------------------------------------
    def crop_rect(self, box, image_wh: tuple[int, int]) -> tuple[int, int, int, int]:
        """Pixel rectangle (left, top, right, bottom) cut from an image of size (W, H)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
        if self.square:
            w = h = max(w, h)
        w, h = w * (1 + 2 * self.margin), h * (1 + 2 * self.margin)
        left, top = _round(cx - w / 2), _round(cy - h / 2)
        right, bottom = left + _round(w), top + _round(h)
        W, H = image_wh
        left, top, right, bottom = max(left, 0), max(top, 0), min(right, W), min(bottom, H)
        if right - left < 1 or bottom - top < 1:
            raise InputError(f"face box {tuple(round(v, 1) for v in box)} lies outside the {W}x{H} image")
        return left, top, right, bottom

    def map_points(self, points, box, image_wh: tuple[int, int]) -> np.ndarray:
        """Image pixel points (K, 2) -> the same points in the crop's pixels (what ``crop`` does to them)."""
        left, top, right, bottom = self.crop_rect(box, image_wh)
        pw, ph = right - left, bottom - top
        p = np.asarray(points, np.float64).reshape(-1, 2) - (left, top)
        if self.resize == "stretch":
            return p * (self.size / pw, self.size / ph)
        scale = self.size / max(ph, pw)
        nw, nh = max(1, min(self.size, _round(pw * scale))), max(1, min(self.size, _round(ph * scale)))
        return p * (nw / pw, nh / ph) + ((self.size - nw) // 2, (self.size - nh) // 2)

    def crop(self, image_rgb: np.ndarray, box) -> np.ndarray:
        """uint8 RGB crop (size, size, 3) of ``box`` from an RGB uint8 image."""
        import cv2

        H, W = image_rgb.shape[:2]
        left, top, right, bottom = self.crop_rect(box, (W, H))
        patch = image_rgb[top:bottom, left:right]
        if self.resize == "stretch":
            return cv2.resize(patch, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        ph, pw = patch.shape[:2]
        scale = self.size / max(ph, pw)
        nw, nh = max(1, min(self.size, _round(pw * scale))), max(1, min(self.size, _round(ph * scale)))
        resized = cv2.resize(patch, (nw, nh), interpolation=cv2.INTER_LINEAR)
        out = np.full((self.size, self.size, 3), self.pad_value, dtype=np.uint8)
        oy, ox = (self.size - nh) // 2, (self.size - nw) // 2
        out[oy:oy + nh, ox:ox + nw] = resized
        return out

    def to_tensor(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) or (S, S, 3) uint8 crops -> (N, 3, S, S) float32 model input."""
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        x = crops.astype(np.float32) / 255.0
        if not self.normalize_in_model:
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def load_image(path: str | Path) -> np.ndarray:
    """Any still image -> RGB uint8 (H, W, 3): EXIF rotation applied; grey, alpha, palette, 16-bit handled."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
            return to_rgb8(im)
    except UnidentifiedImageError as err:
        raise InputError(f"{path}: not an image this runtime can decode") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{path}: unreadable or truncated image ({err})") from err


def to_rgb8(im) -> np.ndarray:
    """A PIL image of any mode -> RGB uint8 array; 16-bit data scaled down, alpha dropped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if a.max() > 255 else 255.0
        grey = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        grey = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()

