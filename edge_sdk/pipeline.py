"""Frames -> faces -> crops -> logits -> per-face, per-image and per-video verdicts, for frame and clip models.

A frame model scores each face crop; a clip model (``input.clip`` in its manifest: T crops, ``stride`` frames
apart) scores T crops of one tracked face at a time, and a track with fewer than T crops is reported as such,
never scored. A frame model scores a video's frames as they come (latency), or ``batch_frames`` N at a time
(throughput: the crops of N frames in one backend call, the same record). :func:`detect` runs a batch of inputs
as a batch job: outputs are checked before any scoring, each record is streamed to a JSON Lines file as its input
finishes, ``resume`` skips inputs already recorded with the same model and settings, ``shard`` takes one of N
slices, and Ctrl-C ends with the records so far.
"""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import media
from .aggregate import IoUTracker, aggregate
from .backends import Backend, load
from .console import CtrlC
from .errors import EdgeSDKError, InputError
from .faces import FaceDetector
from .fileio import LineWriter, to_json, write_atomic
from .overlay import draw_faces, draw_status
from .preprocess import open_image
from .video import VideoWriter, sample_frames


def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


class NonFiniteLogit(EdgeSDKError):
    """The artifact returned NaN or an infinity: a broken artifact or manifest, never a verdict."""


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


def open_backend(model) -> Backend:
    """``model``: a Backend, or an artifact path; a zoo name or a missing file gets the command that makes one."""
    if isinstance(model, Backend):
        return model
    p = Path(str(model))
    if not p.exists() and p.suffix == "" and "/" not in str(model):
        raise InputError(f"{model!r} is a model name, not an artifact: export it first, e.g. `edge-sdk export "
                         f"--model {model} --target onnx --precision fp32 --out artifacts` then "
                         f"`--model artifacts/onnx-fp32/{model}.onnx`")
    return load(p)


def crops_per_call(backend: Backend) -> int | None:
    """The most inputs one call of a dynamic-batch artifact takes beyond what its backend chunks itself: a TensorRT
    engine's profile maximum (``export.engine.profile`` in its manifest); None: any number. A fixed batch (the
    manifest's input shape) and ``max_batch`` are chunked by the backend."""
    if backend.fixed_batch is not None:
        return None
    profile = (((backend.manifest.get("export") or {}).get("engine") or {}).get("profile")) or {}
    most = [int(p["max"][0]) for p in profile.values() if isinstance(p, dict) and p.get("max")]
    return min(most) if most else None


