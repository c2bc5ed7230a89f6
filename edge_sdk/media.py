"""Which files are media, and finding them in folders: one list of suffixes for the whole SDK.

``detect``, ``explain``, ``prepare``, export calibration and ``bench`` all read :data:`IMAGE_SUFFIXES` and
:data:`VIDEO_SUFFIXES` from here. :func:`scan` walks folders and says what it passed over: a dangling or
looping symlink, an unreadable folder, or a file that is not media each get a :class:`Skipped` entry, so a
batch job can record it instead of dropping it silently.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

# Phone photos (HEIC/HEIF, AVIF) are read through pillow-heif (the `runtime` extra).
HEIF_SUFFIXES = frozenset({".heic", ".heif", ".avif"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}) | HEIF_SUFFIXES
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


def is_image(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def kind(path) -> str:
    """``image`` or ``video`` for an existing, non-empty media file; else an error naming the file and why."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file (0 bytes)")
    if is_image(p):
        return "image"
    if is_video(p):
        return "video"
    raise InputError(f"{p}: not an image or video (unknown extension {p.suffix.lower() or '(none)'!r}); "
                     f"images: {', '.join(sorted(IMAGE_SUFFIXES))}; videos: {', '.join(sorted(VIDEO_SUFFIXES))}")


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class Scan:
    files: list[Path]
    skipped: list[Skipped]           # symlink problems and unreadable folders: each one is worth a record
    not_media: Counter               # suffix -> files in scanned folders that are not images or videos

    def warning(self) -> str | None:
        if not self.not_media:
            return None
        n = sum(self.not_media.values())
        kinds = ", ".join(f"{s or '(no suffix)'} x{c}" for s, c in self.not_media.most_common(6))
        return f"{n} file(s) in the folders are not images or videos and were skipped ({kinds})"


def scan(paths, exclude=()) -> Scan:
    """Files as given (kept even when not media: the caller's record says why they fail), folders walked
    recursively for media files, in sorted order. ``exclude``: folders whose contents are never taken (an
    output folder inside the input tree). Symlinked folders are followed once (a loop is reported)."""
    skip_roots = [Path(e).resolve() for e in exclude]
    files, skipped, not_media = [], [], Counter()

    def excluded(p: Path) -> bool:
        rp = p.resolve()
        return any(rp == e or e in rp.parents for e in skip_roots)

    for raw in paths:
        p = Path(raw)
        if p.is_symlink() and not p.exists():
            skipped.append(Skipped(str(p), "dangling symlink (its target does not exist)"))
        elif p.is_dir():
            _walk(p, files, skipped, not_media, excluded)
        else:
            files.append(p)
    return Scan(files, skipped, not_media)


def _walk(root: Path, files: list, skipped: list, not_media: Counter, excluded) -> None:
    seen: set[str] = set()

    def onerror(err: OSError) -> None:
        skipped.append(Skipped(str(err.filename), f"folder could not be read ({err.strerror or err})"))

    found = []
    for folder, dirs, names in os.walk(root, followlinks=True, onerror=onerror):
        real = os.path.realpath(folder)
        if real in seen:
            skipped.append(Skipped(folder, "symlink loop (this folder was already scanned); not entered again"))
            dirs[:] = []
            continue
        seen.add(real)
        if excluded(Path(folder)):
            dirs[:] = []
            continue
        dirs.sort()
        for name in names:
            f = Path(folder) / name
            if f.is_symlink() and not f.exists():
                skipped.append(Skipped(str(f), "dangling symlink (its target does not exist)"))
            elif f.suffix.lower() in MEDIA_SUFFIXES:
                found.append(f)
            elif not name.startswith("."):
                not_media[f.suffix.lower()] += 1
    files += sorted(found)


__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "HEIF_SUFFIXES", "MEDIA_SUFFIXES", "is_image", "is_video", "kind",
           "scan", "Scan", "Skipped"]
