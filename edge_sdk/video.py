"""Reading frames from video files: uniform sampling of N frames, every k-th frame, or a target fps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError
from .fileio import _check_target, _temp_name
from .media import VIDEO_SUFFIXES  # noqa: F401  (one list for the SDK)


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
                  fps: float | None = None, indices=None) -> Iterator[tuple[dict, int, int, np.ndarray]]:
    """Yield (info, frame_index, timestamp_ms, rgb) for the sampled frames, decoding sequentially.

    ``indices``: a function ``(frame_count) -> frame indices`` instead of ``frames``/``every``/``fps``.

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
        wanted = set(indices(total) if indices else sample_indices(total, frames, every, fps, src_fps))
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


class VideoWriter:
    """An mp4 written beside its final name and renamed into place by ``close()``.

    ``discard()`` (or leaving a ``with`` block by an exception) deletes it, so a half-written
    video never sits under the final name.
    """

    def __init__(self, path: str | Path, fps: float, fourcc: str = "mp4v"):
        self.path = Path(path)
        _check_target(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = _temp_name(self.path, self.path.suffix or ".mp4")  # unique to this writer
        self.fps, self.fourcc = float(fps) if fps and fps > 0 else 30.0, fourcc
        self.frames = 0
        self._writer = None

    def write(self, bgr: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            h, w = bgr.shape[:2]
            self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise InputError(f"{self.path}: cannot open a video writer (codec {self.fourcc!r}, {w}x{h})")
            self._size = (w, h)
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            raise InputError(f"{self.path}: frame size changed from {self._size} to {bgr.shape[1::-1]}")
        self._writer.write(np.ascontiguousarray(bgr))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and move it to its name; None when no frame was written."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.discard() if exc_type is not None else self.close()
