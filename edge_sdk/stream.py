"""Cameras and streams: sources read on a thread, and the loop behind ``edge-sdk camera``.

A source is a camera index (``0``), a file, an RTSP/HTTP URL, a GStreamer pipeline string, or
``csi://N`` (a Jetson CSI camera through ``nvarguscamerasrc``). Live sources hand the loop only
the newest frame and count the stale ones they drop, so latency never builds up; files hand
over every frame in order, decoded on the thread while the previous one is scored.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .aggregate import IoUTracker, TrackSmoother, aggregate
from .console import CtrlC
from .errors import InputError

URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@dataclass
class Frame:
    index: int  # position in the source, counting every frame read (dropped ones included)
    ts_ms: int
    bgr: np.ndarray
    decode_ms: float


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0) -> str:
    """The GStreamer pipeline for a Jetson CSI camera (Argus), ending in BGR frames for OpenCV."""
    return (f"nvarguscamerasrc sensor-id={sensor_id} ! video/x-raw(memory:NVMM), width={width}, height={height}, "
            f"framerate={fps}/1, format=NV12 ! nvvidconv flip-method={flip} ! video/x-raw, format=BGRx ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false")


def gstreamer_available() -> bool:
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def resolve_source(source) -> tuple[object, int | None, bool, str]:
    """(what to hand cv2.VideoCapture, API preference or None, live?, description)."""
    import cv2

    s = str(source).strip()
    if s.isdigit():
        return int(s), None, True, f"camera {s}"
    gst = None
    if s.startswith("csi://"):
        sensor = s[len("csi://"):] or "0"
        if not sensor.isdigit():
            raise InputError(f"source {s!r}: csi:// takes a sensor number, e.g. csi://0")
        gst = csi_pipeline(int(sensor))
    elif " ! " in s or s.startswith("gst:"):
        gst = s[len("gst:"):].strip() if s.startswith("gst:") else s
    if gst is not None:
        if not gstreamer_available():
            raise InputError(f"source {s!r} needs OpenCV built with GStreamer, and this one ({cv2.__version__}) is "
                             "not; on a Jetson use JetPack's python3-opencv (apt) instead of the PyPI wheel")
        return gst, cv2.CAP_GSTREAMER, True, f"GStreamer pipeline {gst.split(' ! ')[0]!r}"
    if s.lower().startswith(URL_SCHEMES):
        return s, cv2.CAP_FFMPEG, True, f"stream {s}"
    p = Path(s)
    if not p.is_file():
        raise InputError(f"source {s!r}: not a camera index, URL, GStreamer pipeline, csi://N or existing file")
    if p.stat().st_size == 0:
        raise InputError(f"source {s}: empty file (0 bytes)")
    return str(p), None, False, f"file {p}"


class FrameSource:
    """Reads ``source`` on a daemon thread; ``next(timeout)`` hands frames to the loop.

    ``live`` (default: cameras, URLs and pipelines) keeps only the newest frame; otherwise every
    frame is queued. A live source that stops delivering is reopened up to ``reconnects`` times.
    ``status`` ends as ``ended`` (no more frames) or ``failed`` (reading raised), with ``message``.
    """

    def __init__(self, source, live: bool | None = None, reconnects: int = 3, queue_size: int = 4, capture=None):
        self.target, self.api, default_live, self.description = resolve_source(source)
        self.live = default_live if live is None else live
        self.reconnects = reconnects
        self.frames_read = self.dropped = 0
        self.status, self.message = "running", ""
        self._capture_factory = capture  # tests hand in a fake cv2.VideoCapture
        self._buf: collections.deque = collections.deque()
        self._max = 1 if self.live else queue_size
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._cap = self._open()
        self.fps = self._cap.get(5) or 30.0  # cv2.CAP_PROP_FPS
        self.size = (int(self._cap.get(3)), int(self._cap.get(4)))  # width, height
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._read_loop, name="edge-sdk-reader", daemon=True)
        self._thread.start()

    def _open(self):
        import cv2

        if self._capture_factory is not None:
            cap = self._capture_factory()
        elif self.api is None:
            cap = cv2.VideoCapture(self.target)
        else:
            cap = cv2.VideoCapture(self.target, self.api)
        if not cap.isOpened():
            raise InputError(f"{self.description}: cannot be opened (no such device, unreachable, or not a video)")
        return cap

    def _read_loop(self) -> None:
        attempts = 0
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    if self.live and attempts < self.reconnects and not self._stop.is_set():
                        attempts += 1
                        print(f"edge-sdk: {self.description} delivered no frame; reconnecting "
                              f"({attempts}/{self.reconnects})", file=sys.stderr)
                        self._cap.release()
                        time.sleep(min(2.0, 0.25 * 2 ** attempts))
                        try:
                            self._cap = self._open()
                        except InputError:
                            pass
                        continue
                    lost = f" (lost after {self.reconnects} reconnects)" if self.live else ""
                    self._finish("ended", f"{self.description} ended after {self.frames_read} frames{lost}")
                    return
                attempts = 0
                ts = (self.frames_read * 1000.0 / self.fps) if not self.live else (time.monotonic() - self._t0) * 1e3
                frame = Frame(self.frames_read, int(round(ts)), bgr, (time.perf_counter() - t0) * 1e3)
                self.frames_read += 1
                with self._cond:
                    if self.live:
                        self.dropped += len(self._buf)  # stale frames the loop never took
                        self._buf.clear()
                    else:
                        while len(self._buf) >= self._max and not self._stop.is_set():
                            self._cond.wait(0.1)
                    self._buf.append(frame)
                    self._cond.notify_all()
        except Exception as err:  # report on the loop's side instead of dying silently on this thread
            self._finish("failed", f"{self.description}: reading failed: {type(err).__name__}: {err}")

    def _finish(self, status: str, message: str) -> None:
        with self._cond:
            self.status, self.message = status, message
            self._cond.notify_all()
        # the thread stays, idle, until close(): its CPU time stays readable for the loop's busy split (a thread
        # that has ended leaves /proc/self/task)
        self._stop.wait()

    def next(self, timeout: float) -> Frame | None:
        """The next frame; None when the source is finished. Raises TimeoutError after ``timeout`` s without one."""
        with self._cond:
            ready = self._cond.wait_for(lambda: self._buf or self.status != "running", timeout)
            if not ready:
                raise TimeoutError(f"{self.description}: no frame for {timeout:.1f} s")
            if self._buf:
                frame = self._buf.popleft()
                self._cond.notify_all()
                return frame
            return None

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():  # a read blocked in the driver keeps its capture; the thread is a daemon
            self._cap.release()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ClipBuffers:
    """For a clip model: per face track, the last T crops taken ``stride`` frames apart. ``add`` returns True when
    the track's clip is complete with this crop (then it is scored); a track is forgotten when it is gone."""

    def __init__(self, frames: int, stride: int):
        self.frames, self.stride = frames, stride
        self.crops: dict[int, collections.deque] = {}
        self.seen: dict[int, int] = {}

    def add(self, track: int, crop: np.ndarray) -> bool:
        n = self.seen.get(track, 0)
        self.seen[track] = n + 1
        if n % self.stride:
            return False
        buf = self.crops.setdefault(track, collections.deque(maxlen=self.frames))
        buf.append(crop)
        return len(buf) == self.frames

    def have(self, track: int) -> int:
        return len(self.crops.get(track, ()))

    @property
    def need(self) -> int:
        return self.frames

    def clip(self, track: int) -> np.ndarray:
        return np.stack(self.crops[track])

    def keep(self, tracks) -> None:
        alive = set(tracks)
        self.crops = {t: c for t, c in self.crops.items() if t in alive}
        self.seen = {t: c for t, c in self.seen.items() if t in alive}


