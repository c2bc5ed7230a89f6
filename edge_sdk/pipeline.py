"""Frames -> faces -> crops -> logits -> per-face, per-image and per-video verdicts."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .aggregate import IoUTracker, aggregate
from .backends import Backend, load
from .errors import EdgeSDKError, InputError
from .faces import FaceDetector
from .fileio import write_atomic
from .overlay import draw_faces, draw_status
from .preprocess import load_image
from .video import VIDEO_SUFFIXES, VideoWriter, sample_frames

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass
class FaceScore:
    box: tuple
    det_score: float
    logit: float
    prob: float
    keypoints: list
    track: int | None = None

    def to_dict(self) -> dict:
        d = {"box": [round(v, 1) for v in self.box], "det_score": round(self.det_score, 4),
             "logit": round(self.logit, 5), "p_fake": round(self.prob, 5), "keypoints": self.keypoints}
        if self.track is not None:
            d["track"] = self.track
        return d


class Detector:
    """Runs one artifact over images and videos, with the crop spec and threshold of its manifest."""

    def __init__(self, model: str | Path | Backend, face_model: str | None = None, min_confidence: float = 0.5,
                 threshold: float | None = None, all_faces: bool = True):
        self.backend = model if isinstance(model, Backend) else load(model)
        self.crop = self.backend.crop
        self.threshold = float(self.backend.manifest["threshold"] if threshold is None else threshold)
        self.face_model, self.min_confidence, self.all_faces = face_model, min_confidence, all_faces
        self._image_faces: FaceDetector | None = None  # made on the first image

    def close(self) -> None:
        if self._image_faces is not None:
            self._image_faces.close()
        self.backend.close()

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def verdict(self, p: float) -> str:
        return "fake" if p >= self.threshold else "real"

    def score_faces(self, rgb: np.ndarray, faces, stages: dict | None = None) -> list[FaceScore]:
        """Crop each face by the manifest's spec and score the crops in one batch.

        ``stages``: seconds spent are added to its ``crop`` and ``model`` entries.
        """
        faces = faces if self.all_faces else faces[:1]
        if not faces:
            return []
        t0 = time.perf_counter()
        batch = self.crop.to_tensor(np.stack([self.crop.crop(rgb, f.box) for f in faces]))
        t1 = time.perf_counter()
        logits = self.backend.predict(batch)
        if stages is not None:
            stages["crop"] = stages.get("crop", 0.0) + t1 - t0
            stages["model"] = stages.get("model", 0.0) + time.perf_counter() - t1
        return [FaceScore(f.box, f.score, float(l), float(sigmoid(l)), np.round(f.keypoints, 1).tolist())
                for f, l in zip(faces, logits)]

    def image(self, rgb: np.ndarray) -> dict:
        if self._image_faces is None:
            self._image_faces = FaceDetector(self.face_model, self.min_confidence, mode="image")
        t0 = time.perf_counter()
        faces = self._image_faces.detect(rgb)
        t1 = time.perf_counter()
        scored = self.score_faces(rgb, faces)
        t2 = time.perf_counter()
        timings = {"detect_ms": round((t1 - t0) * 1e3, 2), "model_ms": round((t2 - t1) * 1e3, 2)}
        if not scored:
            return {"kind": "image", "verdict": "no_face", "score": None, "faces": [], "timings": timings}
        score = max(f.prob for f in scored)
        return {"kind": "image", "verdict": self.verdict(score), "score": round(score, 5),
                "faces": [f.to_dict() for f in scored], "timings": timings}

    def annotate_image(self, rgb: np.ndarray, record: dict, out: str | Path) -> Path:
        """Write ``rgb`` with the record's boxes and verdict drawn on it as a JPEG."""
        import cv2

        bgr = draw_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), record["faces"], self.threshold)
        score = "" if record["score"] is None else f" {record['score']:.3f}"
        draw_status(bgr, f"{record['verdict']}{score}  ({self.backend.name})")
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise InputError(f"{out}: JPEG encoding failed")
        return write_atomic(out, data.tobytes())

    def video(self, path: str | Path, frames: int = 32, every: int | None = None, fps: float | None = None,
              strategy: str = "confident", annotate: str | Path | None = None) -> dict:
        """Score sampled frames; ``annotate``: also write those frames, boxes drawn, as an mp4."""
        import cv2

        tracker = IoUTracker()
        per_frame, no_face, per_track = [], [], {}
        t_detect = t_model = 0.0
        writer = None
        with FaceDetector(self.face_model, self.min_confidence, mode="video") as det, ExitStack() as stack:
            info = None
            for info, index, ts_ms, rgb in sample_frames(path, frames=frames, every=every, fps=fps):
                if annotate is not None and writer is None:
                    step = every or (max(1.0, info["fps"] / fps) if fps else max(1.0, info["frame_count"] / frames))
                    writer = stack.enter_context(VideoWriter(annotate, info["fps"] / step))
                t0 = time.perf_counter()
                faces = det.detect(rgb, timestamp_ms=ts_ms)
                t1 = time.perf_counter()
                scored = self.score_faces(rgb, faces)
                t_detect, t_model = t_detect + t1 - t0, t_model + time.perf_counter() - t1
                if not scored:
                    no_face.append(index)
                for f, tid in zip(scored, tracker.update([f.box for f in scored])):
                    f.track = tid
                    per_track.setdefault(tid, []).append(f.prob)
                per_frame.append({"frame": index, "faces": [f.to_dict() for f in scored]})
                if writer is not None:
                    bgr = draw_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), per_frame[-1]["faces"], self.threshold)
                    writer.write(draw_status(bgr, f"frame {index}  ({self.backend.name})"))
        if info is None:
            raise InputError(f"{path}: no frame could be decoded")
        timings = {"detect_ms": round(t_detect * 1e3, 1), "model_ms": round(t_model * 1e3, 1)}
        base = {"kind": "video", "frames_sampled": len(per_frame), "frames_without_face": no_face,
                "video": info, "aggregate": strategy, "frames": per_frame, "timings": timings}
        if writer is not None:
            base["annotated"] = str(annotate)
        if not per_track:
            return {**base, "verdict": "no_face", "score": None, "tracks": {}}
        tracks = {str(t): {"score": round(aggregate(p, strategy, self.threshold), 5), "frames": len(p)}
                  for t, p in per_track.items()}
        score = max(t["score"] for t in tracks.values())
        return {**base, "verdict": self.verdict(score), "score": score, "tracks": tracks}

    def path(self, path: str | Path, annotate: str | Path | None = None, **video_kwargs) -> dict:
        """One record for one file; errors become a record naming the file and the problem.

        ``annotate``: where to write the annotated copy, without suffix (.jpg or .mp4 is added).
        """
        p = Path(path)
        t0 = time.perf_counter()
        try:
            kind = media_kind(p)
            if kind == "image":
                rgb = load_image(p)
                rec = self.image(rgb)
                if annotate is not None:
                    rec["annotated"] = str(self.annotate_image(rgb, rec, f"{annotate}.jpg"))
            else:
                rec = self.video(p, annotate=None if annotate is None else f"{annotate}.mp4", **video_kwargs)
            rec = {"path": str(p), "ok": True, **rec}
        except EdgeSDKError as err:
            rec = {"path": str(p), "ok": False, "kind": "error", "error": str(err)}
        except Exception as err:  # a batch job records the failure and goes on
            rec = {"path": str(p), "ok": False, "kind": "error", "error": f"{type(err).__name__}: {err}"}
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        return rec