class Detector:
    """Runs one artifact over images and videos, with the crop spec, threshold and clip length of its manifest."""

    def __init__(self, model: str | Path | Backend, face_model: str | None = None, min_confidence: float = 0.5,
                 threshold: float | None = None, all_faces: bool = True, min_valid: int | None = None):
        self.backend = open_backend(model)
        self.min_valid = min_valid  # a masking clip model: the fewest valid frames a clip is scored with
        m = self.backend.manifest
        self.crop = self.backend.crop
        self.threshold = float(m["threshold"] if threshold is None else threshold)
        self.clip = m["input"].get("clip")  # {"frames": T, "stride": s} for a clip model, else None
        self.trained = bool((m.get("weights") or {"trained": m["model"].get("checkpoint") is not None})["trained"])
        self.face_model, self.min_confidence, self.all_faces = face_model, min_confidence, all_faces
        self.crops_per_call = crops_per_call(self.backend)
        self._image_faces: FaceDetector | None = None  # made on the first image

    @property
    def artifact(self) -> str:
        return str(self.backend.path)

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

    def logits(self, batch: np.ndarray, what: str, valid: np.ndarray | None = None) -> np.ndarray:
        """The artifact's logits for a batch (``valid``: which clip frames hold a face, for a model that masks the
        others); a NaN or infinite logit is an error naming ``what`` and the artifact."""
        out = self.backend.predict(batch) if valid is None else self.backend.predict_masked(batch, valid)
        return self.finite(out, what)

    def finite(self, out: np.ndarray, what: str) -> np.ndarray:
        """``out`` when every logit is finite, else the error naming ``what`` and the artifact."""
        bad = ~np.isfinite(out)
        if bad.any():
            raise NonFiniteLogit(f"{what}: the artifact {self.backend.path.name} returned {out[bad][0]} for "
                                 f"{int(bad.sum())} of {len(out)} inputs (a broken artifact, or a manifest whose crop "
                                 "spec makes invalid input); no verdict")
        return out

    def face_crops(self, rgb: np.ndarray, faces) -> tuple[list, np.ndarray | None]:
        """The faces to score (all, or the first) and their crops by the manifest's spec, as one model input."""
        faces = faces if self.all_faces else faces[:1]
        if not faces:
            return [], None
        return faces, self.crop.to_tensor(np.stack([self.crop.crop(rgb, f.box, f.keypoints) for f in faces]))

    def score_crops(self, frames: list[tuple[list, np.ndarray | None, str]]) -> list[list[FaceScore]]:
        """Score the crops of several frames (each ``(faces, crops, what)`` from :meth:`face_crops`) in one backend
        call, split into calls the artifact takes (a fixed batch, ``max_batch``, an engine's profile); a NaN or
        infinite logit names its frame."""
        batches = [b for _, b, _ in frames if b is not None]
        if not batches:
            return [[] for _ in frames]
        x = np.concatenate(batches)
        step = self.crops_per_call or len(x)
        z = np.concatenate([self.backend.predict(x[i:i + step]) for i in range(0, len(x), step)])
        out, i = [], 0
        for faces, b, what in frames:
            n = 0 if b is None else len(b)
            logits, i = self.finite(z[i:i + n], what), i + n
            out.append([FaceScore(f.box, f.score, float(v), float(sigmoid(v)), np.round(f.keypoints, 1).tolist())
                        for f, v in zip(faces, logits)])
        return out

    def score_faces(self, rgb: np.ndarray, faces, stages: dict | None = None, what: str = "frame") -> list[FaceScore]:
        """Crop each face by the manifest's spec and score the crops in one batch (frame models).

        ``stages``: seconds spent are added to its ``crop`` and ``model`` entries.
        """
        t0 = time.perf_counter()
        faces, batch = self.face_crops(rgb, faces)
        if batch is None:
            return []
        t1 = time.perf_counter()
        (scored,) = self.score_crops([(faces, batch, what)])
        if stages is not None:
            stages["crop"] = stages.get("crop", 0.0) + t1 - t0
            stages["model"] = stages.get("model", 0.0) + time.perf_counter() - t1
        return scored

    def _masked_clips(self, tracks: list[tuple[list[int], list]], T: int) -> tuple[np.ndarray, np.ndarray]:
        """Clips (N, T, 3, S, S) and validity (N, T) from each track's (window frames, [(frame, crop)]): a frame of
        the window without this track's face is a zero slot with valid 0 (masked by the model, never invented)."""
        S = self.crop.size
        batch, valid = np.zeros((len(tracks), T, 3, S, S), np.float32), np.zeros((len(tracks), T), np.float32)
        for n, (frames, have) in enumerate(tracks):
            got = dict(have)
            for k, index in enumerate(frames[:T]):
                if index in got:
                    batch[n, k], valid[n, k] = self.crop.to_tensor(got[index][None])[0], 1.0
        return batch, valid

    def image(self, rgb: np.ndarray, what: str = "image") -> dict:
        if self.clip:
            raise InputError(f"{what}: {self.backend.path.name} is a clip model (it scores {self.clip['frames']} frames "
                             "of one face); a still image is one frame, so it has no score. Give a video")
        if self._image_faces is None:
            self._image_faces = FaceDetector(self.face_model, self.min_confidence, mode="image")
        t0 = time.perf_counter()
        faces = self._image_faces.detect(rgb)
        t1 = time.perf_counter()
        scored = self.score_faces(rgb, faces, what=what)
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
              strategy: str = "confident", annotate: str | Path | None = None, progress=None,
              batch_frames: int = 1) -> dict:
        """Score sampled frames (a clip model: windows of T frames); ``annotate``: also write those frames, boxes
        drawn, as an mp4. ``progress(done, total)`` after each frame. ``batch_frames`` N (frame models): the crops
        of N frames in one backend call (throughput); 1 scores each frame's crops as it comes (latency). The record
        is the same either way, logits up to float noise; a clip model already scores all its clips in one call."""
        if batch_frames < 1:
            raise InputError(f"--batch-frames must be at least 1, got {batch_frames}")
        if self.clip:
            return self._video_clips(path, frames, strategy, annotate, progress)
        import cv2

        tracker = IoUTracker()
        per_frame, no_face, per_track = [], [], {}
        t_detect = t_model = 0.0
        writer, info = None, None
        pending: list[tuple[int, np.ndarray | None, tuple]] = []  # (frame index, rgb to draw, (faces, crops, what))

        def flush() -> None:  # score the pending frames' crops in one call, then finish each frame in order
            nonlocal t_model
            t0 = time.perf_counter()
            scored = self.score_crops([crops for _, _, crops in pending])
            t_model += time.perf_counter() - t0
            for (index, rgb, _), faces in zip(pending, scored):
                if not faces:
                    no_face.append(index)
                for f, tid in zip(faces, tracker.update([f.box for f in faces])):
                    f.track = tid
                    per_track.setdefault(tid, []).append(f.prob)
                per_frame.append({"frame": index, "faces": [f.to_dict() for f in faces]})
                if writer is not None:
                    bgr = draw_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), per_frame[-1]["faces"], self.threshold)
                    writer.write(draw_status(bgr, f"frame {index}  ({self.backend.name})"))
                if progress is not None:
                    progress(len(per_frame), info.get("sampled", frames))
            pending.clear()

        with FaceDetector(self.face_model, self.min_confidence, mode="video") as det, ExitStack() as stack:
            for info, index, ts_ms, rgb in sample_frames(path, frames=frames, every=every, fps=fps):
                if annotate is not None and writer is None:
                    step = every or (max(1.0, info["fps"] / fps) if fps else max(1.0, info["frame_count"] / frames))
                    writer = stack.enter_context(VideoWriter(annotate, info["fps"] / step))
                t0 = time.perf_counter()
                faces = det.detect(rgb, timestamp_ms=ts_ms)
                t1 = time.perf_counter()
                crops = (*self.face_crops(rgb, faces), f"{path} frame {index}")
                t_detect, t_model = t_detect + t1 - t0, t_model + time.perf_counter() - t1
                pending.append((index, rgb if writer is not None else None, crops))
                if len(pending) >= batch_frames:
                    flush()
            if pending:
                flush()
        if info is None:
            raise InputError(f"{path}: no frame could be decoded")
        timings = {"detect_ms": round(t_detect * 1e3, 1), "model_ms": round(t_model * 1e3, 1),
                   **({"batch_frames": batch_frames} if batch_frames > 1 else {})}
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

    def _video_clips(self, path, frames: int, strategy: str, annotate, progress=None) -> dict:
        """A clip model on a video: ``max(1, frames // T)`` windows of T frames ``stride`` apart, spread over the
        video; in each window every face track with T crops is one clip, scored in one batch."""
        import cv2

        T, stride = int(self.clip["frames"]), int(self.clip["stride"])
        span = (T - 1) * stride + 1
        n_windows = max(1, frames // T)
        windows: dict[int, int] = {}  # frame index -> window

        def indices(total: int) -> list[int]:
            starts = sorted({int(round(s)) for s in np.linspace(0, max(0, total - span), n_windows)})
            for w, s in enumerate(starts):
                for i in range(T):
                    if s + i * stride < total:
                        windows.setdefault(s + i * stride, w)
            return sorted(windows)

        tracker = IoUTracker(max_gap=2 * stride + 2)
        crops: dict[tuple[int, int], list] = {}  # (window, track) -> [(frame, crop)]
        no_face, writer, info, done = [], None, None, 0
        with FaceDetector(self.face_model, self.min_confidence, mode="video") as det, ExitStack() as stack:
            for info, index, ts_ms, rgb in sample_frames(path, indices=indices):
                if annotate is not None and writer is None:
                    writer = stack.enter_context(VideoWriter(annotate, info["fps"] / stride))
                faces = det.detect(rgb, timestamp_ms=ts_ms)
                faces = faces if self.all_faces else faces[:1]
                if not faces:
                    no_face.append(index)
                tids = tracker.update([f.box for f in faces])
                for f, tid in zip(faces, tids):
                    crops.setdefault((windows[index], tid), []).append((index, self.crop.crop(rgb, f.box, f.keypoints)))
                if writer is not None:
                    drawn = [{"box": list(f.box), "p_fake": None, "track": tid,
                              "label": f"clip {len(crops[(windows[index], tid)])}/{T}"} for f, tid in zip(faces, tids)]
                    writer.write(draw_status(draw_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), drawn, self.threshold),
                                             f"frame {index}  clip window {windows[index] + 1}/{n_windows}"))
                done += 1
                if progress is not None:
                    progress(done, len(windows))
        if info is None:
            raise InputError(f"{path}: no frame could be decoded")
        # A model that masks frames (a bundle) scores a track with at least min_valid of the window's T frames, the
        # others masked; any other clip model needs all T.
        masks = bool(getattr(self.backend, "masks", False))
        need = min(T, self.min_valid or getattr(self.backend, "min_valid", T)) if masks else T
        slots: dict[int, list[int]] = {}  # window -> its frame indices, in order
        for index, w in sorted(windows.items()):
            slots.setdefault(w, []).append(index)
        full = {k: v for k, v in crops.items() if len(v) >= need}
        short = [{"window": w, "track": t, "frames": [i for i, _ in v], "have": len(v), "need": need,
                  "missing_frames": _without(slots.get(w, []), v)}
                 for (w, t), v in sorted(crops.items()) if len(v) < need]
        clips = []
        if full:
            keys = sorted(full)
            if masks:
                batch, valid = self._masked_clips([(slots[w], full[(w, t)]) for w, t in keys], T)
                z = self.logits(batch, f"{path} ({len(keys)} clips)", valid)
            else:
                batch = np.stack([self.crop.to_tensor(np.stack([c for _, c in full[k]])) for k in keys])
                z = self.logits(batch, f"{path} ({len(keys)} clips)")
            clips = [{"window": w, "track": t, "frames": [i for i, _ in full[(w, t)]], "logit": round(float(v), 5),
                      "p_fake": round(float(sigmoid(v)), 5),
                      **({"masked_frames": _without(slots[w], full[(w, t)])}
                         if masks else {})} for (w, t), v in zip(keys, z)]
        base = {"kind": "video", "model_kind": "clip", "clip": {"frames": T, "stride": stride,
                                                              **({"min_valid": need} if masks else {})},
                "frames_sampled": len(windows), "frames_without_face": no_face, "video": info, "aggregate": strategy,
                "clips": clips, "short_tracks": short}
        if writer is not None:
            base["annotated"] = str(annotate)
        if not clips:
            why = "no face found" if not crops else (f"no track has {need} of a window's {T} frames with a face (the "
                                                    f"longest has {max(s['have'] for s in short)}; the frames "
                                                    "without one are each short track's missing_frames); nothing "
                                                    "was scored")
            return {**base, "verdict": "no_face" if not crops else "too_short", "score": None, "tracks": {},
                    "reason": why}
        per_track: dict[int, list[float]] = {}
        for c in clips:
            per_track.setdefault(c["track"], []).append(c["p_fake"])
        tracks = {str(t): {"score": round(aggregate(p, strategy, self.threshold), 5), "clips": len(p)}
                  for t, p in per_track.items()}
        score = max(t["score"] for t in tracks.values())
        return {**base, "verdict": self.verdict(score), "score": score, "tracks": tracks}

    def path(self, path: str | Path, annotate: str | Path | None = None, progress=None, **video_kwargs) -> dict:
        """One record for one file; errors become a record naming the file and the problem.

        ``annotate``: where to write the annotated copy, without suffix (.jpg or .mp4 is added).
        """
        p = Path(path)
        t0 = time.perf_counter()
        try:
            kind = media.kind(p)
            if kind == "image":
                rgb, info = open_image(p)
                rec = self.image(rgb, what=str(p))
                if info["reduced_by"] > 1:
                    rec["note"] = (f"{info['size'][0]}x{info['size'][1]} image reduced by {info['reduced_by']} "
                                   "for decoding")
                if info["frames"] > 1:
                    rec["note"] = (rec.get("note", "") + "; " if rec.get("note") else "") + \
                        f"only the first of its {info['frames']} frames/pages was scored"
                if annotate is not None:
                    rec["annotated"] = str(self.annotate_image(rgb, rec, f"{annotate}.jpg"))
            else:
                rec = self.video(p, annotate=None if annotate is None else f"{annotate}.mp4", progress=progress,
                                 **video_kwargs)
            rec = {"path": str(p), "ok": True, **rec}
        except EdgeSDKError as err:
            rec = {"path": str(p), "ok": False, "kind": "error", "error": str(err)}
        except MemoryError:
            rec = {"path": str(p), "ok": False, "kind": "error", "error": f"{p}: out of memory while scoring it"}
        except Exception as err:  # a batch job records the failure and goes on
            rec = {"path": str(p), "ok": False, "kind": "error", "error": f"{p}: {type(err).__name__}: {err}"}
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        if not self.trained:
            rec["trained"] = False  # random weights: this verdict means nothing
        return rec


