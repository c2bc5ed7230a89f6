"""Labelled videos from the layouts deepfake datasets ship in, and identity-safe splits.

Layouts (``scan(root)`` tells them apart by their folders):

* FaceForensics++: ``original_sequences/<source>/<compression>/videos/000.mp4`` (real) and
  ``manipulated_sequences/<Method>/<compression>/videos/000_003.mp4`` (fake: target 000, source
  003). Its official split is three JSON files (``train.json``, ``val.json``, ``test.json``), each a
  list of id pairs; give their folder as ``split_dir``.
* Celeb-DF v2: ``Celeb-real/id0_0000.mp4``, ``YouTube-real/00000.mp4`` (real),
  ``Celeb-synthesis/id0_id16_0000.mp4`` (fake, identities id0 and id16); ``List_of_testing_videos.txt``
  (``<1 real | 0 fake> <relative path>`` per line) is the official test split.
* KoDF: ``original_videos/<person>/*.mp4`` (real) and ``synthesized_videos/<method>/<person>/*.mp4``
  (fake), as the dataset's release is organised (assumed from its documentation: not checked on the
  real dataset here).
* Generic: ``real/`` and ``fake/`` trees (subfolders of ``fake/`` name the method), or a CSV with
  columns ``path,label`` and optionally ``split``, ``identity`` (``;``-separated), ``method``.

Images in a generic tree or CSV are one-frame items. Splits are per video, and where the layout
names identities, all videos that share one (FF++ ``000_003`` links 000 and 003) stay in one split.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.errors import InputError
from edge_sdk.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES  # noqa: F401  (one list for the SDK)
from edge_sdk.media import MEDIA_SUFFIXES as MEDIA
SPLITS = ("train", "val", "test")


@dataclass
class VideoItem:
    path: Path
    video_id: str
    label: int                      # 1 fake, 0 real
    method: str                     # "real" or the manipulation
    identities: tuple[str, ...] = ()
    split: str | None = None        # official split where the layout gives one
    dataset: str = "generic"
    extra: dict = field(default_factory=dict)


def _media(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA) if folder.is_dir() else []


def _safe_id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(parts))


def detect_layout(root: Path) -> str:
    if root.is_file() and root.suffix.lower() == ".csv":
        return "csv"
    if (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir():
        return "ffpp"
    if any((root / d).is_dir() for d in ("Celeb-real", "Celeb-synthesis", "YouTube-real")):
        return "celebdf"
    if (root / "original_videos").is_dir() or (root / "synthesized_videos").is_dir():
        return "kodf"
    if (root / "real").is_dir() or (root / "fake").is_dir():
        return "generic"
    raise InputError(f"{root}: not a dataset layout edge-sdk knows (FaceForensics++ original_sequences/ "
                     "manipulated_sequences/, Celeb-DF Celeb-real/ Celeb-synthesis/, KoDF original_videos/ "
                     "synthesized_videos/, a real/ fake/ tree, or a CSV with path,label)")


def _ffpp(root: Path, split_dir: Path | None, compression: str | None) -> list[VideoItem]:
    items = []
    for kind, label in (("original_sequences", 0), ("manipulated_sequences", 1)):
        for video in _media(root / kind):
            rel = video.relative_to(root / kind).parts  # <source|Method>/<compression>/videos/<name>
            if len(rel) < 4 or (compression and rel[1] != compression):
                continue
            ids = tuple(video.stem.split("_"))
            method = "real" if label == 0 else rel[0]
            items.append(VideoItem(video, _safe_id("ffpp", rel[0], rel[1], video.stem), label, method, ids,
                                   dataset="ffpp", extra={"compression": rel[1]}))
    if split_dir is not None:
        owner = {}
        for split in SPLITS:
            f = Path(split_dir) / f"{split}.json"
            if not f.is_file():
                raise InputError(f"FaceForensics++ split folder {split_dir}: {f.name} is missing")
            for pair in json.loads(f.read_text()):
                for i in pair:
                    owner[str(i)] = split
        for it in items:
            splits = {owner.get(i) for i in it.identities}
            it.split = splits.pop() if len(splits) == 1 else None  # ids across two official splits: left out
    return items


def _celebdf(root: Path) -> list[VideoItem]:
    items = []
    for folder, label in (("Celeb-real", 0), ("YouTube-real", 0), ("Celeb-synthesis", 1)):
        for video in _media(root / folder):
            parts = video.stem.split("_")
            ids = tuple(p for p in parts if p.startswith("id")) or (_safe_id("youtube", video.stem),)
            items.append(VideoItem(video, _safe_id("celebdf", folder, video.stem), label,
                                   "real" if label == 0 else "celeb-synthesis", ids, dataset="celebdf"))
    listing = root / "List_of_testing_videos.txt"
    if listing.is_file():
        test = {line.split()[1] for line in listing.read_text().splitlines() if len(line.split()) == 2}
        for it in items:
            if it.path.relative_to(root).as_posix() in test:
                it.split = "test"
    return items


def _kodf(root: Path) -> list[VideoItem]:
    items = []
    for video in _media(root / "original_videos"):
        person = video.relative_to(root / "original_videos").parts[0]
        items.append(VideoItem(video, _safe_id("kodf", "real", *video.relative_to(root).with_suffix("").parts[1:]), 0,
                               "real", (person,), dataset="kodf"))
    for video in _media(root / "synthesized_videos"):
        rel = video.relative_to(root / "synthesized_videos").parts
        person = rel[1] if len(rel) > 2 else video.stem
        items.append(VideoItem(video, _safe_id("kodf", *video.relative_to(root).with_suffix("").parts[1:]), 1,
                               rel[0], (person,), dataset="kodf"))
    return items


def _generic(root: Path) -> list[VideoItem]:
    items = []
    for folder, label in (("real", 0), ("fake", 1)):
        for f in _media(root / folder):
            rel = f.relative_to(root / folder)
            method = "real" if label == 0 else (rel.parts[0] if len(rel.parts) > 1 else "fake")
            items.append(VideoItem(f, _safe_id(folder, *rel.with_suffix("").parts), label, method, dataset="generic"))
    return items


def _csv(path: Path) -> list[VideoItem]:
    items = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise InputError(f"{path}: a dataset CSV needs the columns path,label (has {reader.fieldnames})")
        for n, row in enumerate(reader, 2):
            label = str(row["label"]).strip().lower()
            if label not in ("0", "1", "real", "fake"):
                raise InputError(f"{path} line {n}: label {row['label']!r} is not real/fake/0/1")
            f = Path(row["path"])
            f = f if f.is_absolute() else path.parent / f
            split = (row.get("split") or "").strip() or None
            if split is not None and split not in SPLITS:
                raise InputError(f"{path} line {n}: split {split!r} is not one of {', '.join(SPLITS)}")
            ids = tuple(i for i in (row.get("identity") or "").split(";") if i)
            lab = 1 if label in ("1", "fake") else 0
            items.append(VideoItem(f, _safe_id("csv", *Path(row["path"]).with_suffix("").parts), lab,
                                   (row.get("method") or ("fake" if lab else "real")), ids, split, dataset="csv"))
    return items


def scan(root: str | Path, layout: str = "auto", split_dir: str | Path | None = None,
         compression: str | None = None) -> tuple[str, list[VideoItem]]:
    """The labelled items under ``root`` (sorted by id) and the layout they were read as."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"dataset {root}: no such file or folder")
    layout = detect_layout(root) if layout == "auto" else layout
    readers = {"ffpp": lambda: _ffpp(root, Path(split_dir) if split_dir else None, compression),
               "celebdf": lambda: _celebdf(root), "kodf": lambda: _kodf(root), "generic": lambda: _generic(root),
               "csv": lambda: _csv(root)}
    if layout not in readers:
        raise InputError(f"unknown layout {layout!r}: choose auto, {', '.join(readers)}")
    items = sorted(readers[layout](), key=lambda it: it.video_id)
    if not items:
        raise InputError(f"dataset {root}: no videos or images found in the {layout} layout")
    seen = {}
    for it in items:
        if it.video_id in seen:
            raise InputError(f"dataset {root}: two inputs map to the id {it.video_id}: {seen[it.video_id]} and {it.path}")
        seen[it.video_id] = it.path
    return layout, items