def media_kind(p: Path) -> str:
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file (0 bytes)")
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise InputError(f"{p}: not an image or video (unknown extension {suffix or '(none)'!r})")


def expand_paths(paths) -> list[Path]:
    """Files as given, folders recursively (media files only, sorted)."""
    out = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        else:
            out.append(p)
    return out


def annotation_names(files: list[Path], out_dir: str | Path) -> list[Path]:
    """One output stem per input in ``out_dir``: the file's stem, numbered when two inputs share it."""
    seen: dict[str, int] = {}
    names = []
    for f in files:
        n = seen.get(f.stem.lower(), 0)
        seen[f.stem.lower()] = n + 1
        names.append(Path(out_dir) / (f"{f.stem}.annotated" if n == 0 else f"{f.stem}-{n}.annotated"))
    return names


def detect(paths, model, json_out: str | Path | None = None, annotate: str | Path | None = None,
           progress: bool = True, explain: str | Path | None = None, explain_model=None, explain_weights=None,
           **kwargs) -> list[dict]:
    """``edge-sdk detect``: one record per input; see :meth:`Detector.path`.

    ``annotate``: a folder for annotated copies (images as .jpg, videos' sampled frames as .mp4).
    ``explain``: a folder for heatmaps (:mod:`edge_sdk.explain`) made with the PyTorch model behind
    ``model`` (its manifest's checkpoint) or ``explain_model``; each record gets an ``explanation``.
    """
    import json

    from tqdm import tqdm

    video_keys = {"frames", "every", "fps", "strategy"}
    video_kwargs = {k: v for k, v in kwargs.items() if k in video_keys and v is not None}
    det_kwargs = {k: v for k, v in kwargs.items() if k not in video_keys}
    files = expand_paths(paths)
    names = annotation_names(files, annotate) if annotate is not None else [None] * len(files)
    records = []
    with Detector(model, **det_kwargs) as det:
        for f, name in tqdm(list(zip(files, names)), desc="detect", unit="file", disable=not progress):
            records.append(det.path(f, annotate=name, **video_kwargs))
    if explain is not None:
        _add_explanations(records, files, explain, explain_model or model, explain_weights, det_kwargs)
    if json_out is not None:
        write_atomic(json_out, json.dumps(records, indent=2) + "\n")
    return records


def _add_explanations(records: list[dict], files: list[Path], out, model, weights, det_kwargs: dict) -> None:
    """Heatmaps for the inputs detect scored; a failure is recorded in each record, detection results stay."""
    from .explain import explain

    model = model.path if isinstance(model, Backend) else model
    ok = [f for f, r in zip(files, records) if r["ok"]]
    try:
        done = {r["path"]: r for r in explain(ok, model, out=out, weights=weights,
                                              face_model=det_kwargs.get("face_model"),
                                              min_confidence=det_kwargs.get("min_confidence", 0.5))}
    except EdgeSDKError as err:
        done, error = {}, str(err)
    else:
        error = None
    for f, r in zip(files, records):
        if not r["ok"]:
            continue
        e = done.get(str(f))
        if e is None or "error" in e:
            r["explanation"] = {"error": error or (e or {}).get("error", "not explained")}
        else:
            r["explanation"] = {"html": str(Path(out) / "index.html"), "branch": e["branch"], "method": e["method"],
                                "faces": [{k: face[k] for k in ("frame", "box", "p_fake", "overlay")}
                                          for face in e["faces"]]}
