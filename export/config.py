"""Typed options of ``export``, ``verify`` and ``build-engine``, written once (the CLI is generated from them).

Torch-free: the CLI builds its help from these without importing an exporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from edge_sdk.config import check_range, hidden, positional, repeatable
from edge_sdk.errors import InputError


@dataclass
class ExportConfig:
    """Export a model to the targets of the target table, each with a manifest and a parity check."""

    model: Optional[str] = None
    """zoo name (e.g. ms_eff_gcvit_b0, repvit_m0_9_student) or a checkpoint that records its model (best.pt of train,
    a Hugging Face save_pretrained folder); None: the model --weights records"""
    weights: Optional[str] = None
    """checkpoint for a zoo name, or alone: one that names its model (best.pt, an HF folder with config.json);
    None: random initialisation (said on stderr and in the manifest)"""
    target: str = "onnx"
    """a format of the target table (onnx, executorch, executorch-coreml, coreml, tensorrt, ...) or all"""
    precision: Optional[str] = None
    """one precision of the target (fp32, fp16, int8, palettized, w8a8); None: every precision it has"""
    out: str = "artifacts"
    """folder; each target goes to <out>/<target>-<precision>/"""
    calib: Optional[str] = None
    """folder of face images or videos for calibration, 'packaged' (face photos shipped in installed packages), or 'random'"""
    calib_size: int = 512
    """most calibration inputs (with --calib-variants, a face crop and its 7 variants count 8)"""
    calib_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    """ONNX int8 calibration method"""
    calib_variants: bool = True
    """calibrate on each face crop's hard variants too (dark, bright, low/high contrast, JPEG q8, grey, the whole
    frame), the kinds the parity set checks; off: the face crops alone"""
    keep_float: repeatable(tuple[str, ...]) = ()
    """ONNX int8: keep nodes whose name or op type matches this glob in float (repeatable)"""
    verify_data: Optional[str] = None
    """face images/videos for the parity check; None: the calibration crops"""
    parity_crops: int = 64
    """most crops of the parity check"""
    dynamic_batch: bool = False
    """ONNX: a dynamic batch dimension instead of a static batch of 1"""
    opset: int = 18
    """ONNX opset"""
    normalize_in_model: bool = False
    """bake mean/std into the graph: the artifact takes 0-1 RGB"""
    image_input: bool = False
    """Core ML: image input with scale/bias from the crop spec"""
    palettize_bits: Literal[4, 6, 8] = 6
    """Core ML palettization: bits per weight"""
    simplify: bool = True
    """ONNX: simplify the graph with onnxslim (--no-simplify to skip)"""
    trt_ops_table: Optional[str] = None
    """TensorRT ONNX operator table CSV for the offline check; None: $EDGE_SDK_TRT_OPS"""
    threshold: Optional[float] = None
    """decision threshold written to the manifest, in [0, 1]; None: with labelled --verify-data (real/ fake/), each
    artifact's own at --target-fpr, else 0.5"""
    target_fpr: float = 0.01
    """false-positive rate at which each artifact's threshold is chosen on labelled parity data"""
    json: Optional[str] = None
    """also write the records as JSON here"""
    verbose: bool = False
    """show third-party libraries' log lines (coremltools progress, torch warnings, ...)"""
    formats: hidden(tuple) = ()
    """explicit target names instead of --target/--precision (Python use)"""

    def __post_init__(self):
        if self.model is None and self.weights is None:
            raise InputError("export: give --model (a zoo name or a checkpoint) or --weights (a checkpoint that names "
                             "its model)")
        check_range("--calib-size", self.calib_size, 1, allow_none=False)
        check_range("--parity-crops", self.parity_crops, 1, allow_none=False)
        check_range("--threshold", self.threshold, 0, 1)
        check_range("--target-fpr", self.target_fpr, 0, 1)
        check_range("--opset", self.opset, 13, 23, allow_none=False)
        if self.palettize_bits not in (4, 6, 8):
            raise InputError(f"--palettize-bits {self.palettize_bits}: must be 4, 6 or 8")


@dataclass
class VerifyConfig:
    """Parity of an artifact against its PyTorch model on face crops (the worst case over the set)."""

    artifact: positional(str)
    """the exported file, with its manifest beside it"""
    data: str = "packaged"
    """face images/videos (real/ and fake/ subfolders give AUC), or 'packaged' (face photos shipped in installed packages)"""
    weights: Optional[str] = None
    """the checkpoint it was exported from; None: what the manifest records (a checkpoint, or a random-init seed)"""
    limit: int = 256
    """most crops"""
    record: bool = False
    """store the result in the manifest (it replaces the parity recorded at export)"""
    localize: bool = False
    """also report the first layer or op whose intermediate output departs from PyTorch's, with the gap"""
    tol: Optional[float] = None
    """--localize: relative gap at which a tensor departs; None: 1e-3 (float targets), 0.05 (compressed)"""

    def __post_init__(self):
        check_range("--limit", self.limit, 1, allow_none=False)
        check_range("--tol", self.tol, 0, low_open=True)


@dataclass
class BuildEngineConfig:
    """Build a TensorRT engine from an ONNX file (TensorRT 10, NVIDIA GPU), with its manifest."""

    onnx: positional(str)
    """ONNX file (fp32, or symmetric int8 Q/DQ for --int8)"""
    out: Optional[str] = None
    """engine file; None: the ONNX path with .engine"""
    fp16: bool = True
    """allow fp16 kernels (--no-fp16 to forbid)"""
    int8: bool = False
    """int8 from the graph's Q/DQ nodes (explicit quantization)"""
    workspace_gb: float = 2.0
    """builder workspace memory pool limit"""
    timing_cache: Optional[str] = None
    """timing cache file, loaded and saved"""
    shapes: str = "1,4,16"
    """MIN,OPT,MAX batch sizes of the optimization profile when the batch is dynamic"""
    check: Optional[str] = None
    """first check the ONNX against this TensorRT operator table CSV; stop if it has offenders"""

    def __post_init__(self):
        check_range("--workspace-gb", self.workspace_gb, 0, low_open=True, allow_none=False)
        try:
            parts = tuple(int(p) for p in self.shapes.split(","))
        except ValueError:
            parts = ()
        if len(parts) != 3 or not 0 < parts[0] <= parts[1] <= parts[2]:
            raise InputError(f"--shapes takes min,opt,max batch sizes like 1,4,16, got {self.shapes!r}")
        self.batches = parts


__all__ = ["ExportConfig", "VerifyConfig", "BuildEngineConfig"]