def _groups(items: list[VideoItem]) -> dict[str, str]:
    """video id -> group key: videos linked by a shared identity (union-find) form one group."""
    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for it in items:
        keys = [f"id:{i}" for i in it.identities] or [f"video:{it.video_id}"]
        for k in keys[1:]:
            parent[find(k)] = find(keys[0])
    out = {}
    for it in items:
        keys = [f"id:{i}" for i in it.identities] or [f"video:{it.video_id}"]
        out[it.video_id] = find(keys[0])
    return out


def assign_splits(items: list[VideoItem], val: float = 0.1, test: float = 0.1, seed: int = 0) -> dict:
    """Give every item a split: the official one where given, else by a stable hash of its identity group.

    An item without an official split that shares an identity with an officially split one joins that
    split (so Celeb-DF's train videos of a test identity move to test, flagged ``joined_test_by_identity``).
    Returns a summary with the number of identity groups and the counts per split.
    """
    groups = _groups(items)
    official = {groups[it.video_id]: it.split for it in items if it.split}
    for it in items:
        g = groups[it.video_id]
        if it.split:
            continue
        if g in official:  # shares an identity with an officially split video: same split, never another
            it.split = official[g]
            if it.split == "test":
                it.extra["joined_test_by_identity"] = True
            continue
        h = int(hashlib.sha256(f"{seed}:{g}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        it.split = "test" if h < test else "val" if h < test + val else "train"
    counts = {s: {"real": 0, "fake": 0} for s in SPLITS}
    for it in items:
        counts[it.split]["fake" if it.label else "real"] += 1
    joined = sum(bool(it.extra.get("joined_test_by_identity")) for it in items)
    return {"groups": len(set(groups.values())), "counts": counts, "joined_test_by_identity": joined}


def identity_leaks(items: list[VideoItem]) -> list[str]:
    """Identities that occur in more than one split (should be empty)."""
    where: dict[str, set] = {}
    for it in items:
        for i in it.identities:
            where.setdefault(i, set()).add(it.split)
    return sorted(i for i, s in where.items() if len(s) > 1)
