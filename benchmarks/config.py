"""Typed options of ``bench``, ``demo`` and ``zoo``, written once (the CLI is generated from them). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from edge_sdk.config import check_range, comma_list
from edge_sdk.errors import InputError

DEFAULT_MODELS = ("ms_eff_gcvit_b0", "repvit_m0_9_student", "repvit_m1_1_student")
DEFAULT_TARGETS = ("torch", "onnx-fp32", "onnx-fp16", "onnx-int8", "executorch-fp32", "executorch-int8",
                   "coreml-fp16", "tensorrt-fp16", "tensorrt-int8")


@dataclass
class BenchConfig:
    """FLOPs, size, latency, memory and parity per model x target; a CI regression gate."""

    models: tuple[str, ...] = DEFAULT_MODELS
    """zoo names, comma-separated or space-separated"""
    targets: tuple[str, ...] = DEFAULT_TARGETS
    """rows of the target table (see `edge-sdk export --help`), comma-separated, or all"""
    threads: Optional[int] = None
    """pin each measurement to this many cores and threads; None: every core, each runtime's own thread count"""
    batch: int = 1
    """inputs per timed call"""
    warmup: int = 10
    """untimed runs before timing"""
    runs: int = 100
    """timed runs per target"""
    data: Optional[str] = None
    """face images/videos: inputs and parity crops (real/ and fake/ subfolders add accuracy and AUC); None: the
    face photos shipped in installed packages"""
    data_limit: int = 64
    """most crops taken from --data"""
    calib: Optional[str] = None
    """calibration data for targets that need it; None: --data, else the packaged face photos; or 'random'"""
    calib_size: int = 64
    """most calibration crops"""
    weights: Optional[str] = None
    """checkpoint (with exactly one model); None: random initialisation (said on stderr)"""
    seed: int = 0
    """random-init seed when no --weights"""
    model_kwargs: Optional[str] = None
    """JSON object of model kwargs for a random initialisation (with exactly one model), e.g. '{"depth_size": 196}'
    for megatron_rgbd; a checkpoint's own (--weights) win"""
    e2e: Optional[str] = None
    """also frames/s of the whole pipeline on this video"""
    e2e_detect_every: tuple[str, ...] = ()
    """with --e2e: also the loop detecting faces every K-th frame for each K given (frames/s, and the held boxes'
    IoU against detecting every frame)"""
    e2e_batch_frames: int = 8
    """with --e2e: also detect's throughput mode over the video at this --batch-frames against 1 (frames/s of both,
    one run after the other); 0 or 1: not run"""
    e2e_target: str = "onnx-fp32"
    """target(s) run end to end with --e2e: one (else the first that ran), a comma list, or all; each in its own
    process, with its peak resident memory"""
    profile: bool = False
    """also each target's top ops by time (ONNX Runtime's profiler for .onnx, ETDump and the Inspector for .pte)"""
    trt_ops_table: Optional[str] = None
    """TensorRT ONNX operator table CSV for the offline check"""
    out: str = "runs/bench"
    """bench.json, bench.md and plots go here"""
    cache: Optional[str] = None
    """exported artifacts are kept and reused here; None: OUT/artifacts"""
    baseline: Optional[str] = None
    """earlier bench.json to gate against (exit 1 on a regression)"""
    max_regression: float = 0.20
    """allowed slow-down of p50 / reference"""
    reference: Literal["torch", "probe"] = "torch"
    """what times are divided by before comparing (probe where a run has no torch row)"""
    gate: Literal["all", "parity", "speed"] = "all"
    """what the gate fails on"""
    parity_slack: float = 1.0
    """allowed growth of max |d logit| (1.0 = x2)"""
    write_baseline: Optional[str] = None
    """save this run as a baseline"""
    threshold: float = 0.5
    """decision threshold for agreement and accuracy"""
    target_fpr: float = 0.01
    """with labelled --data (real/ fake/): each target's TPR at its own threshold for this false-positive rate"""
    verbose: bool = False
    """show third-party libraries' log lines"""

    def __post_init__(self):
        self.models = tuple(comma_list(self.models)) or DEFAULT_MODELS
        self.targets = tuple(comma_list(self.targets)) or DEFAULT_TARGETS
        if self.weights and len(self.models) != 1:
            raise InputError(f"--weights {self.weights}: give exactly one model with it (got {len(self.models)})")
        if self.model_kwargs is not None:
            import json

            try:
                kw = json.loads(self.model_kwargs)
            except json.JSONDecodeError as err:
                raise InputError(f"--model-kwargs {self.model_kwargs!r}: not JSON ({err})") from None
            if not isinstance(kw, dict) or len(self.models) != 1:
                raise InputError(f"--model-kwargs {self.model_kwargs!r}: a JSON object, with exactly one model (got "
                                 f"{len(self.models)})")
        for opt, v, lo in (("--batch", self.batch, 1), ("--runs", self.runs, 1), ("--warmup", self.warmup, 0),
                           ("--threads", self.threads, 1), ("--data-limit", self.data_limit, 1),
                           ("--calib-size", self.calib_size, 1), ("--e2e-batch-frames", self.e2e_batch_frames, 0)):
            check_range(opt, v, lo)
        every = comma_list(self.e2e_detect_every)
        if not all(k.isdigit() for k in every):
            raise InputError(f"--e2e-detect-every {','.join(every)}: whole numbers of frames, e.g. 1,3,5")
        self.e2e_detect_every = tuple(int(k) for k in every)
        for k in self.e2e_detect_every:
            check_range("--e2e-detect-every", k, 1, allow_none=False)
        check_range("--max-regression", self.max_regression, 0, allow_none=False)
        check_range("--parity-slack", self.parity_slack, 0, allow_none=False)
        check_range("--threshold", self.threshold, 0, 1, allow_none=False)
        check_range("--target-fpr", self.target_fpr, 0, 1, allow_none=False)


@dataclass
class DemoConfig:
    """The whole flow on face photos shipped in installed packages: data, teacher, students, export, bench, detect,
    and runs/demo/report.html."""

    out: str = "runs/demo"
    """stages, artifacts and report.md / report.html"""
    fast: bool = False
    """the smoke version (one student, ONNX only, tiny plans)"""
    fresh: bool = False
    """redo every stage instead of reusing finished ones"""
    teacher: Literal["b5", "clip"] = "b5"
    """b5: MS-Eff-GCViT B5 on crops; clip: the frozen-CLIP video teacher on clips"""
    all_targets: bool = False
    """also the targets the 10-minute plan leaves out (B0's ExecuTorch int8)"""
    verbose: bool = False
    """show every stage's log on the console instead of runs/demo/<stage>/log.txt"""
    faces: Optional[str] = None
    """a folder of your own real face photos (one person per sub-folder)"""
    videos: Optional[str] = None
    """a folder of your own real face videos"""


@dataclass
class ZooConfig:
    """Params, MACs/FLOPs and parameter split per model of the zoo."""

    models: tuple[str, ...] = ()
    """zoo names, comma-separated; empty: every model of the zoo's report"""
    out: Optional[str] = None
    """folder for zoo.md and zoo.json"""

    def __post_init__(self):
        self.models = tuple(comma_list(self.models))


__all__ = ["BenchConfig", "DemoConfig", "ZooConfig", "DEFAULT_MODELS", "DEFAULT_TARGETS"]
