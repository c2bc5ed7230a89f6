"""Typed options of the runtime verbs (``detect``, ``camera``, ``explain``): each option is written once, here.

The CLI is generated from these dataclasses (tyro): a field's docstring is its ``--help`` text, its default is
shown once, and ``__post_init__`` rejects a value outside its range with a message naming the option. The
tool-side verbs keep theirs beside their code (``edge_sdk.export.config``, ``edge_sdk.distill.config``,
``edge_sdk.benchmarks.config``). Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from .errors import InputError

try:  # tyro is what the CLI is made with; the dataclasses work without it (plain Python use)
    import tyro

    Positional, Repeatable, Hidden = tyro.conf.Positional, tyro.conf.UseAppendAction, tyro.conf.Suppress
except ImportError:  # pragma: no cover - tyro is a dependency of every install
    Positional = Repeatable = Hidden = None


def _ann(kind):
    return (lambda t: Annotated[t, kind]) if kind is not None else (lambda t: t)


# field annotations: a positional argument, an option that may be repeated, a field the CLI does not offer
positional, repeatable, hidden = _ann(Positional), _ann(Repeatable), _ann(Hidden)


def check_range(option: str, value, low=None, high=None, low_open: bool = False, allow_none: bool = True) -> None:
    """Raise an error naming ``option`` and its allowed range when ``value`` is outside it (or not finite)."""
    if value is None:
        if allow_none:
            return
        raise InputError(f"{option}: a value is required")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        lo = "" if low is None else (f"> {low}" if low_open else f">= {low}")
        hi = "" if high is None else f"<= {high}"
        rng = " and ".join(x for x in (lo, hi) if x) or "a finite number"
        raise InputError(f"{option} {value}: must be {rng}")


def comma_list(value) -> list[str]:
    """``("a,b", "c")`` or ``"a,b"`` -> ``["a", "b", "c"]`` (options that take comma-separated names)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [s.strip() for item in items for s in str(item).split(",") if s.strip()]


@dataclass
class RuntimeOptions:
    model: str
    """artifact (.onnx, .pte, .engine, .mlpackage, .pt) with its manifest"""
    threshold: Optional[float] = None
    """decision threshold in [0, 1]; None: the artifact's own, from its manifest"""
    min_confidence: float = 0.5
    """face detector minimum confidence, in [0, 1]"""
    face_model: Optional[str] = None
    """BlazeFace .tflite; None: the cache or $EDGE_SDK_FACE_MODEL"""
    quiet: bool = False
    """no progress display"""
    verbose: bool = False
    """show third-party libraries' log lines (MediaPipe, LiteRT, ...)"""
    min_valid: Optional[int] = None
    """a clip model that masks frames (a bundle): the fewest of a clip's T frames with a face that still make a
    clip (a detect window's; camera: a face track's last T); None: the bundle manifest's (half of T)"""

    def __post_init__(self):
        check_range("--min-valid", self.min_valid, 1)
        check_range("--threshold", self.threshold, 0, 1)
        check_range("--min-confidence", self.min_confidence, 0, 1, allow_none=False)


@dataclass
class DetectConfig(RuntimeOptions):
    """Score images, videos and folders with an exported artifact; one record per input."""

    paths: positional(tuple[str, ...]) = ()
    """images, videos or folders (searched recursively)"""
    json: Optional[str] = None
    """write all records to this JSON file at the end (they stream to the same name with .jsonl as they finish)"""
    jsonl: Optional[str] = None
    """stream the records here as JSON Lines; None: beside --json (its name with .jsonl)"""
    resume: bool = False
    """skip inputs already recorded in the JSON Lines file with the same model sha256 and settings"""
    shard: Optional[str] = None
    """I/N: take only the I-th of N slices of the inputs (array jobs); each shard writes its own --json"""
    annotate: Optional[str] = None
    """folder for annotated copies: images as .jpg, videos' sampled frames as .mp4"""
    explain: Optional[str] = None
    """also write heatmaps per face into this folder (PyTorch model: the artifact's recorded checkpoint)"""
    explain_model: Optional[str] = None
    """for --explain: a zoo name or checkpoint instead of the artifact's"""
    explain_weights: Optional[str] = None
    """for --explain: the checkpoint of the artifact's model"""
    frames: int = 32
    """frames sampled uniformly per video (a clip model: frames // T windows of T frames)"""
    every: Optional[int] = None
    """instead of --frames: every k-th frame"""
    fps: Optional[float] = None
    """instead of --frames: frames at this rate"""
    aggregate: Literal["mean", "vote", "confident", "segment"] = "confident"
    """how frame (or clip) scores of a face track become its video score"""
    batch_frames: int = 1
    """throughput mode for video files: the face crops of N sampled frames in one model call (same records, logits
    up to float noise); 1: each frame's crops as it comes (latency mode, as camera). Clip models batch already"""

    def __post_init__(self):
        super().__post_init__()
        if not self.paths:
            raise InputError("detect: give at least one image, video or folder")
        check_range("--frames", self.frames, 1, allow_none=False)
        check_range("--every", self.every, 1)
        check_range("--fps", self.fps, 0, low_open=True)
        check_range("--batch-frames", self.batch_frames, 1, allow_none=False)


