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
        if not (self.size > 0 and math.isfinite(self.margin) and self.margin >= 0):
            raise InputError(f"crop spec: size must be > 0 and margin >= 0, got size={self.size} margin={self.margin}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise InputError(f"crop spec: mean and std need 3 values (RGB), got {list(self.mean)} and {list(self.std)}")
        if not all(math.isfinite(v) for v in self.mean):
            raise InputError(f"crop spec: mean {list(self.mean)} has a value that is not a finite number")
        if not all(math.isfinite(v) and v > 0 for v in self.std):
            raise InputError(f"crop spec: std {list(self.std)} must be positive finite numbers (a 0 divides by zero)")

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


# The largest side an image is decoded to: bigger photos are reduced while decoding (JPEG) or right after (others),
# before any conversion, so a 9000 x 9000 image never needs gigabytes. Faces stay far above crop size.
MAX_SIDE = 4096


def _heif_opener(path: Path) -> None:
    from .media import HEIF_SUFFIXES

    if path.suffix.lower() in HEIF_SUFFIXES and path.suffix.lower() != ".avif":  # Pillow reads AVIF itself
        try:
            import pillow_heif
        except ImportError as err:
            raise InputError(f"{path}: HEIC/HEIF photos need the pillow-heif package: pip install 'edge-sdk[runtime]' "
                             "(or pip install pillow-heif)") from err
        pillow_heif.register_heif_opener()


def open_image(path: str | Path, max_side: int = MAX_SIDE) -> tuple[np.ndarray, dict]:
    """Any still image -> (RGB uint8 (H, W, 3), what was done): EXIF rotation applied; grey, alpha, palette and
    16-bit handled; images larger than ``max_side`` reduced by a whole factor while or right after decoding;
    images above Pillow's decompression-bomb limit refused. ``info``: size, reduced_by, frames (of an animated
    GIF or a multi-page TIFF, where only the first is read)."""
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    _heif_opener(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                k = max(1, math.ceil(max(w, h) / max_side))
                info = {"size": [w, h], "reduced_by": k, "frames": int(getattr(im, "n_frames", 1) or 1)}
                if k > 1 and im.format == "JPEG":
                    im.draft("RGB", (w // k, h // k))  # the decoder scales by 1/2, 1/4 or 1/8 on the way
                im.load()
                if k > 1:
                    k2 = max(1, math.ceil(max(im.size) / max_side))
                    if k2 > 1:
                        im = _reduce(im, k2)
                im = ImageOps.exif_transpose(im)
                return to_rgb8(im), info
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise InputError(f"{path}: {err} (refused: Pillow's decompression-bomb guard, {Image.MAX_IMAGE_PIXELS:,} "
                         "pixels)") from err
    except UnidentifiedImageError as err:
        raise InputError(f"{path}: not an image this runtime can decode") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{path}: unreadable or truncated image ({err})") from err


def _reduce(im, k: int):
    """``im`` smaller by a whole factor: Pillow's box reduction, or (16-bit modes ``reduce`` refuses) Pillow's box
    resize to the same size, in place of the pixels' own mode: no array copy, no conversion to float or 8 bits."""
    try:
        return im.reduce(k)
    except ValueError:
        from PIL import Image

        return im.resize((max(1, im.width // k), max(1, im.height // k)), Image.Resampling.BOX)


def load_image(path: str | Path) -> np.ndarray:
    """Any still image -> RGB uint8 (H, W, 3) (see :func:`open_image`)."""
    return open_image(path)[0]


def to_rgb8(im) -> np.ndarray:
    """A PIL image of any mode -> RGB uint8 array; 16-bit data scaled down (no float copy), alpha dropped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im)
        if a.max() > 255:  # 16-bit range: keep the top 8 bits (integer arithmetic, no float copy)
            grey = (a.astype(np.uint32) * 255 // 65535 if a.max() <= 65535 else
                    np.clip(a, 0, 65535).astype(np.uint32) * 255 // 65535).astype(np.uint8)
        else:
            grey = np.clip(a, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float32)
        grey = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