def _without(frames: list[int], have: list) -> list[int]:
    """The window's frames a track has no crop for (``have``: its (frame, crop) pairs)."""
    got = {j for j, _ in have}
    return [i for i in frames if i not in got]


def media_kind(p: Path) -> str:
    return media.kind(p)


def expand_paths(paths) -> list[Path]:
    """Files as given, folders recursively (media files only, sorted)."""
    return media.scan(paths).files


def annotation_names(files: list[Path], out_dir: str | Path) -> list[Path]:
    """One output stem per input in ``out_dir``: the file's stem, numbered when two inputs share it."""
    seen: dict[str, int] = {}
    names = []
    for f in files:
        n = seen.get(f.stem.lower(), 0)
        seen[f.stem.lower()] = n + 1
        names.append(Path(out_dir) / (f"{f.stem}.annotated" if n == 0 else f"{f.stem}-{n}.annotated"))
    return names


# ---------------------------------------------------------------------------------------------- batch jobs
def parse_shard(text: str | None) -> tuple[int, int]:
    """``I/N`` (1 <= I <= N) -> (I, N); None -> (1, 1)."""
    if not text:
        return 1, 1
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise InputError(f"--shard takes I/N like 3/16, got {text!r}") from None
    if not 1 <= i <= n:
        raise InputError(f"--shard {text}: need 1 <= I <= N")
    return i, n