@dataclass
class CameraConfig(RuntimeOptions):
    """Score a camera, stream or video live, with an overlay window or an annotated video."""

    source: str = "0"
    """camera index, video file, rtsp:// or http:// URL, GStreamer pipeline, or csi://N (Jetson)"""
    show: bool = False
    """show frames with the overlay in a window (q or Esc stops)"""
    out: Optional[str] = None
    """headless: write the annotated video here (.mp4)"""
    jsonl: Optional[str] = None
    """write one JSON line per processed frame here, flushed as each frame finishes"""
    live: Literal["auto", "yes", "no"] = "auto"
    """yes: keep only the newest frame (drop stale ones); no: every frame; auto: yes except files"""
    max_frames: Optional[int] = None
    """stop after this many processed frames"""
    smooth: float = 0.3
    """EMA weight of the newest P(fake) per tracked face, in (0, 1]"""
    stall_timeout: float = 5.0
    """warn after this many seconds without a frame"""
    stall_limit: float = 30.0
    """give up after this many seconds without a frame"""
    detect_every: int = 1
    """detect faces on every K-th frame and hold their boxes between; every frame is still cropped and scored"""

    def __post_init__(self):
        super().__post_init__()
        check_range("--max-frames", self.max_frames, 1)
        check_range("--smooth", self.smooth, 0, 1, low_open=True, allow_none=False)
        check_range("--stall-timeout", self.stall_timeout, 0, low_open=True, allow_none=False)
        check_range("--stall-limit", self.stall_limit, 0, low_open=True, allow_none=False)
        check_range("--detect-every", self.detect_every, 1, allow_none=False)


EXPLAIN_METHODS = Literal["gradcam", "gradcam++", "hirescam", "gradcam-elementwise", "layercam", "eigengradcam",
                          "xgradcam", "eigencam", "scorecam", "ablationcam"]


@dataclass
class ExplainConfig:
    """Class-activation heatmaps of P(fake) per face and branch (PyTorch model)."""

    model: str
    """zoo name, checkpoint (DeepGuard's are recognised; else give --arch), or an exported artifact"""
    paths: positional(tuple[str, ...]) = ()
    """images, videos or folders"""
    weights: Optional[str] = None
    """checkpoint for a zoo name or an exported artifact"""
    arch: Optional[str] = None
    """zoo name of a plain checkpoint given as --model"""
    branch: Optional[str] = None
    """a layer the model's card names (MS-Eff-GCViT: high, low, backbone; RepViT: last); None: the card's first"""
    method: Optional[EXPLAIN_METHODS] = None
    """CAM method; None: the card's default for the branch"""
    frames: int = 16
    """frames sampled per video"""
    top: int = 4
    """most suspicious frames explained per video"""
    sanity: bool = False
    """also report the model-randomisation check (correlation with a random-head model's maps)"""
    min_confidence: float = 0.5
    """face detector minimum confidence, in [0, 1]"""
    face_model: Optional[str] = None
    """BlazeFace .tflite; None: the cache or $EDGE_SDK_FACE_MODEL"""
    out: str = "runs/explain"
    """PNGs per input, index.html and explain.json go here"""
    quiet: bool = False
    """no progress display"""
    verbose: bool = False
    """show third-party libraries' log lines"""

    def __post_init__(self):
        if not self.paths:
            raise InputError("explain: give at least one image, video or folder")
        check_range("--frames", self.frames, 1, allow_none=False)
        check_range("--top", self.top, 1, allow_none=False)
        check_range("--min-confidence", self.min_confidence, 0, 1, allow_none=False)


@dataclass
class FetchAssetsConfig:
    """Fetch the BlazeFace face model into the cache ($EDGE_SDK_HOME)."""


__all__ = ["DetectConfig", "CameraConfig", "ExplainConfig", "FetchAssetsConfig", "RuntimeOptions", "check_range",
           "comma_list", "positional", "repeatable", "hidden"]
