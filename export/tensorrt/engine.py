"""Building TensorRT engines (TensorRT 10 Python API, an NVIDIA GPU), their manifests, and ``edge-sdk build-engine``."""

from __future__ import annotations

import os
import json
import sys
import time
from pathlib import Path

from edge_sdk.errors import EdgeSDKError, InputError, MissingDependencyError
from edge_sdk.fileio import write_atomic

from .checks import check_onnx_for_tensorrt, format_report
from .graph import _walk
from .qdq import QDQ_OPS

DEFAULT_BATCHES = (1, 4, 16)  # min, opt, max batch of the optimization profile when the batch is dynamic


class TensorRTBuildError(EdgeSDKError):
    """TensorRT could not parse the ONNX file or build an engine from it; ``errors`` lists each parser error."""

    def __init__(self, model: str, message: str, errors: list[dict] | None = None):
        super().__init__(f"TensorRT engine build from {model} failed: {message}")
        self.errors = errors or []


def _import_tensorrt():
    try:
        import tensorrt as trt
    except (ImportError, OSError) as err:  # OSError: the wheel is there but libnvinfer cannot be loaded
        raise MissingDependencyError("tensorrt", "building TensorRT engines", extra="tensorrt") from err
    return trt


def tensorrt_version() -> str | None:
    """The installed TensorRT version, or None where it cannot be imported."""
    try:
        return _import_tensorrt().__version__
    except MissingDependencyError:
        return None


def _profile_shape(dims: tuple, given, which: str, name: str) -> tuple:
    """A full shape for one profile point: ``given`` is a batch size (int) or a full shape."""
    if isinstance(given, (list, tuple)):
        shape = tuple(int(d) for d in given)
        if len(shape) != len(dims) or any(d >= 0 and d != s for d, s in zip(dims, shape)):
            raise InputError(f"{which}_shape {shape} does not fit input {name!r} of shape {dims}")
        return shape
    if any(d < 0 for d in dims[1:]):
        raise InputError(f"input {name!r} has dynamic dims besides the batch ({dims}): give full min/opt/max "
                         "shapes, not batch sizes")
    return (int(given), *dims[1:])


