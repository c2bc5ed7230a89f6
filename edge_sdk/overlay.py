"""Drawing verdicts on frames: a box per face coloured by its verdict, P(fake), track id, and a status line."""

from __future__ import annotations

import numpy as np

FAKE_BGR, REAL_BGR, PENDING_BGR, TEXT_BGR = (40, 40, 230), (60, 190, 60), (150, 150, 150), (255, 255, 255)


def _label(bgr: np.ndarray, text: str, x: int, y: int, color, scale: float) -> None:
    import cv2

    thick = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    y = max(y, h + base + 2)
    cv2.rectangle(bgr, (x, y - h - base - 2), (x + w + 4, y), color, -1)
    cv2.putText(bgr, text, (x + 2, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_BGR, thick, cv2.LINE_AA)


def draw_faces(bgr: np.ndarray, faces, threshold: float) -> np.ndarray:
    """Draw in place. ``faces``: dicts with ``box`` and ``p_fake`` (``p_smooth`` and ``track`` if present); a face
    with no score yet (``p_fake`` None: a clip model still collecting frames) is grey, with its ``label``."""
    import cv2

    scale = max(0.4, min(bgr.shape[:2]) / 900)
    for f in faces:
        p = f.get("p_smooth", f.get("p_fake"))
        color = PENDING_BGR if p is None else FAKE_BGR if p >= threshold else REAL_BGR
        x0, y0, x1, y1 = (int(round(v)) for v in f["box"])
        cv2.rectangle(bgr, (x0, y0), (x1, y1), color, max(2, round(scale * 3)))
        text = f.get("label", "...") if p is None else f"{'FAKE' if p >= threshold else 'real'} {p:.2f}"
        if f.get("track") is not None:
            text += f" #{f['track']}"
        _label(bgr, text, x0, y0 - 2, color, scale)
    return bgr


def draw_status(bgr: np.ndarray, text: str) -> np.ndarray:
    """A status line (FPS, timings, verdict) in the top-left corner, in place."""
    _label(bgr, text, 4, 4, (30, 30, 30), max(0.4, min(bgr.shape[:2]) / 1100))
    return bgr
