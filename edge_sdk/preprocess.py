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

``align="keypoints"`` (landmark-aligned crops, as DFD-FCG's): steps 1-4 are replaced by a similarity transform
of the face detector's first four keypoints (right eye, left eye, nose tip, mouth centre; pixel coordinates,
pixel i spanning [i, i + 1)) onto ``template`` x size (the template in units of the crop side):

a. p = the four keypoints, q = template x size; mp, mq their means; P = p - mp, Q = q - mq;
b. n = sum(Px^2 + Py^2), a = sum(Px Qx + Py Qy) / n, b = sum(Px Qy - Py Qx) / n (least squares, no reflection);
c. crop point = A p + t with A = [[a, -b], [b, a]], t = mq - A mp;
d. each crop pixel (u, v) samples the image bilinearly at A^-1 ((u + 0.5, v + 0.5) - t) - 0.5 (pixel centres),
   ``pad_value`` outside the image: OpenCV's ``warpAffine`` with the matrix [A | t + A (0.5, 0.5) - (0.5, 0.5)].

``margin``, ``square`` and ``resize`` do not apply to aligned crops: the template sets the framing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ALIGNS = ("box", "keypoints")
# DFD-FCG's mean face (aiiu-lab/DFD-FCG misc/20words_mean_face.npy, the LRW mean of 68 landmarks at 256 px), framed
# as its src/preprocess/crop_main_face.py frames a 150 px crop (centred on the mean of landmarks 15-67): the eye
# centres (36-41, 42-47), the nose tip (30) and the mouth centre (48-67), in units of the crop side, in BlazeFace's
# keypoint order (right eye, left eye, nose tip, mouth).
MEAN_FACE = ((0.3035, 0.3262), (0.6654, 0.3216), (0.4781, 0.549), (0.4851, 0.7499))


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
    align: str = "box"  # "box" (the detector's box, steps 1-4) or "keypoints" (a similarity onto ``template``)
    template: tuple = ()  # aligned crops: 4 (x, y) in units of the crop side; () with align keypoints: MEAN_FACE

    def __post_init__(self):
        if self.align not in ALIGNS:
            raise InputError(f"crop spec: align must be one of {', '.join(ALIGNS)}, got {self.align!r}")
        if self.align == "keypoints":  # the template as tuples of floats, whatever it came as (a manifest's lists)
            try:
                t = tuple(tuple(float(v) for v in pt) for pt in (self.template or MEAN_FACE))
            except (TypeError, ValueError):
                t = ()
            if len(t) != 4 or any(len(pt) != 2 or not all(math.isfinite(v) for v in pt) for pt in t):
                raise InputError(f"crop spec: template must be 4 finite (x, y) points (eyes, nose tip, mouth), got "
                                 f"{self.template!r}")
            if np.ptp(np.asarray(t), axis=0).max() < 1e-3:
                raise InputError(f"crop spec: template points {t} coincide: no transform onto them exists")
            object.__setattr__(self, "template", t)
        elif self.template:
            raise InputError("crop spec: a template is for align 'keypoints'; box crops have none")
        else:
            object.__setattr__(self, "template", ())
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
        if self.align == "box":  # box crops' manifests stay as they were
            del d["align"], d["template"]
        else:
            d["template"] = [list(pt) for pt in self.template]
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
    def alignment(self, keypoints) -> np.ndarray:
        """Aligned crops: the 2 x 3 similarity [A | t] taking image points to crop points (steps a-c)."""
        kp = np.asarray(keypoints if keypoints is not None else [], np.float64).reshape(-1, 2)
        if len(kp) < 4 or not np.isfinite(kp[:4]).all():
            raise InputError(f"an aligned crop (align 'keypoints') needs the face's 4 keypoints (right eye, left eye, "
                             f"nose tip, mouth) as finite numbers; got {len(kp)} points")
        p, q = kp[:4], np.asarray(self.template, np.float64) * self.size
        mp, mq = p.mean(0), q.mean(0)
        P, Q = p - mp, q - mq
        n = float((P ** 2).sum())
        if n < 1e-6:
            raise InputError(f"an aligned crop needs keypoints that are apart; got {np.round(p, 1).tolist()}")
        a = float((P * Q).sum()) / n
        b = float((P[:, 0] * Q[:, 1] - P[:, 1] * Q[:, 0]).sum()) / n
        A = np.array([[a, -b], [b, a]])
        return np.concatenate([A, (mq - A @ mp)[:, None]], 1)

    def crop_rect(self, box, image_wh: tuple[int, int], keypoints=None) -> tuple[int, int, int, int]:
        """Pixel rectangle (left, top, right, bottom) cut from an image of size (W, H); for aligned crops, the
        bounds of the image pixels the crop covers."""
        if self.align == "keypoints":
            return self._covered(self.alignment(keypoints), image_wh, keypoints)
        W, H = image_wh
        x0, y0, x1, y1 = (float(v) for v in box)
        cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
        if self.square:
            w = h = max(w, h)
        w, h = w * (1 + 2 * self.margin), h * (1 + 2 * self.margin)
        left, top = _round(cx - w / 2), _round(cy - h / 2)
        right, bottom = left + _round(w), top + _round(h)
        left, top, right, bottom = max(left, 0), max(top, 0), min(right, W), min(bottom, H)
        if right - left < 1 or bottom - top < 1:
            raise InputError(f"face box {tuple(round(v, 1) for v in box)} lies outside the {W}x{H} image")
        return left, top, right, bottom

    def _covered(self, M: np.ndarray, image_wh: tuple[int, int], keypoints) -> tuple[int, int, int, int]:
        """The image pixels an aligned crop of transform ``M`` covers (its corners mapped back), clipped."""
        W, H = image_wh
        corners = np.array([[0, 0], [self.size, 0], [0, self.size], [self.size, self.size]], np.float64)
        src = (corners - M[:, 2]) @ np.linalg.inv(M[:, :2]).T
        left, top = (int(math.floor(v)) for v in src.min(0))
        right, bottom = (int(math.ceil(v)) for v in src.max(0))
        left, top, right, bottom = max(left, 0), max(top, 0), min(right, W), min(bottom, H)
        if right - left < 1 or bottom - top < 1:
            raise InputError(f"the aligned crop of keypoints {np.round(np.asarray(keypoints)[:4], 1).tolist()} "
                             f"lies outside the {W}x{H} image")
        return left, top, right, bottom

    def map_points(self, points, box, image_wh: tuple[int, int], keypoints=None) -> np.ndarray:
        """Image pixel points (K, 2) -> the same points in the crop's pixels (what ``crop`` does to them)."""
        if self.align == "keypoints":
            M = self.alignment(keypoints)
            return np.asarray(points, np.float64).reshape(-1, 2) @ M[:, :2].T + M[:, 2]
        left, top, right, bottom = self.crop_rect(box, image_wh)
        pw, ph = right - left, bottom - top
        p = np.asarray(points, np.float64).reshape(-1, 2) - (left, top)
        if self.resize == "stretch":
            return p * (self.size / pw, self.size / ph)
        scale = self.size / max(ph, pw)
        nw, nh = max(1, min(self.size, _round(pw * scale))), max(1, min(self.size, _round(ph * scale)))
        return p * (nw / pw, nh / ph) + ((self.size - nw) // 2, (self.size - nh) // 2)

    def crop(self, image_rgb: np.ndarray, box, keypoints=None) -> np.ndarray:
        """uint8 RGB crop (size, size, 3) of ``box`` (aligned crops: of the face whose ``keypoints`` are given)
        from an RGB uint8 image."""
        import cv2

        H, W = image_rgb.shape[:2]
        if self.align == "keypoints":
            M = self.alignment(keypoints)
            self._covered(M, (W, H), keypoints)  # refuses a crop wholly outside the image
            M[:, 2] += M[:, :2] @ (0.5, 0.5) - 0.5  # pixel centres (step d)
            return cv2.warpAffine(image_rgb, M, (self.size, self.size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(self.pad_value,) * 3)
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
