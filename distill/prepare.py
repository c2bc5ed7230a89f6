"""``edge-sdk prepare``: face crops per video and an index, made by the runtime's detector and crop spec.

    edge-sdk prepare /data/FaceForensics++ --out data/ffpp --frames 20 --split-dir ffpp_splits/ --workers 8
    edge-sdk prepare /data/Celeb-DF-v2 --out data/celebdf --shard 3/16      # one array job of sixteen

For each video: ``frames`` positions spread uniformly with jitter (seeded by the video id, so a
re-run picks the same frames), the largest face of each frame found by MediaPipe, cropped by the
crop spec (20% margin, square) at ``size`` pixels, saved as JPEG under ``crops/<video id>/``.
A video is finished when its record ``videos/<video id>.json`` is written (atomically, last):
finished videos are skipped on a re-run, an unreadable one gets a record with its error and is not
retried unless ``retry_failed``. ``index.csv`` (one row per crop: video id, identities, frame, label,
method, split, box in frame pixels, the 6 BlazeFace keypoints in crop pixels, crop path) and ``prepare.json`` (layout, counts, errors, crop spec,
identity-leak check) are rebuilt from all records present, so shards can run at the same time and
any later run (or ``--index-only``) gives the complete index.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from edge_sdk.errors import InputError
from edge_sdk.fileio import write_atomic
from edge_sdk.preprocess import CropSpec

from edge_sdk.media import is_image
from edge_sdk.pipeline import parse_shard

from .datasets import VideoItem, assign_splits, identity_leaks, scan

INDEX_FIELDS = ("video_id", "crop", "label", "method", "split", "identities", "frame", "box", "keypoints",
                "face_score", "dataset", "source")


def jittered_indices(total: int, n: int, seed: int) -> list[int]:
    """``n`` frame indices over ``total``: one per equal segment, at a seeded random place inside it."""
    if total <= 0:
        return []
    n = min(n, total)
    edges = np.linspace(0, total, n + 1)
    rng = np.random.default_rng(seed)
    return sorted({min(total - 1, int(a + rng.random() * (b - a))) for a, b in zip(edges[:-1], edges[1:])})


def _frames(item: VideoItem, n: int):
    from edge_sdk.preprocess import load_image
    from edge_sdk.video import sample_frames

    if is_image(item.path):
        yield 0, load_image(item.path)
        return
    seed = zlib.crc32(item.video_id.encode())
    got = False
    for _, index, _, rgb in sample_frames(item.path, indices=lambda total: jittered_indices(total, n, seed)):
        got = True
        yield index, rgb
    if not got:
        raise InputError(f"{item.path}: no frame could be decoded")


def process(item: VideoItem, out: Path, spec: CropSpec, frames: int, det) -> dict:
    """Crops and rows for one video; raises on an unreadable file (the caller records it)."""
    import cv2

    rows, no_face = [], 0
    folder = out / "crops" / item.video_id
    for index, rgb in _frames(item, frames):
        faces = det.detect(rgb)
        if not faces:
            no_face += 1
            continue
        face = max(faces, key=lambda f: f.area)
        crop = spec.crop(rgb, face.box, face.keypoints)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise InputError(f"{item.path}: JPEG encoding of frame {index} failed")
        path = write_atomic(folder / f"{index:06d}.jpg", buf.tobytes())
        rows.append({"video_id": item.video_id, "crop": str(path.relative_to(out)), "label": item.label,
                     "method": item.method, "split": item.split, "identities": ";".join(item.identities),
                     "frame": index, "box": json.dumps([round(float(v), 1) for v in face.box]),
                     "keypoints": json.dumps(np.round(spec.map_points(face.keypoints, face.box, rgb.shape[1::-1],
                                                                      face.keypoints), 1).tolist()),
                     "face_score": round(face.score, 4),
                     "dataset": item.dataset, "source": str(item.path)})
    return {"status": "ok", "crops": len(rows), "frames_without_face": no_face, "rows": rows}


# errors a later run should simply try again (a full disk, a quota), unlike an unreadable video
TRANSIENT_ERRNO = {errno.ENOSPC, errno.EDQUOT, errno.EAGAIN, errno.EINTR}


def _transient(err: BaseException) -> bool:
    seen = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in TRANSIENT_ERRNO:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _worker(args) -> tuple[str, dict]:
    item, out, spec_dict, frames, face_model = args
    from edge_sdk.faces import FaceDetector

    spec = CropSpec.from_dict(spec_dict)
    t0 = time.perf_counter()
    try:
        with FaceDetector(face_model) as det:
            record = process(item, out, spec, frames, det)
    except Exception as err:  # recorded in the video's record; the run goes on
        record = {"status": "error", "error": f"{type(err).__name__}: {err}"[:500], "rows": [],
                  "transient": _transient(err)}
    record.update(video_id=item.video_id, source=str(item.path), seconds=round(time.perf_counter() - t0, 2),
                  split=item.split, label=item.label, method=item.method, plan=_plan(spec, frames))
    try:
        write_atomic(out / "videos" / f"{item.video_id}.json", json.dumps(record))
    except OSError as err:  # the disk filled up: nothing recorded, so the next run does this video again
        if not _transient(err):
            raise
    return item.video_id, record


def _plan(spec: CropSpec, frames: int) -> dict:
    """What a video's crops depend on: the crop spec and the frame plan (a changed one means other crops)."""
    return {"crop_spec": spec.to_dict(), "frames": frames}


