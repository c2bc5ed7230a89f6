"""Reading frames from video files: uniform sampling of N frames, every k-th frame, or a target fps."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def open_video(path: str | Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot be opened as a video (unreadable, truncated or not a video)")
    return cap


def sample_indices(total: int, frames: int | None = 32, every: int | None = None, fps: float | None = None,
                   src_fps: float = 30.0) -> list[int]:
    if total <= 0:
        return []
    if every:
        return list(range(0, total, every))
    if fps:
        step = max(1, round(src_fps / fps))
        return list(range(0, total, step))
    n = min(frames or 32, total)
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, n)})


def sample_frames(path: str | Path, frames: int | None = 32, every: int | None = None,
                  fps: float | None = None) -> Iterator[tuple[dict, int, int, np.ndarray]]:
    """Yield (info, frame_index, timestamp_ms, rgb) for the sampled frames, decoding sequentially.

    The container's frame count can overstate a truncated file; reading stops at the last
    decodable frame and ``info['frames_read']`` says how far it got.
    """
    import cv2

    cap = open_video(path)
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        src_fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        info = {"frame_count": total, "fps": round(src_fps, 3),
                "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}
        wanted = set(sample_indices(total, frames, every, fps, src_fps))
        last = max(wanted) if wanted else -1
        index = 0
        while index <= last:
            if not cap.grab():
                break
            if index in wanted:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    info["frames_read"] = index + 1
                    yield info, index, int(round(index * 1000.0 / src_fps)), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()
