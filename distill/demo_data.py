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

from pathlib import Path

import numpy as np

from edge_sdk.errors import InputError

from edge_sdk.samples import PACKAGED, packaged_photos  # noqa: F401  (the demo's photos; re-exported)


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


def pan_zoom_clip(rgb: np.ndarray, out: str | Path, frames: int, rng: np.random.Generator | None = None,
                  size: tuple[int, int] = (480, 360), fps: float = 12.0, swap: np.ndarray | None = None,
                  swap_frames: tuple[int, int] = (0, 0)) -> Path:
    """A short video of a camera panning and zooming over a photo (left to right, zooming in and out once; ``rng``
    varies the path). Frames in ``swap_frames`` come from ``swap`` instead (the same photo with its face changed),
    which is how the demo's detect clip gets a fake segment. Written through edge_sdk.video.VideoWriter, so a
    failed clip leaves no file under its name."""
    import cv2

    from edge_sdk.video import VideoWriter

    h, w = rgb.shape[:2]
    zoom_by, x_from, x_to, y_at = (0.25, 0.3, 0.7, 0.5) if rng is None else (
        rng.uniform(0.1, 0.35), rng.uniform(0.1, 0.5), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7))
    with VideoWriter(out, fps) as writer:
        for k in range(frames):
            t = k / max(1, frames - 1)
            src = swap if swap is not None and swap_frames[0] <= k < swap_frames[1] else rgb
            zoom = 1.0 + zoom_by * np.sin(np.pi * t)
            # the frame's aspect ratio, as a camera's (a squashed face is another face: P(fake) 0.28 -> 0.68)
            fit = min(w / size[0], h / size[1])
            cw, ch = int(size[0] * fit / zoom), int(size[1] * fit / zoom)
            cx, cy = int((w - cw) * (x_from + (x_to - x_from) * t)), int((h - ch) * y_at)
            frame = cv2.resize(src[cy:cy + ch, cx:cx + cw], size, interpolation=cv2.INTER_AREA)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return Path(out)


def _read_rgb(path: Path) -> np.ndarray:
    from edge_sdk.preprocess import load_image

    rgb = load_image(path)
    return np.repeat(rgb[..., None], 3, -1) if rgb.ndim == 2 else rgb[..., :3]


def build_dataset(out: str | Path, variants: int = 40, size: int = 384, faces: str | Path | None = None,
                  videos: str | Path | None = None, frames: int = 20, seed: int = 0, progress: bool = False,
                  clips: int = 0, clip_frames: int = 8, tick=None) -> dict:
    """Write ``out/photos/<identity>/*.jpg``, ``out/dataset.csv`` and the prepared index in ``out/index``; returns
    prepare's summary with ``sources`` (per identity: where from, licence, photos written, split).
    ``clips``: also that many pan-and-zoom videos of ``clip_frames`` frames per packaged photo (for a video
    teacher, which learns from clips); every frame of them is a crop. ``frames``: frames taken from each of the
    user's videos. ``tick(fraction, message)``: a progress display."""
    import cv2

    from edge_sdk.fileio import write_atomic

    from .datasets import IMAGE_SUFFIXES, VIDEO_SUFFIXES
    from .prepare import prepare

    out = Path(out)
    rng = np.random.default_rng(seed)
    rows, sources = [], {}
    tick = tick or (lambda fraction, message: None)
    photos = packaged_photos()
    for n, (name, path) in enumerate(photos.items()):
        tick(0.5 * n / len(photos), f"{name}: {variants} photos" + (f" and {clips} pan-and-zoom clips" if clips else ""))
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
        for k in range(clips):
            target = out / "videos" / name / f"{k:03d}.mp4"
            if not target.is_file():
                pan_zoom_clip(rgb, target, clip_frames, rng)
            rows.append((target.resolve(), split, name))
        sources[name] = {"from": f"{package}: {path}", "licence": licence, "photos": variants, "split": split,
                         **({"videos": clips} if clips else {})}
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
    tick(0.5, f"prepare: finding and cropping the faces of {len(rows)} photos and videos")
    report = prepare(out / "dataset.csv", out / "index", frames=frames, size=size, seed=seed, progress=progress)
    report["sources"] = sources
    for split in ("train", "val"):
        if not report["crops_per_split"].get(split, {}).get("real"):
            raise InputError(f"{out / 'index'}: no face crops in the {split} split; add photos with --faces DIR")
    return report
