"""Teacher logits computed once per crop and kept on disk, so student epochs never run the teacher.

The cache file is named by the teacher checkpoint's sha256 and input size; inside, each crop is keyed
by the sha1 of its bytes. A changed teacher is a different file; a changed crop is a different key.
A video teacher scores clips of ``frames`` crops of one video and gives each frame its clip's logit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from edge_sdk.fileio import write_atomic

FORWARDS = {"batches": 0}  # teacher forward passes made by this process (tests read it)


def _crop_key(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def teacher_logits(cfg, rows: list[dict], student_size: int) -> dict[str, float]:
    """crop path -> teacher logit for every row, from the cache where present."""
    from edge_sdk.assets import sha256

    from .data import CropDataset, is_clip_model, load_teacher, model_norm

    teacher, name = load_teacher(cfg.teacher, cfg.teacher_model)
    size = teacher.train_size
    cache_dir = Path(cfg.cache_dir or Path(cfg.out) / "teacher_cache")
    cache_file = cache_dir / f"teacher-{sha256(cfg.teacher)[:16]}-{size}.json"
    cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    keys = {r["path"]: _crop_key(r["path"]) for r in rows}
    missing = [r for r in rows if keys[r["path"]] not in cache]
    if missing:
        ds = CropDataset(missing, size, *model_norm(teacher))
        video = is_clip_model(name)
        with torch.no_grad():
            if video:
                frames = teacher.num_frames
                by_video: dict[str, list[int]] = {}
                for k, r in enumerate(missing):
                    by_video.setdefault(r["video_id"], []).append(k)
                for ids in by_video.values():
                    ids = sorted(ids, key=lambda k: int(missing[k]["frame"]))
                    for start in range(0, len(ids), frames):
                        chunk = ids[start:start + frames]
                        clip = [ds[k][0] for k in chunk]
                        clip += [clip[-1]] * (frames - len(clip))  # a short tail repeats its last frame
                        z = float(teacher(torch.stack(clip)[None]).reshape(-1)[0])
                        FORWARDS["batches"] += 1
                        for k in chunk:
                            cache[keys[missing[k]["path"]]] = z
            else:
                for i in range(0, len(missing), 32):
                    x = torch.stack([ds[k][0] for k in range(i, min(i + 32, len(missing)))])
                    z = teacher(x).reshape(-1).tolist()
                    FORWARDS["batches"] += 1
                    for k, v in zip(range(i, i + len(z)), z):
                        cache[keys[missing[k]["path"]]] = float(v)
        write_atomic(cache_file, json.dumps(cache))
    return {p: cache[k] for p, k in keys.items()}


__all__ = ["teacher_logits", "FORWARDS"]
