"""Core ML ``.mlpackage`` (ML program, iOS 17 / macOS 14 and later): fp16/fp32, int8 weights, palettized
weights, and W8A8 (int8 weights and activations).

    torch.export -> run_decompositions -> coremltools.convert (mlprogram, iOS17, fp16 or fp32 compute)
                 -> coremltools.optimize.coreml weight compression (int8 / palettize4|6|8)
                 -> metadata -> save under a hidden name, then rename

W8A8 calibrates activations. coremltools' own post-training activation quantization runs Core ML
predictions, so it works only on macOS; elsewhere the model is quantized in PyTorch with
``coremltools.optimize.torch``'s ``LinearQuantizer`` (observers on, fake quant on, calibrated on the
crops, finalized), traced, and converted: the converter turns the quantize/dequantize pairs into
Core ML ``quantize``/``dequantize`` ops and int8 weights.

Building and inspecting packages works on any OS; running them (:func:`predict_coreml`) needs macOS.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from edge_sdk.errors import EdgeSDKError, InputError
from edge_sdk.preprocess import CropSpec

from .errors import ExportError, failing_op

PRECISIONS = ("fp16", "fp32")
COMPRESSIONS = (None, "int8", "palettize4", "palettize6", "palettize8", "w8a8")
DEPLOYMENT_TARGET = "iOS17"
DEFAULT_WEIGHT_THRESHOLD = 2048  # tensors with fewer elements stay float (biases, norms, tiny convs)

# coremltools' messages for an operator it has no converter for (torch.export and TorchScript frontends)
_UNSUPPORTED_OP = (
    r"Unsupported fx node ([A-Za-z0-9_.]+)",
    r"convert function for op '([^']+)'",
    r"lowering for Torch `([A-Za-z0-9_.]+)` op",
)


def _coremltools():
    from edge_sdk.backends.base import require

    return require("coremltools", "Core ML export", extra="export")


def _model_name(model: torch.nn.Module) -> str:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)


def _unsupported_op(err: BaseException) -> str | None:
    """The PyTorch op coremltools said it has no converter for, read from the exception chain."""
    seen = err
    while seen is not None:
        for pattern in _UNSUPPORTED_OP:
            m = re.search(pattern, str(seen))
            if m:
                return m.group(1)
        seen = seen.__cause__ or seen.__context__
    return None


def _conversion_error(model: torch.nn.Module, stage: str, err: BaseException) -> ExportError:
    import coremltools as ct

    op = _unsupported_op(err)
    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
    if op is not None:
        hint = (f"coremltools {ct.__version__} cannot convert PyTorch op '{op}' ({type(err).__name__}: {first}); "
                "replace that op in the model, or register a converter with coremltools' @register_torch_op")
    else:
        op = failing_op(err)
        hint = f"{stage} failed ({type(err).__name__}: {first})"
    return ExportError("coreml", _model_name(model), hint, op)


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


# -- image input --------------------------------------------------------------------------------
def image_normalisation(crop: CropSpec) -> dict:
    """``ct.ImageType`` scale and bias that reproduce the crop spec's ``(pixel/255 - mean) / std``.

    ImageType has one scale for all channels and a bias per channel. With ``normalize_in_model`` the
    model takes 0-1 RGB and the mapping is exact (scale 1/255, bias 0). Otherwise scale is
    1/(255 * mean(std)) and bias_c = -mean_c / mean(std): channel c then reaches the model as
    ``std_c / mean(std)`` times the exact value (a per-channel gain, zero error at the channel mean),
    so the relative error is ``|std_c / mean(std) - 1|`` for every pixel; the largest is reported.
    """
    if crop.normalize_in_model:
        return {"color_layout": "RGB", "scale": 1 / 255.0, "bias": [0.0, 0.0, 0.0], "exact": True,
                "max_rel_error": 0.0, "note": "0-1 RGB input; normalisation runs inside the model"}
    std = np.asarray(crop.std, np.float64)
    mean = np.asarray(crop.mean, np.float64)
    s = float(std.mean())
    rel = np.abs(std / s - 1.0)
    return {"color_layout": "RGB", "scale": 1.0 / (255.0 * s), "bias": [float(b) for b in -mean / s],
            "exact": bool(rel.max() == 0.0), "max_rel_error": float(rel.max()),
            "note": (f"Core ML ImageType has a single scale: per-channel std {list(crop.std)} approximated by their "
                     f"mean {s:.6g}; channel values are off by a gain of up to {rel.max():.2%}")}


# -- compression --------------------------------------------------------------------------------
def compress_mlmodel(mlmodel, compression: str, weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD):
    """Post-training weight compression of a converted ML program: ``int8`` or ``palettize{4,6,8}``."""
    import coremltools.optimize.coreml as cto

    if compression == "int8":
        op = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                         weight_threshold=weight_threshold)
        fn = cto.linear_quantize_weights
    elif compression in ("palettize4", "palettize6", "palettize8"):
        op = cto.OpPalettizerConfig(mode="kmeans", nbits=int(compression[-1]), granularity="per_tensor",
                                    weight_threshold=weight_threshold)
        fn = cto.palettize_weights
    else:
        raise InputError(f"Core ML weight compression {compression!r}: choose int8, palettize4, palettize6 or palettize8")
    # all-zero channels (folded identity branches, zero-initialised heads) give 0/0 scales and single-value
    # k-means clusters: harmless (they dequantize to 0), but numpy and sklearn warn about them
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            from sklearn.exceptions import ConvergenceWarning

            warnings.simplefilter("ignore", ConvergenceWarning)
        except ImportError:
            pass
        return fn(mlmodel, cto.OptimizationConfig(global_config=op))


def _check_calib(calib, example: torch.Tensor) -> list[np.ndarray]:
    if not calib:
        raise InputError("W8A8 Core ML export needs calibration crops (calib: a list of (N, 3, H, W) float32 "
                         "arrays made with the crop spec): give --calib DIR, or --calib random for a smoke test")
    batches = []
    for i, b in enumerate(calib):
        b = np.asarray(b, np.float32)
        if b.ndim == 3:
            b = b[None]
        if b.ndim != 4 or tuple(b.shape[1:]) != tuple(example.shape[1:]):
            raise InputError(f"calibration batch {i} has shape {tuple(b.shape)}; the model takes "
                             f"(N, {', '.join(map(str, example.shape[1:]))})")
        batches.append(b)
    return batches


W8A8_LINEAR_QUANTIZER = "coremltools.optimize.torch LinearQuantizer (FX), TorchScript conversion"
W8A8_PT2E = "PT2E: ExecuTorch's CoreMLQuantizer on torch.export (fallback for models FX cannot trace)"


def quantize_w8a8_torch(model: torch.nn.Module, example: torch.Tensor, calib: list[np.ndarray]) -> dict:
    """int8 symmetric weights (per channel) and activations, calibrated on ``calib``, in PyTorch.

    First coremltools.optimize.torch's ``LinearQuantizer``: ``milestones=[0, 0, 100, 0]`` turns observers
    and fake quantization on from step 0, freezes quantization parameters at step 100 (never reached here)
    and BatchNorm statistics from step 0; ``step()`` must run once after ``prepare`` or the observers stay
    off and every scale is the default. It traces the model with ``torch.fx``, which fails on
    shape-dependent Python control flow (MS-Eff-GCViT has some); then the same scheme runs through PT2E
    (``torch.export`` -> ``prepare_pt2e`` with ExecuTorch's ``CoreMLQuantizer`` -> calibrate ->
    ``convert_pt2e``), which needs executorch and torchao. Every conv and linear layer is quantized
    (neither quantizer has a size threshold).

    Returns ``{"module", "method", "fx_error"}``: ``module`` is what :func:`export_coreml` converts.
    """
    from coremltools.optimize.torch.quantization import (LinearQuantizer, LinearQuantizerConfig,
                                                         ModuleLinearQuantizerConfig)

    config = LinearQuantizerConfig(global_config=ModuleLinearQuantizerConfig(
        quantization_scheme="symmetric", milestones=[0, 0, 100, 0]))
    quantizer = LinearQuantizer(copy.deepcopy(model).eval(), config)
    try:
        prepared = quantizer.prepare(example_inputs=(example,), inplace=True)
    except Exception as err:  # torch.fx could not trace the model: quantize the torch.export graph instead
        fx_error = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}"
    else:
        quantizer.step()
        with torch.no_grad():
            for b in calib:
                prepared(torch.from_numpy(b))
        return {"module": quantizer.finalize(inplace=True).eval(), "method": W8A8_LINEAR_QUANTIZER, "fx_error": None}
    try:
        from executorch.backends.apple.coreml.quantizer import CoreMLQuantizer
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError as err:
        raise ExportError("coreml", _model_name(model),
                          f"W8A8: coremltools' LinearQuantizer cannot trace this model with torch.fx ({fx_error}), and "
                          "the torch.export fallback needs executorch and torchao: pip install 'edge-sdk[export]'") from err
    graph = torch.export.export(model, (example,)).module()
    prepared = prepare_pt2e(graph, CoreMLQuantizer(LinearQuantizerConfig(
        global_config=ModuleLinearQuantizerConfig(quantization_scheme="symmetric"))))
    with torch.no_grad():  # the exported graph has the example's batch size (1): one crop at a time
        for b in calib:
            for i in range(len(b)):
                prepared(torch.from_numpy(b[i:i + 1]))
    return {"module": convert_pt2e(prepared), "method": W8A8_PT2E, "fx_error": fx_error}


# -- conversion ---------------------------------------------------------------------------------
def _io_types(ct, example: torch.Tensor, image_input: CropSpec | None, input_name: str, output_name: str):
    if image_input is None:
        inp = ct.TensorType(name=input_name, shape=tuple(example.shape), dtype=np.float32)
        norm = None
    else:
        norm = image_normalisation(image_input)
        inp = ct.ImageType(name=input_name, shape=tuple(example.shape), scale=norm["scale"], bias=norm["bias"],
                           color_layout=ct.colorlayout.RGB)
    return [inp], [ct.TensorType(name=output_name, dtype=np.float32)], norm


def _convert(ct, source, inputs, outputs, precision: str):
    return ct.convert(source, inputs=inputs, outputs=outputs, convert_to="mlprogram",
                      minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
                      compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32)


def save_mlpackage(mlmodel, path: str | os.PathLike) -> Path:
    """Save under a hidden sibling name, then rename: a partial package never sits at ``path``."""
    from edge_sdk.fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        mlmodel.save(str(tmp))
    return path


def export_coreml(model: torch.nn.Module, path: str | os.PathLike, example: torch.Tensor, *, precision: str = "fp16",
                  compression: str | None = None, calib: list[np.ndarray] | None = None,
                  image_input: CropSpec | None = None, metadata: dict[str, str] | None = None,
                  input_name: str = "input", output_name: str = "logit",
                  weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD) -> dict:
    """Convert ``model`` (eval, reparameterized) for input like ``example`` (1, 3, H, W) to ``path`` (.mlpackage).

    ``precision``: fp16 or fp32 compute (inputs and outputs stay float32). ``compression``: None, int8
    (per-channel symmetric weights), palettize4/6/8 (k-means LUT per tensor) or w8a8 (needs ``calib``, a
    list of normalised (N, 3, H, W) float32 batches). ``image_input``: a crop spec; the input becomes an
    RGB image whose scale/bias apply the spec's normalisation. ``metadata`` goes to user_defined_metadata.
    Tensors with fewer than ``weight_threshold`` elements are not compressed.

    Returns path, precision, compression, seconds per step (export_s, compress_s, convert_s, save_s),
    bytes, and :func:`inspect_mlpackage`'s structure.
    """
    ct = _coremltools()
    path = Path(path)
    if path.suffix == "":
        path = path.with_name(path.name + ".mlpackage")
    elif path.suffix != ".mlpackage":
        raise InputError(f"{path}: a Core ML ML program is a .mlpackage directory; name it *.mlpackage")
    if precision not in PRECISIONS:
        raise InputError(f"Core ML precision {precision!r}: choose fp16 or fp32")
    if compression not in COMPRESSIONS:
        raise InputError(f"Core ML compression {compression!r}: choose none, "
                         f"{', '.join(c for c in COMPRESSIONS if c)}")
    frame = example.ndim == 4 and example.shape[1] == 3
    if example.shape[0] != 1 or example.ndim not in (3, 4, 5) or (image_input is not None and not frame) or (
            example.ndim == 4 and not frame):
        raise InputError(f"Core ML export takes one example (batch 1): a frame (1, 3, H, W), or as a tensor input a "
                         f"clip (1, T, 3, H, W) or per-frame vectors (1, T, C); got {tuple(example.shape)}")
    if image_input is not None and tuple(example.shape[2:]) != (image_input.size, image_input.size):
        raise InputError(f"image input: crop size {image_input.size} does not match the example "
                         f"{tuple(example.shape[2:])}")
    batches = _check_calib(calib, example) if compression == "w8a8" else None
    model = model.eval()
    example = example.detach().to(torch.float32).contiguous()
    inputs, outputs, norm = _io_types(ct, example, image_input, input_name, output_name)
    steps: dict[str, float] = {}
    coreml_w8a8 = compression == "w8a8" and sys.platform == "darwin" and image_input is None
    w8a8 = {"method": "coremltools.optimize.coreml linear_quantize_activations (Core ML predictions)", "fx_error": None}

    t, stage = time.perf_counter(), "torch.export"
    try:
        if compression == "w8a8" and not coreml_w8a8:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # quantized-tensor and tracer deprecation chatter
                stage = "W8A8 quantization in PyTorch"
                w8a8 = quantize_w8a8_torch(model, example, batches)
                steps["compress_s"] = round(time.perf_counter() - t, 2)
                t = time.perf_counter()
                with torch.no_grad():
                    if w8a8["method"] == W8A8_PT2E:
                        stage = "torch.export of the quantized model"
                        source = torch.export.export(w8a8["module"], (example,)).run_decompositions({})
                    else:  # LinearQuantizer's output holds quantized tensors, which torch.export cannot fake
                        stage = "TorchScript trace of the quantized model"
                        source = torch.jit.trace(w8a8["module"], example, check_trace=False)
        else:
            with torch.no_grad():
                source = torch.export.export(model, (example,)).run_decompositions({})
        steps["export_s"] = round(time.perf_counter() - t, 2)
        t, stage = time.perf_counter(), "coremltools conversion"
        mlmodel = _convert(ct, source, inputs, outputs, precision)
        steps["convert_s"] = round(time.perf_counter() - t, 2)
    except EdgeSDKError:
        raise
    except Exception as err:
        raise _conversion_error(model, stage, err) from err

    t = time.perf_counter()
    try:
        if coreml_w8a8:  # macOS: calibrate activations with Core ML predictions, then int8 weights
            import coremltools.optimize.coreml as cto

            act = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
                mode="linear_symmetric", dtype="int8", weight_threshold=weight_threshold))
            samples = [{input_name: b[i:i + 1]} for b in batches for i in range(len(b))]
            mlmodel = cto.linear_quantize_activations(mlmodel, act, sample_data=samples)
            mlmodel = compress_mlmodel(mlmodel, "int8", weight_threshold)
            steps["compress_s"] = round(time.perf_counter() - t, 2)
        elif compression in ("int8", "palettize4", "palettize6", "palettize8"):
            mlmodel = compress_mlmodel(mlmodel, compression, weight_threshold)
            steps["compress_s"] = round(time.perf_counter() - t, 2)
    except EdgeSDKError:
        raise
    except Exception as err:
        raise _conversion_error(model, f"{compression} compression", err) from err

    _describe(mlmodel, metadata, input_name, output_name, image_input, norm)
    t = time.perf_counter()
    save_mlpackage(mlmodel, path)
    steps["save_s"] = round(time.perf_counter() - t, 2)
    report = {"path": str(path), "precision": precision, "compression": compression, **steps,
              "minimum_deployment_target": DEPLOYMENT_TARGET, "coremltools": ct.__version__,
              "weight_threshold": weight_threshold if compression and (compression != "w8a8" or coreml_w8a8) else None,
              "image_input": norm}
    if batches is not None:
        report["calibration"] = {"batches": len(batches), "samples": int(sum(len(b) for b in batches)),
                                 "method": w8a8["method"]}
        if w8a8["fx_error"]:
            report["calibration"]["fx_error"] = w8a8["fx_error"]
    report.update(inspect_mlpackage(path))
    return report


def compress_mlpackage(src: str | os.PathLike, dst: str | os.PathLike, compression: str, *,
                       weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD, metadata: dict[str, str] | None = None) -> dict:
    """Weight-compress an existing .mlpackage (int8 or palettize4/6/8) into ``dst`` without converting again.

    Descriptions and metadata are kept; ``metadata`` entries are added. W8A8 needs the PyTorch model
    (activation calibration): use :func:`export_coreml` for it. Returns like :func:`export_coreml`.
    """
    ct = _coremltools()
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise InputError(f"{src}: no .mlpackage directory here")
    if src.resolve() == dst.resolve():
        raise InputError(f"{src}: compress into another path (dst is the source)")
    mlmodel = ct.models.MLModel(str(src), skip_model_load=True)
    t = time.perf_counter()
    try:
        compressed = compress_mlmodel(mlmodel, compression, weight_threshold)
    except EdgeSDKError:
        raise
    except Exception as err:
        raise ExportError("coreml", src.name, f"{compression} compression failed ({type(err).__name__}: {err})") from err
    steps = {"compress_s": round(time.perf_counter() - t, 2)}
    for k, v in (metadata or {}).items():
        compressed.user_defined_metadata[str(k)] = str(v)
    t = time.perf_counter()
    save_mlpackage(compressed, dst)
    steps["save_s"] = round(time.perf_counter() - t, 2)
    return {"path": str(dst), "source": str(src), "compression": compression, **steps,
            "weight_threshold": weight_threshold, "coremltools": ct.__version__, **inspect_mlpackage(dst)}


def _describe(mlmodel, metadata, input_name, output_name, image_input, norm) -> None:
    for k, v in (metadata or {}).items():
        mlmodel.user_defined_metadata[str(k)] = str(v)
    mlmodel.short_description = "Deepfake detector on one face crop: one logit; sigmoid gives P(fake)"
    if image_input is None:
        mlmodel.input_description[input_name] = ("face crop, float32 (1, 3, H, W), RGB, normalised as the crop spec "
                                                 "in the manifest says")
    else:
        how = "normalised inside" if norm["exact"] else f"normalised by scale/bias ({norm['note']})"
        mlmodel.input_description[input_name] = f"face crop, RGB image {image_input.size}x{image_input.size}, {how}"
    mlmodel.output_description[output_name] = "logit (1, 1); sigmoid gives P(fake)"


# -- inspection ---------------------------------------------------------------------------------
_WEIGHT_ATTRS = ("quantized_data", "indices", "data", "val")  # the stored payload of each weight op


def _walk(block):
    for op in block.operations:
        yield op
        for sub in op.blocks:
            yield from _walk(sub)


def inspect_mlpackage(path: str | os.PathLike) -> dict:
    """Structure of a .mlpackage, on any OS (no Core ML runtime needed).

    specification_version, deployment_target, opset, inputs / outputs (name, type, shape, dtype),
    op_types (Counter over the main function, nested blocks included), weights ({op type: {payload
    dtype: count}} for weights stored in the weight file), lut_sizes (palettization: {entries: count}),
    user_defined_metadata, description (the short description), bytes.
    """
    ct = _coremltools()
    from coremltools.proto import MIL_pb2

    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no .mlpackage directory here")
    try:
        spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    except Exception as err:
        raise InputError(f"{path}: not a readable Core ML package ({type(err).__name__}: {err})") from err

    def feature(f) -> dict:
        kind = f.type.WhichOneof("Type")
        if kind == "imageType":
            im = f.type.imageType
            space = ct.proto.FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(im.colorSpace)
            return {"name": f.name, "type": "image", "shape": [1, 1 if space == "GRAYSCALE" else 3, int(im.height),
                                                                int(im.width)], "dtype": space}
        if kind == "multiArrayType":
            a = f.type.multiArrayType
            return {"name": f.name, "type": "multiArray", "shape": [int(s) for s in a.shape],
                    "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(a.dataType)}
        return {"name": f.name, "type": kind, "shape": None, "dtype": None}

    dtype = MIL_pb2.DataType.Name
    report = {"specification_version": int(spec.specificationVersion), "deployment_target": None, "opset": None,
              "model_type": spec.WhichOneof("Type"),
              "inputs": [feature(f) for f in spec.description.input],
              "outputs": [feature(f) for f in spec.description.output],
              "op_types": Counter(), "weights": {}, "lut_sizes": Counter(),
              "user_defined_metadata": dict(spec.description.metadata.userDefined),
              "description": spec.description.metadata.shortDescription}
    try:
        report["deployment_target"] = ct.target(spec.specificationVersion).name
    except ValueError:
        pass
    if spec.WhichOneof("Type") == "mlProgram":
        main = spec.mlProgram.functions["main"]
        report["opset"] = main.opset
        weights: dict[str, Counter] = {}
        for op in _walk(main.block_specializations[main.opset]):
            report["op_types"][op.type] += 1
            if not op.type.startswith("const"):
                continue
            blobs = {k: v for k, v in op.attributes.items() if v.WhichOneof("value") == "blobFileValue"}
            payload = next((k for k in _WEIGHT_ATTRS if k in blobs), None)
            if payload is None:  # immediate constants (shapes, scalars, axes) are not weights
                continue
            weights.setdefault(op.type, Counter())[dtype(blobs[payload].type.tensorType.dataType)] += 1
            if "lut" in blobs:
                report["lut_sizes"][int(blobs["lut"].type.tensorType.dimensions[-1].constant.size)] += 1
        report["weights"] = {k: dict(v) for k, v in sorted(weights.items())}
    report["bytes"] = _tree_bytes(path)
    return report


# -- prediction ---------------------------------------------------------------------------------
def predict_coreml(path: str | os.PathLike, batch: np.ndarray, compute_units: str = "ALL") -> np.ndarray:
    """Run a .mlpackage on a batch, one sample at a time (the package has batch 1). macOS only.

    Tensor inputs take (N, 3, H, W) float32 as the model does; image inputs take (N, H, W, 3) uint8 RGB crops.
    Returns the outputs stacked: (N, ...) float32.
    """
    if sys.platform != "darwin":
        raise EdgeSDKError(f"{path}: Core ML prediction needs macOS (this is {sys.platform}); inspect the package "
                           "with inspect_mlpackage here, or run the ONNX / ExecuTorch artifact")
    ct = _coremltools()
    from PIL import Image

    model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units))
    desc = model.get_spec().description
    inp, out = desc.input[0], desc.output[0].name
    image = inp.type.WhichOneof("Type") == "imageType"
    x = np.asarray(batch)
    results = []
    for i in range(len(x)):
        if image:
            feed = Image.fromarray(np.ascontiguousarray(x[i], dtype=np.uint8), "RGB")
        else:
            feed = np.ascontiguousarray(x[i:i + 1], dtype=np.float32)
        results.append(np.asarray(model.predict({inp.name: feed})[out], np.float32))
    return np.concatenate(results) if results else np.zeros((0,), np.float32)


def build(prep, path: Path, target, opts, ctx: dict) -> dict:
    """The ``coreml-*`` rows: compute precision and weight compression come from the row's options."""
    import json

    from edge_sdk.card import OUTPUT_MEANING

    compression = target.options.get("compression")
    if compression == "palettize":
        compression = f"palettize{opts.palettize_bits}"
    meta = {"edge_sdk.model": prep.name, "edge_sdk.crop": json.dumps(prep.crop.to_dict()),
            "edge_sdk.output": OUTPUT_MEANING, "edge_sdk.precision": target.precision,
            "edge_sdk.licence": json.dumps(prep.card.to_manifest(prep.loaded.tag)["licence"])}
    report = export_coreml(prep.module, path, prep.example(), precision=target.options.get("compute", "fp16"),
                           compression=compression,
                           calib=None if ctx["calib"] is None else list(ctx["calib"].batches(1)),
                           image_input=prep.crop if opts.image_input else None, metadata=meta)
    steps = {k: v for k, v in report.items() if k.endswith("_s") or k == "seconds"}
    return {"steps": steps, "coreml": {k: v for k, v in report.items() if k not in steps and k != "path"}}