def _recorded_plan(rec: dict, out: Path) -> dict | None:
    if "plan" in rec:
        return rec["plan"]
    old = out / "prepare.json"  # records from before plans were stored: the run's summary says
    if old.is_file():
        data = json.loads(old.read_text())
        return {"crop_spec": data.get("crop_spec"), "frames": data.get("frames_per_video")}
    return None


def build_index(out: Path, items: list[VideoItem], summary: dict) -> dict:
    """index.csv and prepare.json from every video record in ``out`` (all shards)."""
    rows, errors, done = [], [], 0
    for it in items:
        f = out / "videos" / f"{it.video_id}.json"
        if not f.is_file():
            continue
        done += 1
        rec = json.loads(f.read_text())
        if rec["status"] != "ok":
            errors.append({"video": rec["source"], "error": rec["error"]})
        rows += rec["rows"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INDEX_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / "index.csv", buf.getvalue())
    crops = {s: {"real": 0, "fake": 0} for s in ("train", "val", "test")}
    for r in rows:
        crops[r["split"]]["fake" if int(r["label"]) else "real"] += 1
    report = {**summary, "videos_total": len(items), "videos_done": done, "videos_failed": len(errors),
              "crops": len(rows), "crops_per_split": crops, "errors": errors,
              "identity_leaks": identity_leaks(items), "complete": done == len(items)}
    write_atomic(out / "prepare.json", json.dumps(report, indent=2) + "\n")
    return report


def prepare(root: str | Path, out: str | Path, layout: str = "auto", frames: int = 20, size: int = 384,
            margin: float | None = None, align: str = "box", split_dir: str | Path | None = None,
            compression: str | None = None,
            val: float = 0.1, test: float = 0.1, seed: int = 0, shard: str | None = None, workers: int = 1,
            retry_failed: bool = False, index_only: bool = False, face_model: str | None = None,
            progress: bool = True, force: bool = False) -> dict:
    """Run ``edge-sdk prepare``; returns the summary also written to ``out/prepare.json``.

    A re-run skips finished videos; one whose crops were made with another crop spec or frame plan is refused
    (``force``: redone). A video that failed for a transient reason (a full disk) is retried by the next run; one
    that failed otherwise only with ``retry_failed``."""
    from tqdm import tqdm

    out = Path(out)
    layout, items = scan(root, layout, split_dir, compression)
    split_summary = assign_splits(items, val=val, test=test, seed=seed)
    spec = CropSpec(size=size, align=align) if margin is None else CropSpec(size=size, margin=margin, align=align)
    i, n = parse_shard(shard)
    mine = items[i - 1::n]
    todo, changed, plan = [], [], _plan(spec, frames)
    for it in mine:
        path = out / "videos" / f"{it.video_id}.json"
        if not path.is_file():
            todo.append(it)
            continue
        rec = json.loads(path.read_text())
        done_plan = _recorded_plan(rec, out)
        if rec["status"] == "ok" and done_plan is not None and done_plan != plan:
            changed.append((it, done_plan))
        elif rec["status"] != "ok" and (retry_failed or rec.get("transient")):
            todo.append(it)
    if changed and not force:
        it, old = changed[0]
        was = f"{(old.get('crop_spec') or {}).get('size')} px crops, {old.get('frames')} frames per video"
        raise InputError(f"{out}: {len(changed)} videos (e.g. {it.video_id}) were prepared with {was}; this run asks "
                         f"for {size} px and {frames} frames (crop spec {spec.to_dict()}). Their crops would not match "
                         "the summary: use another --out, or --force to redo them")
    todo += [it for it, _ in changed]
    summary = {"root": str(root), "layout": layout, "frames_per_video": frames, "crop_spec": spec.to_dict(),
               "split_seed": seed, "splits": split_summary, "shard": f"{i}/{n}",
               "this_run": {"videos": len(mine), "skipped_as_done": len(mine) - len(todo), "processed": len(todo)}}
    if not index_only and todo:
        jobs = [(it, out, spec.to_dict(), frames, face_model) for it in todo]
        bar = tqdm(total=len(jobs), desc=f"prepare {i}/{n}", unit="video", disable=not progress, file=sys.stderr)
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for _ in pool.map(_worker, jobs):
                    bar.update()
        else:
            for job in jobs:
                _worker(job)
                bar.update()
        bar.close()
    return build_index(out, items, summary)


def read_index(out: str | Path) -> list[dict]:
    with open(Path(out) / "index.csv", newline="") as fh:
        return list(csv.DictReader(fh))


__all__ = ["prepare", "read_index", "jittered_indices", "parse_shard", "build_index", "process"]