def check_outputs(inputs, outputs: dict) -> None:
    """Refuse, before any work, an output that is an input, lies inside an input folder, is a folder where a file
    goes (or a file where a folder goes), or cannot be created. ``outputs``: {option: (path, "file"|"dir")}."""
    roots = [Path(p).resolve() for p in inputs]
    for option, (path, kind) in outputs.items():
        if path is None:
            continue
        out = Path(path).resolve()
        for r in roots:
            if out == r:
                raise InputError(f"{option} {path}: is one of the inputs; it would be overwritten")
            if r.is_dir() and r in out.parents:
                raise InputError(f"{option} {path}: lies inside the input folder {r}; its files would become inputs "
                                 "of the next run (write outside the input tree)")
        if kind == "file" and out.is_dir():
            raise InputError(f"{option} {path}: is a folder; give a file path")
        if kind == "dir" and out.exists() and not out.is_dir():
            raise InputError(f"{option} {path}: is a file; give a folder")
        parent = out if kind == "dir" else out.parent
        existing = next((q for q in (parent, *parent.parents) if q.exists()), None)
        if existing is not None and not existing.is_dir():
            raise InputError(f"{option} {path}: {existing} is a file, so this path cannot be created")


def _settings(det: Detector, video_kwargs: dict) -> dict:
    m = det.backend.manifest
    return {"model_sha256": m["artifact"]["sha256"], "threshold": det.threshold, "min_confidence": det.min_confidence,
            **{k: video_kwargs.get(k) for k in ("frames", "every", "fps", "strategy")},
            **({"min_valid": det.min_valid} if det.min_valid else {})}


