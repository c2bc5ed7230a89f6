"""Training augmentation (DeepGuard's set) and self-blended pseudo-fakes (Shiohara and Yamasaki, CVPR 2022).

Every random choice comes from the ``numpy.random.Generator`` passed in, which the dataset seeds
from (run seed, epoch, sample index): the same sample in the same epoch gets the same pixels, so a
resumed run sees exactly what an uninterrupted one would. torchvision.transforms.v2 does the
geometric and photometric work where it has the transform (flip, affine, colour, JPEG, blur);
landmark cutout and self-blending need the keypoints and are written here.

BlazeFace keypoints, in crop pixels: 0 right eye, 1 left eye, 2 nose tip, 3 mouth centre,
4 right ear tragion, 5 left ear tragion.
"""

from __future__ import annotations

import numpy as np

CUTOUT_PARTS = {"eyes": (0, 1), "nose": (2,), "mouth": (3,)}


def _torch_seeded(rng: np.random.Generator):
    import torch

    return torch.Generator().manual_seed(int(rng.integers(0, 2**31 - 1)))


def photometric_geometric(crop: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Flip 0.5, affine (shift 10%, scale 0.8-1.2, rotate 10 deg) 0.5, brightness/contrast 0.15 at 0.25,
    JPEG recompression (quality 30-95) 0.3, Gaussian blur 0.1; uint8 (S, S, 3) in and out."""
    import torch
    from torchvision.transforms import v2

    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)
    state = torch.random.get_rng_state()
    torch.manual_seed(int(rng.integers(0, 2**31 - 1)))  # v2 draws from torch's global RNG; restored below
    try:
        if rng.random() < 0.5:
            x = v2.functional.horizontal_flip(x)
        if rng.random() < 0.5 * strength:
            x = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.8, 1.2))(x)
        if rng.random() < 0.25 * strength:
            x = v2.ColorJitter(brightness=0.15, contrast=0.15)(x)
        if rng.random() < 0.3 * strength:
            x = v2.JPEG(quality=(30, 95))(x)
        if rng.random() < 0.1 * strength:
            x = v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.5))(x)
    finally:
        torch.random.set_rng_state(state)
    return x.permute(1, 2, 0).numpy()


def landmark_cutout(crop: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black out one face part (eyes, nose or mouth) around its keypoints, as DeepGuard's cutout does."""
    if keypoints is None or len(keypoints) < 4:
        return crop
    out = crop.copy()
    part = list(CUTOUT_PARTS)[int(rng.integers(len(CUTOUT_PARTS)))]
    pts = keypoints[list(CUTOUT_PARTS[part])]
    s = crop.shape[0]
    half = max(2, int(s * (0.12 if part == "eyes" else 0.08)))
    x0, y0 = np.clip(pts.min(0) - half, 0, s).astype(int)
    x1, y1 = np.clip(pts.max(0) + half, 0, s).astype(int)
    out[y0:y1, x0:x1] = 0
    return out


def face_mask(size: int, keypoints: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """A soft face mask (float32 0-1): the convex hull of the keypoints (or a centred ellipse), randomly
    grown or shrunk and blurred, as self-blending needs."""
    import cv2

    mask = np.zeros((size, size), np.uint8)
    if keypoints is not None and len(keypoints) >= 3 and np.ptp(keypoints[:, 0]) > 2:
        pts = keypoints.astype(np.float64)
        centre = pts.mean(0)
        pts = centre + (pts - centre) * rng.uniform(1.1, 1.5)  # the keypoints sit inside the face: widen
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    else:
        axes = (int(size * rng.uniform(0.25, 0.35)), int(size * rng.uniform(0.3, 0.42)))
        cv2.ellipse(mask, (size // 2, size // 2), axes, 0, 0, 360, 1, -1)
    k = int(size * rng.uniform(0.02, 0.08)) * 2 + 1
    if rng.random() < 0.5:
        mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    else:
        mask = cv2.dilate(mask, np.ones((k, k), np.uint8))
    blur = int(size * rng.uniform(0.05, 0.15)) * 2 + 1
    soft = cv2.GaussianBlur(mask.astype(np.float32), (blur, blur), 0)
    return soft / max(float(soft.max()), 1e-6)


def self_blend(crop: np.ndarray, keypoints: np.ndarray | None, rng: np.random.Generator,
               full: bool = False) -> np.ndarray:
    """A pseudo-fake from one real face: a colour- and scale-jittered copy of itself blended back through a
    soft face mask, leaving the blending boundary and colour mismatch that face swaps leave.

    ``full`` (pseudo-fakes ``sbi-full``): the mask always at full weight and each channel moved by 10-30 levels
    (gain and shift the same way), as a face swap's mismatch is, where the default also makes faint blends (a
    quarter-weight mask, a near-zero shift)."""
    import cv2

    s = crop.shape[0]
    src = crop.astype(np.float32)
    if full:  # gain and shift the same way per channel: at least 10 levels off, whatever the pixel
        way = rng.choice([-1.0, 1.0], 3)
        gain, shift = 1 + way * rng.uniform(0.0, 0.15, 3), way * rng.uniform(10, 30, 3)
    else:
        gain, shift = rng.uniform(0.85, 1.15, 3), rng.uniform(-20, 20, 3)
    src = src * gain + shift  # per-channel gain and shift
    src = (src - src.mean()) * rng.uniform(0.85, 1.15) + src.mean()   # contrast
    scale, dx, dy = rng.uniform(0.95, 1.05), rng.uniform(-0.03, 0.03) * s, rng.uniform(-0.03, 0.03) * s
    m = np.float32([[scale, 0, (1 - scale) * s / 2 + dx], [0, scale, (1 - scale) * s / 2 + dy]])
    src = cv2.warpAffine(np.clip(src, 0, 255), m, (s, s), borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:  # resolution mismatch
        small = max(8, int(s * rng.uniform(0.4, 0.8)))
        src = cv2.resize(cv2.resize(src, (small, small)), (s, s))
    mask = face_mask(s, keypoints, rng)[..., None] * (1.0 if full else rng.choice([0.25, 0.5, 0.75, 1.0, 1.0, 1.0]))
    out = mask * src + (1 - mask) * crop.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def rotate_sharpen_resized_crop(crop: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """The HF ViT detectors' fine-tuning augmentation (seed 001): random rotation within +/-90 degrees, random
    sharpness adjustment, random resized crop (scale 0.8-1, back to the crop's size); uint8 (S, S, 3) in and out."""
    import torch
    from torchvision.transforms import v2

    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)
    state = torch.random.get_rng_state()
    torch.manual_seed(int(rng.integers(0, 2**31 - 1)))  # v2 draws from torch's global RNG; restored below
    try:
        if rng.random() < 0.5 * strength:
            x = v2.RandomRotation(degrees=90)(x)
        if rng.random() < 0.5 * strength:
            x = v2.functional.adjust_sharpness(x, float(rng.uniform(0.0, 2.0)))
        if rng.random() < 0.5 * strength:
            x = v2.RandomResizedCrop(size=tuple(x.shape[-2:]), scale=(0.8, 1.0), antialias=True)(x)
    finally:
        torch.random.set_rng_state(state)
    return x.permute(1, 2, 0).numpy()


POLICIES = {"deepguard": photometric_geometric, "vit_hf": rotate_sharpen_resized_crop}


def augment(crop: np.ndarray, keypoints: np.ndarray | None, rng: np.random.Generator, strength: float = 1.0,
            cutout: float = 0.5, policy: str = "deepguard") -> np.ndarray:
    """The training augmentation of one crop (landmark cutout first, while the keypoints still fit), with the
    ``policy``'s geometric and photometric transforms (:data:`POLICIES`)."""
    if cutout and rng.random() < cutout * strength:
        crop = landmark_cutout(crop, keypoints, rng)
    return POLICIES[policy](crop, rng, strength)


def mixup(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, alpha: float = 0.4) -> tuple[np.ndarray, float]:
    """DeepGuard's paired mixup: a real and its paired fake frame; returns the mix and the weight of ``a``."""
    lam = float(rng.beta(alpha, alpha))
    return (lam * a.astype(np.float32) + (1 - lam) * b.astype(np.float32) + 0.5).astype(np.uint8), lam
