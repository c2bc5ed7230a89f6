"""Face detection with MediaPipe Tasks (BlazeFace short-range): boxes, 6 keypoints, scores.

Frames are rescaled for detection (x2 below 300 px, as DeepGuard prepares its data; above
``max_side``, down by the smallest whole factor that fits, which OpenCV's area resize does
fastest) and boxes mapped back to the frame's pixels. BlazeFace sees 128x128 whatever it is
given, so 640 px loses nothing and keeps detection near 3 ms per 720p frame. Close the detector
(``close()`` or a ``with`` block): MediaPipe's destructor fails at interpreter exit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .assets import face_model_path
from .errors import InputError

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear_tragion", "left_ear_tragion")


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))  # (6, 2) pixels

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def detection_scale(width: int, height: int, max_side: int = 640, upscale_below: int = 300) -> float:
    side = max(width, height)
    if side < upscale_below:
        return 2.0
    return 1.0 / math.ceil(side / max_side)


class FaceDetector:
    """``detect(rgb)`` for stills, ``detect(rgb, timestamp_ms=...)`` for a video's frames in order."""

    def __init__(self, model_path: str | None = None, min_confidence: float = 0.5, mode: str = "image",
                 max_side: int = 640, min_suppression: float = 0.3):
        from mediapipe.tasks.python import BaseOptions, vision

        if mode not in ("image", "video"):
            raise InputError(f"face detector mode must be 'image' or 'video', got {mode!r}")
        self.mode, self.max_side = mode, max_side
        self.model_path = str(face_model_path(model_path))
        running = vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=self.model_path), running_mode=running,
            min_detection_confidence=min_confidence, min_suppression_threshold=min_suppression)
        self._detector = vision.FaceDetector.create_from_options(options)
        self._last_ts = -1

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[Face]:
        import cv2
        import mediapipe as mp

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"face detection takes an RGB uint8 (H, W, 3) frame, got {rgb.dtype} {rgb.shape}")
        H, W = rgb.shape[:2]
        s = detection_scale(W, H, self.max_side)
        small = rgb if s == 1.0 else cv2.resize(rgb, (max(1, round(W * s)), max(1, round(H * s))),
                                                interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
        if self.mode == "video":
            ts = self._last_ts + 1 if timestamp_ms is None else int(timestamp_ms)
            ts = max(ts, self._last_ts + 1)  # MediaPipe needs strictly increasing timestamps
            self._last_ts = ts
            result = self._detector.detect_for_video(image, ts)
        else:
            result = self._detector.detect(image)
        sh, sw = small.shape[:2]
        faces = []
        for d in result.detections:
            b = d.bounding_box
            x0, y0 = max(0.0, b.origin_x / s), max(0.0, b.origin_y / s)
            x1, y1 = min(float(W), (b.origin_x + b.width) / s), min(float(H), (b.origin_y + b.height) / s)
            kps = np.array([[k.x * sw / s, k.y * sh / s] for k in d.keypoints], np.float32).reshape(-1, 2)
            faces.append(Face((x0, y0, x1, y1), float(d.categories[0].score), kps))
        return sorted(faces, key=lambda f: -f.area)

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