def _parser_errors(parser) -> list[dict]:
    out = []
    for i in range(parser.num_errors):
        e = parser.get_error(i)
        item = {"message": str(e)}
        for key in ("code", "desc", "node", "node_name", "node_operator", "file", "line", "func"):
            fn = getattr(e, key, None)
            if callable(fn):
                try:
                    v = fn()
                    item[key] = v if isinstance(v, (int, str)) else str(v)
                except Exception:  # noqa: BLE001 - older bindings lack some accessors
                    pass
        out.append(item)
    return out


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, *, fp16: bool = True,
                 int8: bool = False, workspace_gb: float = 2.0, timing_cache: str | os.PathLike | None = None,
                 min_shape=None, opt_shape=None, max_shape=None) -> dict:
    """Build a serialized TensorRT engine from an ONNX file with the TensorRT 10 Python API.

    ``fp16``/``int8`` set the builder's precision flags; int8 needs an explicitly quantized (Q/DQ) graph,
    since TensorRT 10 deprecates calibrators (a Q/DQ graph gets the INT8 flag either way). Inputs with a
    dynamic dim get one optimization profile: ``min/opt/max_shape`` are batch sizes or full shapes
    (default batches 1, 4, 16). ``timing_cache`` is loaded if it exists and saved after the build. The
    engine is written atomically. Returns what was built: TensorRT version, seconds, engine bytes, profile.
    """
    trt = _import_tensorrt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise InputError(f"{onnx_path}: ONNX file not found")
    if workspace_gb <= 0:
        raise InputError(f"workspace_gb must be positive, got {workspace_gb}")
    import onnx

    has_qdq = any(n.op_type in QDQ_OPS for n, _, _ in _walk(onnx.load(str(onnx_path), load_external_data=False).graph))
    if int8 and not has_qdq:
        raise InputError(f"{onnx_path.name} has no QuantizeLinear/DequantizeLinear nodes: TensorRT 10 builds int8 "
                         "from explicitly quantized (Q/DQ) ONNX only; quantize it first (symmetric int8 QDQ), or "
                         "build without --int8")
    t0 = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # from the file, so external data beside it is found
        errors = _parser_errors(parser)
        detail = "; ".join(f"[{e.get('node_operator') or '?'} {e.get('node_name') or ''}] "
                           f"{e.get('desc') or e['message']}" for e in errors) or "no error recorded"
        raise TensorRTBuildError(onnx_path.name, f"the ONNX parser rejected it ({len(errors)} error(s)): {detail}",
                                 errors)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    flags = []
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        flags.append("FP16")
    if int8 or has_qdq:
        config.set_flag(trt.BuilderFlag.INT8)
        flags.append("INT8")

    inputs, profile_report = [], {}
    profile = None
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tuple(tensor.shape)
        inputs.append({"name": tensor.name, "shape": list(dims), "dtype": str(tensor.dtype)})
        if all(d >= 0 for d in dims):
            continue
        if profile is None:
            profile = builder.create_optimization_profile()
        points = [_profile_shape(dims, given if given is not None else default, which, tensor.name)
                  for given, default, which in zip((min_shape, opt_shape, max_shape), DEFAULT_BATCHES,
                                                   ("min", "opt", "max"))]
        if not all(a <= b <= c for a, b, c in zip(*points)):
            raise InputError(f"input {tensor.name!r}: need min <= opt <= max, got {points}")
        profile.set_shape(tensor.name, *points)
        profile_report[tensor.name] = dict(zip(("min", "opt", "max"), map(list, points)))
    if profile is not None:
        config.add_optimization_profile(profile)

    cache_path = Path(timing_cache) if timing_cache else None
    cache_loaded = False
    if cache_path is not None:
        data = cache_path.read_bytes() if cache_path.is_file() else b""
        cache_loaded = bool(data)
        config.set_timing_cache(config.create_timing_cache(data), ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTBuildError(onnx_path.name, "build_serialized_network returned nothing (see TensorRT's log "
                                                 "above: unsupported layer, workspace too small, or no GPU)")
    n_bytes = len(memoryview(serialized))
    write_atomic(engine_path, bytes(memoryview(serialized)))
    if cache_path is not None:
        write_atomic(cache_path, bytes(memoryview(config.get_timing_cache().serialize())))
    return {
        "engine": str(engine_path), "onnx": str(onnx_path), "tensorrt": trt.__version__,
        "seconds": round(time.perf_counter() - t0, 2), "engine_bytes": n_bytes, "flags": flags,
        "explicit_quantization": has_qdq, "workspace_gb": workspace_gb, "inputs": inputs,
        "outputs": [network.get_output(i).name for i in range(network.num_outputs)], "profile": profile_report,
        "timing_cache": str(cache_path) if cache_path else None, "timing_cache_loaded": cache_loaded,
    }


def write_engine_manifest(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, report: dict) -> Path | None:
    """``<engine>.manifest.json`` from the ONNX file's manifest, so ``edge_sdk.load(engine)`` works.

    Same model, crop spec, input and threshold; the artifact, its sha256 and size are the engine's, and the
    build report (TensorRT version, flags, profile) goes under ``export.engine``. Returns None when the ONNX
    file has no manifest (an engine from a foreign ONNX file: the runtime cannot load it without one).
    """
    from edge_sdk import manifest
    from edge_sdk.preprocess import CropSpec

    try:
        m = manifest.load(onnx_path)
    except EdgeSDKError:
        return None
    engine_path = Path(engine_path)
    built = manifest.build(engine_path, model=m["model"]["name"], target="tensorrt", precision=m["precision"],
                           crop=CropSpec.from_dict(m["crop"]),
                           input_shape=m["input"]["shape"], input_name=m["input"]["name"],
                           output_name=m["output"]["name"], input_dtype=m["input"]["dtype"],
                           threshold=m["threshold"], variant=m["model"].get("variant"),
                           checkpoint=m["model"].get("checkpoint"), calibration=m.get("calibration"),
                           export={**(m.get("export") or {}), "engine": report, "from_onnx": Path(onnx_path).name})
    if report.get("tensorrt"):
        built["versions"]["tensorrt"] = report["tensorrt"]
    return manifest.write(built, engine_path.with_name(engine_path.name + ".manifest.json"))


def main_build_engine(cfg) -> int:
    """``edge-sdk build-engine model.onnx`` (a :class:`edge_sdk.export.config.BuildEngineConfig`): build a TensorRT
    engine and its manifest, and print what was built."""
    onnx_path = Path(cfg.onnx)
    out = Path(cfg.out) if cfg.out else onnx_path.with_suffix(".engine")
    try:
        if cfg.check is not None:
            report = check_onnx_for_tensorrt(onnx_path, cfg.check)
            print(format_report(report))
            if not report["ok"]:
                print(f"error: {onnx_path} has {len(report['offenders'])} TensorRT offender(s); not building",
                      file=sys.stderr)
                return 1
        mn, opt, mx = cfg.batches
        report = build_engine(onnx_path, out, fp16=cfg.fp16, int8=cfg.int8, workspace_gb=cfg.workspace_gb,
                              timing_cache=cfg.timing_cache, min_shape=mn, opt_shape=opt, max_shape=mx)
    except MissingDependencyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except EdgeSDKError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    written = write_engine_manifest(onnx_path, out, report)
    print(json.dumps(report, indent=2))
    print(f"manifest: {written}" if written else
          f"note: {onnx_path} has no edge-sdk manifest, so none was written for {out}; edge_sdk.load() needs one",
          file=sys.stderr)
    return 0