class EveryK:
    """Faces detected on every ``every``-th frame and held between (DeepStream's ``interval``): the frames between
    reuse the last detection's boxes and keypoints. Holding beat carrying each face on with its last motion on
    the sample videos (BlazeFace's box jitter makes that motion noise; ``edge-sdk bench --e2e-detect-every`` gives
    the held boxes' IoU against detecting every frame). ``detect`` has the detector's signature."""

    def __init__(self, detector, every: int):
        if every < 1:
            raise InputError(f"--detect-every must be at least 1, got {every}")
        self.detector, self.every, self.n = detector, int(every), 0
        self.last: list = []

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list:
        step, self.n = self.n, self.n + 1
        if step % self.every == 0:
            self.last = self.detector.detect(rgb, timestamp_ms=timestamp_ms)
        return list(self.last)


class MaskedClips:
    """For a bundle (a clip model that masks frames): per face track, the last T frame slots ``stride`` frames apart,
    each holding the face's embedding (the depth model and the embedder ran once, on that frame's crop) or nothing
    when the track had no face in that frame: masked by the head, never invented. A track is scored at each slot
    with its face once T slots have passed and at least ``min_valid`` of them hold a face."""

    def __init__(self, frames: int, stride: int, min_valid: int):
        self.frames, self.stride, self.min_valid = frames, stride, min_valid
        self.slots: dict[int, collections.deque] = {}  # track -> (frame index, embedding or None)
        self.seen: dict[int, int] = {}

    def due(self, tracks, found: list[int]) -> list[int]:
        """Advance every live track by one frame; the found tracks whose slot this frame is (their crops to embed).
        A live track without a face in a slot frame gets an empty (masked) slot."""
        due, found_set = [], set(found)
        self.slots = {t: q for t, q in self.slots.items() if t in tracks}
        self.seen = {t: n for t, n in self.seen.items() if t in tracks}
        for t in list(tracks):
            if t not in found_set and t not in self.seen:
                continue
            n = self.seen.get(t, 0)
            self.seen[t] = n + 1
            if n % self.stride == 0:
                if t in found_set:
                    due.append(t)
                else:
                    self.slots[t].append(None)
        return due

    def add(self, track: int, frame: int, embedding: np.ndarray) -> bool:
        q = self.slots.setdefault(track, collections.deque(maxlen=self.frames))
        q.append((frame, embedding))
        return len(q) == self.frames and self.have(track) >= self.min_valid

    def have(self, track: int) -> int:
        return sum(s is not None for s in self.slots.get(track, ()))

    @property
    def need(self) -> int:
        return self.min_valid

    def clip(self, track: int, dim: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(T, dim) embeddings (zeros where masked), (T,) validity, and the masked slots' positions."""
        q = list(self.slots[track])
        emb, valid = np.zeros((len(q), dim), np.float32), np.zeros(len(q), np.float32)
        for k, s in enumerate(q):
            if s is not None:
                emb[k], valid[k] = s[1], 1.0
        return emb, valid, [k for k, s in enumerate(q) if s is None]


def run_stream(source, model, out: str | Path | None = None, show: bool = False, jsonl: str | Path | None = None,
               live: bool | None = None, max_frames: int | None = None, smooth: float = 0.3,
               face_model: str | None = None, min_confidence: float = 0.5, threshold: float | None = None,
               stall_timeout: float = 5.0, stall_limit: float = 30.0, capture=None, progress: bool = False,
               min_valid: int | None = None, detect_every: int = 1) -> dict:
    """Score every frame the source hands over; returns a summary (see the README's ``camera`` section).

    ``out``: annotated video (headless). ``show``: an OpenCV window (q or Esc stops). ``jsonl``: one line per
    processed frame, written and flushed as each frame finishes (a killed run keeps every line so far). The loop
    ends when the source ends, after ``max_frames``, when no frame came for ``stall_limit`` seconds (a warning
    every ``stall_timeout``), on q/Esc or Ctrl-C; the annotated video then holds every processed frame and is
    complete. A clip model scores each face track once it has T crops (``stride`` frames apart), then at every
    new crop; until then the track shows as collecting. A bundle embeds each crop once and keeps the track's last T
    frame slots, a frame where the track has no face masked (``min_valid``: the fewest faces of T that are scored;
    None: the bundle's own); its records give ``masked``, how many of the clip's T frames were. ``detect_every``
    K: faces are detected on every K-th frame and held between (:class:`EveryK`); every frame is still scored.
    ``cpu``: the loop's wall time against the process's CPU time, and each thread's busy seconds
    (:class:`edge_sdk.timing.ThreadClock`; "not measured" without ``/proc``).
    """
    if detect_every < 1:
        raise InputError(f"--detect-every must be at least 1, got {detect_every}")
    import cv2

    from .faces import FaceDetector
    from .fileio import LineWriter, to_json
    from .overlay import draw_faces, draw_status
    from .pipeline import Detector, check_outputs, sigmoid
    from .timing import ThreadClock, latency_stats
    from .video import VideoWriter

    if show and sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get(
            "WAYLAND_DISPLAY"):
        raise InputError("no display to show frames on (DISPLAY is unset): run headless with --out FILE.mp4")
    src_path = str(source) if Path(str(source)).is_file() else None
    check_outputs([src_path] if src_path else [], {"--out": (out, "file"), "--jsonl": (jsonl, "file")})
    names = ("wait", "decode", "detect", "crop", "model", "draw", "write")
    stage_times: dict[str, list[float]] = {k: [] for k in names}
    tracker, smoother = IoUTracker(), TrackSmoother(smooth)
    per_track: dict[int, list[float]] = {}
    processed, status, message = 0, "ended", ""
    writer = None
    t_start = time.perf_counter()
    with Detector(model, face_model=face_model, min_confidence=min_confidence, threshold=threshold,
                  min_valid=min_valid) as det, \
            FaceDetector(face_model, min_confidence, mode="video") as face_detector, \
            FrameSource(source, live=live, capture=capture) as src, \
            (LineWriter(jsonl) if jsonl is not None else contextlib.nullcontext()) as lines, \
            CtrlC(notice=lambda: print("edge-sdk camera: Ctrl-C: stopping after this frame", file=sys.stderr)) as stop:
        faces = face_detector if detect_every == 1 else EveryK(face_detector, detect_every)
        clips = ClipBuffers(int(det.clip["frames"]), int(det.clip["stride"])) if det.clip else None
        masked = None
        if clips is not None and getattr(det.backend, "masks", False) and hasattr(det.backend, "embed"):
            T = int(det.clip["frames"])
            masked = MaskedClips(T, int(det.clip["stride"]), min(T, det.min_valid or det.backend.min_valid))
        clip_logit: dict[int, float] = {}
        clip_masked: dict[int, int] = {}
        if out is not None:
            writer = VideoWriter(out, src.fps)
        clock = ThreadClock()  # each thread's busy vs waiting time over the loop (models loaded, reader running)
        try:
            waited = 0.0
            while max_frames is None or processed < max_frames:
                stop.check()  # a Ctrl-C ends the run between frames, never inside a MediaPipe call
                t_wait = time.perf_counter()
                try:
                    frame = src.next(timeout=stall_timeout)
                except TimeoutError as err:
                    waited += stall_timeout
                    if waited >= stall_limit:
                        status, message = "stalled", f"{src.description} stalled: no frame for {waited:.0f} s; stopped"
                        break
                    print(f"edge-sdk camera: {err}; still waiting (giving up after {stall_limit:.0f} s)",
                          file=sys.stderr)
                    continue
                waited = 0.0
                if frame is None:
                    status, message = src.status, src.message
                    break
                t0 = time.perf_counter()
                st = {"wait": t0 - t_wait, "crop": 0.0, "model": 0.0, "draw": 0.0, "write": 0.0}
                rgb = cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2RGB)
                t1 = time.perf_counter()
                found = faces.detect(rgb, timestamp_ms=frame.ts_ms)
                t2 = time.perf_counter()
                what = f"{src.description} frame {frame.index}"
                records = []
                if clips is None:
                    scored = det.score_faces(rgb, found, st, what=what)
                    ids = tracker.update([f.box for f in scored])
                    smoothed = smoother.update({tid: f.prob for tid, f in zip(ids, scored)})
                    for f, tid in zip(scored, ids):
                        f.track = tid
                        per_track.setdefault(tid, []).append(f.prob)
                        records.append({**f.to_dict(), "p_smooth": round(smoothed[tid], 5)})
                else:  # a clip model: each track scored over its last T crops (a bundle: T embedded slots)
                    if masked is None:
                        ids = tracker.update([f.box for f in found])
                        clips.keep(tracker.tracks)
                        ready = [tid for f, tid in zip(found, ids)
                                 if clips.add(tid, det.crop.crop(rgb, f.box, f.keypoints))]
                        t_m = time.perf_counter()
                        z = det.logits(np.stack([det.crop.to_tensor(clips.clip(t)) for t in ready]), what) \
                            if ready else []
                    else:  # embed each due crop once; the head over the track's T slots, empty ones masked
                        found = found if det.all_faces else found[:1]
                        ids = tracker.update([f.box for f in found])
                        due = masked.due(tracker.tracks, ids)
                        t_c = time.perf_counter()
                        crops = {tid: det.crop.to_tensor(det.crop.crop(rgb, f.box, f.keypoints)[None])[0]
                                 for f, tid in zip(found, ids) if tid in due}
                        t_m = time.perf_counter()
                        st["crop"], ready, z = t_m - t_c, [], []
                        if crops:
                            emb = det.backend.embed(np.stack(list(crops.values())))
                            ready = [t for t, e in zip(crops, emb) if masked.add(t, frame.index, e)]
                        if ready:
                            built = [masked.clip(t, emb.shape[1]) for t in ready]
                            z = det.finite(det.backend.head(np.stack([b[0] for b in built]),
                                                            np.stack([b[1] for b in built])), what)
                            clip_masked.update({t: len(b[2]) for t, b in zip(ready, built)})
                    for tid, v in zip(ready, z):
                        clip_logit[tid] = float(v)
                        per_track.setdefault(tid, []).append(float(sigmoid(v)))
                    st["model"] = time.perf_counter() - t_m
                    smoothed = smoother.update({t: float(sigmoid(clip_logit[t])) for t in ready})
                    buffers = clips if masked is None else masked
                    for f, tid in zip(found, ids):
                        rec = {"box": [round(v, 1) for v in f.box], "det_score": round(f.score, 4), "track": tid}
                        if tid in clip_logit:
                            p = float(sigmoid(clip_logit[tid]))
                            rec.update(logit=round(clip_logit[tid], 5), p_fake=round(p, 5),
                                       p_smooth=round(smoothed.get(tid, smoother.state.get(tid, (p,))[0]), 5),
                                       **({"masked": clip_masked[tid]} if tid in clip_masked else {}))
                        else:
                            rec.update(p_fake=None, status="collecting", have=buffers.have(tid), need=buffers.need,
                                       label=f"clip {buffers.have(tid)}/{buffers.frames}")
                        records.append(rec)
                st["decode"] = frame.decode_ms / 1e3 + t1 - t0
                st["detect"] = t2 - t1
                if lines is not None:
                    lines.write(to_json({"frame": frame.index, "ts_ms": frame.ts_ms, "faces": records}))
                if writer is not None or show:
                    t3 = time.perf_counter()
                    fps_now = (processed + 1) / max(1e-9, t3 - t_start)
                    draw_faces(frame.bgr, records, det.threshold)
                    draw_status(frame.bgr, f"{fps_now:4.1f} fps  {len(records)} face(s)  frame {frame.index}")
                    t4 = time.perf_counter()
                    st["draw"] = t4 - t3
                    if writer is not None:
                        writer.write(frame.bgr)
                    if show:
                        cv2.imshow("edge-sdk camera", frame.bgr)
                        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                            status, message = "stopped", "stopped by the user (q)"
                            processed += 1
                            break
                    st["write"] = time.perf_counter() - t4
                for k in names:
                    stage_times[k].append(st.get(k, 0.0))
                processed += 1
                if progress and processed % 30 == 0:  # the same measure as the summary: frames / elapsed
                    print(f"\r{processed} frames, {processed / (time.perf_counter() - t_start):.1f} fps, "
                          f"{src.dropped} dropped", end="", file=sys.stderr)
            else:
                status, message = "max_frames", f"stopped after {max_frames} frames"
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted (Ctrl-C)"
        except BaseException:
            if writer is not None:
                writer.discard()
            raise
        finally:
            if show:
                cv2.destroyAllWindows()
        cpu = clock.stop()
        written = writer.close() if writer is not None else None
        frames_read, dropped = src.frames_read, src.dropped
    seconds = time.perf_counter() - t_start
    tracks = {str(t): {"frames": len(p), "score": round(aggregate(p, "confident", det.threshold), 5)}
              for t, p in per_track.items()}
    score = max((t["score"] for t in tracks.values()), default=None)
    summary = {
        "source": str(source), "status": status, "message": message,
        "frames_read": frames_read, "frames_processed": processed, "frames_dropped": dropped,
        "frames_written": writer.frames if writer is not None else 0, "out": str(written) if written else None,
        "seconds": round(seconds, 3), "fps": round(processed / seconds, 2) if seconds > 0 else None,
        "stage_ms": {k: round(sum(v) * 1e3 / max(processed, 1), 2) for k, v in stage_times.items()},
        "stage_latency_ms": {k: latency_stats(v, digits=2) for k, v in stage_times.items()},
        "verdict": "no_face" if score is None else ("fake" if score >= det.threshold else "real"),
        "score": score, "tracks": tracks, "jsonl": None if jsonl is None else str(jsonl),
        "detect_every": detect_every, "cpu": cpu,
    }
    if det.clip:
        summary["clip"] = {**det.clip, **({"min_valid": masked.min_valid} if masked is not None else {})}
        summary["clips_scored"] = sum(len(p) for p in per_track.values())
        summary["clips_per_s"] = round(summary["clips_scored"] / seconds, 2) if seconds > 0 else None
    if not det.trained:
        summary["trained"] = False
        summary["warning"] = "the artifact holds random weights: the verdicts mean nothing"
    return summary