def _recorded(jsonl: Path, settings: dict) -> dict[str, dict]:
    """Records of an earlier run in ``jsonl`` made with the same model and settings, by path (the last wins)."""
    done = {}
    if not jsonl.is_file():
        return done
    for line in jsonl.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill: that input is simply done again
            continue
        if isinstance(rec, dict) and rec.get("settings") == settings and "path" in rec:
            done[rec["path"]] = rec
    return done


@dataclass
class DetectRun:
    """What :func:`detect` did: the records in input order and how the run ended."""

    records: list
    interrupted: bool = False
    resumed: int = 0
    skipped_warning: str | None = None
    jsonl: str | None = None
    trained: bool = True

    def summary(self) -> dict:
        ok = [r for r in self.records if r.get("ok")]
        verdicts: dict[str, int] = {}
        for r in ok:
            verdicts[r.get("verdict", "?")] = verdicts.get(r.get("verdict", "?"), 0) + 1
        out = {"inputs": len(self.records), "scored": len(ok), "failed": len(self.records) - len(ok),
               "verdicts": verdicts, "interrupted": self.interrupted, "resumed": self.resumed, "jsonl": self.jsonl}
        if not self.trained:
            out["trained"] = False
            out["warning"] = "the artifact holds random weights: every verdict above is meaningless"
        if self.skipped_warning:
            out["not_media"] = self.skipped_warning
        return out


