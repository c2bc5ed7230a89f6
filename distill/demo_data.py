"""The demo's face dataset, built with no download: real face photos that ship inside installed packages.

scikit-image ships NASA's portrait of the astronaut Eileen Collins (public domain) and the
"cameraman" (CC0); matplotlib ships a portrait of Grace Hopper. Each photo becomes many training
photos by random rotation, scale, shift, flip and colour changes of the whole picture (the face
detector then finds the face again in each, as it would in new footage), plus any photos
(``faces``) and videos (``videos``) the user adds. Everything is real; the fakes are self-blends made
from these faces during training (``--pseudo-fakes sbi``), so this is a demonstration task, not
deepfake data. Crops and the index are made by ``edge-sdk prepare`` (the same function).

Splits: the packaged photos have fixed splits (astronaut and cameraman train, Grace Hopper
validates, so no person is in two splits); the user's photos and videos get identity-safe splits
from ``prepare`` (one identity per photo folder or video).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edge_sdk.errors import InputError

# name -> (package, file inside it, split, licence)
PACKAGED = {
    "astronaut": ("skimage", "data/astronaut.png", "train", "NASA, public domain"),
    "cameraman": ("skimage", "data/camera.png", "train", "CC0 (Lav Varshney)"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "val", "US Navy, public domain"),
}


def packaged_photos() -> dict[str, Path]:
    """The packaged face photos that are installed here (a missing package is skipped)."""
    found = {}
    for name, (package, rel, _, _) in PACKAGED.items():
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(list(spec.submodule_search_locations)[0]) / rel
        if path.is_file():
            found[name] = path
    return found


def photo_variant(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One new photo from a photo: rotation within 20 degrees, scale 0.75-1.25, shift up to 8%, flip, brightness,
    contrast and per-channel gain; the whole picture moves, so the detector has to find the face again."""
    import cv2

    h, w = rgb.shape[:2]
    angle, scale = rng.uniform(-20, 20), rng.uniform(0.75, 1.25)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += rng.uniform(-0.08, 0.08, 2) * (w, h)
    out = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    x = out.astype(np.float32)
    x = (x - x.mean()) * rng.uniform(0.85, 1.15) + x.mean() * rng.uniform(0.85, 1.15)
    x = x * rng.uniform(0.93, 1.07, 3)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _read_rgb(path: Path) -> np.ndarray:
    from edge_sdk.preprocess import load_image

    rgb = load_image(path)
    return np.repeat(rgb[..., None], 3, -1) if rgb.ndim == 2 else rgb[..., :3]


def build_dataset(out: str | Path, variants: int = 40, size: int = 384, faces: str | Path | None = None,
                  videos: str | Path | None = None, frames: int = 20, seed: int = 0, progress: bool = False) -> dict:
    """Write ``out/photos/<identity>/*.jpg``, ``out/dataset.csv`` and the prepared index in ``out/index``; returns
    prepare's summary with ``sources`` (per identity: where from, licence, photos written, split)."""
    import cv2

    from edge_sdk.fileio import write_atomic

    from .datasets import IMAGE_SUFFIXES, VIDEO_SUFFIXES
    from .prepare import prepare

    out = Path(out)
    rng = np.random.default_rng(seed)
    rows, sources = [], {}
    for name, path in packaged_photos().items():
        package, _, split, licence = PACKAGED[name]
        folder = out / "photos" / name
        folder.mkdir(parents=True, exist_ok=True)
        rgb = _read_rgb(path)
        for k in range(variants):
            target = folder / f"{k:03d}.jpg"
            if not target.is_file():
                img = rgb if k == 0 else photo_variant(rgb, rng)
                cv2.imwrite(str(target), cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 92])
            rows.append((target.resolve(), split, name))
        sources[name] = {"from": f"{package}: {path}", "licence": licence, "photos": variants, "split": split}
    for root, kind in ((faces, "photo"), (videos, "video")):
        if root is None:
            continue
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"--{kind}s {root}: not a folder")
        suffixes = IMAGE_SUFFIXES if kind == "photo" else VIDEO_SUFFIXES
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes)
        if not files:
            raise InputError(f"--{kind}s {root}: no {kind} files ({', '.join(sorted(suffixes))})")
        for f in files:
            # a photo's identity is its folder (one person per folder), a video's is the video
            ident = f"user:{f.parent.relative_to(root)}" if kind == "photo" else f"user:{f.relative_to(root)}"
            rows.append((f.resolve(), "", ident))
            sources.setdefault(ident, {"from": str(f.parent if kind == "photo" else f), "licence": "yours",
                                       kind + "s": 0, "split": "by prepare"})[kind + "s"] += 1
    if not rows:
        raise InputError("no face photos: install scikit-image or matplotlib (the packaged photos), "
                         "or give --faces DIR / --videos DIR")
    lines = ["path,label,split,identity"] + [f"{p},real,{s},{i}" for p, s, i in rows]
    write_atomic(out / "dataset.csv", "\n".join(lines) + "\n")
    report = prepare(out / "dataset.csv", out / "index", frames=frames, size=size, seed=seed, progress=progress)
    report["sources"] = sources
    for split in ("train", "val"):
        if not report["crops_per_split"].get(split, {}).get("real"):
            raise InputError(f"{out / 'index'}: no face crops in the {split} split; add photos with --faces DIR")
    return report
