"""Frame scores -> one video score, and faces tracked across sampled frames."""

from __future__ import annotations

import numpy as np

from .errors import InputError

STRATEGIES = ("mean", "vote", "confident", "segment")
SEGMENT = 8  # frames: the ``segment`` strategy's window


def aggregate(probs, strategy: str = "confident", threshold: float = 0.5, high: float = 0.8, low: float = 0.2,
              window: int = SEGMENT) -> float:
    """P(fake) of a video from its frames' P(fake).

    ``mean``: the average. ``vote``: the fraction of frames at or above ``threshold``.
    ``confident`` (selimsef's DFDC strategy, also DeepGuard's): if more than n/2.5 frames are
    above ``high``, the mean of those; else if more than 90% are below ``low``, the mean of those;
    else the mean of all. ``segment``: the highest mean over ``window`` consecutive frames (all of them when there
    are fewer), so a video with a face swapped in part of it is as fake as that part, where the others average
    the swap away with the untouched frames.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.size == 0:
        raise InputError("no frame scores to aggregate")
    if strategy == "mean":
        return float(p.mean())
    if strategy == "vote":
        return float((p >= threshold).mean())
    if strategy == "confident":
        n = p.size
        hi, lo = p[p > high], p[p < low]
        if hi.size > n / 2.5:
            return float(hi.mean())
        if lo.size > 0.9 * n:
            return float(lo.mean())
        return float(p.mean())
    if strategy == "segment":
        k = max(1, min(int(window), p.size))
        return float(np.convolve(p, np.full(k, 1.0 / k), mode="valid").max())
    raise InputError(f"unknown aggregation {strategy!r}: choose one of {', '.join(STRATEGIES)}")


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class IoUTracker:
    """Greedy IoU association: each face joins the unmatched track whose last box overlaps it most."""

    def __init__(self, min_iou: float = 0.3, max_gap: int = 5):
        self.min_iou, self.max_gap = min_iou, max_gap
        self.tracks: dict[int, dict] = {}  # id -> {"box", "last_seen"}
        self._next, self._step = 0, 0

    def update(self, boxes: list) -> list[int]:
        self._step += 1
        self.tracks = {i: t for i, t in self.tracks.items() if self._step - t["last_seen"] <= self.max_gap}
        live = self.tracks  # a long stream must not keep every face it ever saw
        pairs = sorted(((iou(b, t["box"]), j, i) for j, b in enumerate(boxes) for i, t in live.items()), reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        used = set()
        for score, j, i in pairs:
            if score < self.min_iou:
                break
            if ids[j] is None and i not in used:
                ids[j] = i
                used.add(i)
        for j, b in enumerate(boxes):
            if ids[j] is None:
                ids[j], self._next = self._next, self._next + 1
            self.tracks[ids[j]] = {"box": tuple(b), "last_seen": self._step}
        return ids  # type: ignore[return-value]


class TrackSmoother:
    """Per-track exponential moving average of P(fake): ``s = alpha * p + (1 - alpha) * s_prev``.

    A new track starts at its first score; tracks not updated for ``max_gap`` calls are forgotten.
    """

    def __init__(self, alpha: float = 0.3, max_gap: int = 30):
        if not 0 < alpha <= 1:
            raise InputError(f"smoothing alpha must be in (0, 1], got {alpha}")
        self.alpha, self.max_gap = alpha, max_gap
        self.state: dict[int, tuple[float, int]] = {}  # track -> (smoothed, last step)
        self._step = 0

    def update(self, scores: dict[int, float]) -> dict[int, float]:
        self._step += 1
        for tid, p in scores.items():
            prev = self.state.get(tid)
            s = p if prev is None else self.alpha * p + (1 - self.alpha) * prev[0]
            self.state[tid] = (s, self._step)
        self.state = {t: v for t, v in self.state.items() if self._step - v[1] <= self.max_gap}
        return {t: self.state[t][0] for t in scores}