def _stopping() -> None:
    print("edge-sdk detect: Ctrl-C: stopping after the input in progress (Ctrl-C again stops at once)",
          file=sys.stderr)


def detect_run(paths, model, json_out: str | Path | None = None, jsonl: str | Path | None = None,
               annotate: str | Path | None = None, progress=None, resume: bool = False, shard: str | None = None,
               **kwargs) -> DetectRun:
    """``edge-sdk detect`` as a batch job; see the module docstring. ``progress(done, total, message)``."""
    video_keys = {"frames", "every", "fps", "strategy", "batch_frames"}
    video_kwargs = {k: v for k, v in kwargs.items() if k in video_keys and v is not None}
    det_kwargs = {k: v for k, v in kwargs.items() if k not in video_keys}
    if jsonl is None and json_out is not None:
        jsonl = Path(json_out).with_suffix(".jsonl")
    check_outputs(paths, {"--json": (json_out, "file"), "--jsonl": (jsonl, "file"), "--annotate": (annotate, "dir")})
    if resume and jsonl is None:
        raise InputError("--resume needs --json or --jsonl: the records of the earlier run are read from there")
    found = media.scan(paths, exclude=[annotate] if annotate is not None else ())
    i, n = parse_shard(shard)
    files = found.files[i - 1::n]
    names = annotation_names(files, annotate) if annotate is not None else [None] * len(files)
    run = DetectRun([], skipped_warning=found.warning(), jsonl=None if jsonl is None else str(jsonl))
    with Detector(model, **det_kwargs) as det:
        run.trained = det.trained
        settings = _settings(det, video_kwargs)
        earlier = _recorded(Path(jsonl), settings) if resume else {}
        writer = LineWriter(jsonl, append=resume) if jsonl is not None else None
        with CtrlC(notice=_stopping) as stop:
            try:
                for s in found.skipped[i - 1::n] if n > 1 else found.skipped:
                    rec = {"path": s.path, "ok": False, "kind": "skipped", "error": f"{s.path}: {s.reason}"}
                    run.records.append(rec)
                    if writer is not None:
                        writer.write(to_json({**rec, "settings": settings}))
                for k, (f, name) in enumerate(zip(files, names)):
                    if str(f) in earlier:
                        rec = {key: v for key, v in earlier[str(f)].items() if key != "settings"}
                        run.records.append(rec)
                        run.resumed += 1
                        continue
                    stop.check()
                    if progress is not None:
                        progress(k, len(files), f"{f.name}")

                    def frame_tick(d, t, _k=k, _f=f):  # between a video's frames: a Ctrl-C ends the run there
                        stop.check()
                        if progress is not None:
                            progress(_k + d / max(1, t), len(files), f"{_f.name}: frame {d}/{t}")
                    rec = det.path(f, annotate=name, progress=frame_tick, **video_kwargs)
                    run.records.append(rec)
                    if writer is not None:
                        writer.write(to_json({**rec, "settings": settings}))
                if progress is not None:
                    progress(len(files), len(files), "done")
            except KeyboardInterrupt:
                run.interrupted = True
            finally:
                if writer is not None:
                    writer.close()
    if json_out is not None:
        write_atomic(json_out, to_json(run.records, indent=2) + "\n")
    return run


def detect(paths, model, json_out: str | Path | None = None, annotate: str | Path | None = None,
           progress: bool = True, **kwargs) -> list[dict]:
    """``edge-sdk detect`` from Python: one record per input (see :meth:`Detector.path` and :func:`detect_run`)."""
    tick = None
    if progress:
        from .console import StatusLines

        lines = StatusLines(sys.stderr)
        tick = lambda done, total, msg: lines.write(  # noqa: E731
            f"[detect {100 * done / max(1, total):3.0f}%] {math.floor(done)}/{total} {msg}", transient=True)
    return detect_run(paths, model, json_out=json_out, annotate=annotate, progress=tick, **kwargs).records
