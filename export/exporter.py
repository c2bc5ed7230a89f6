"""``edge-sdk export``: one table of formats, one function per format, a manifest and a parity check for each.

    out/<target>-<precision>/<model>.<ext>  +  manifest.json

Every artifact is written under a temporary name and renamed when complete; its manifest is
written after it, with the crop spec, calibration summary, export steps and parity results.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from edge_sdk import manifest
from edge_sdk.errors import EdgeSDKError, InputError

from .errors import wrap
from .prepare import Prepared, prepare

# (target, precision) -> file suffix; the order is the order of `--target all`.
FORMATS = {
    ("onnx", "fp32"): ".onnx", ("onnx", "fp16"): ".onnx", ("onnx", "int8"): ".onnx",
    ("executorch", "fp32"): ".pte", ("executorch", "int8"): ".pte",
    ("executorch-coreml", "fp16"): ".pte",
    ("coreml", "fp16"): ".mlpackage", ("coreml", "fp32"): ".mlpackage", ("coreml", "int8"): ".mlpackage",
    ("coreml", "palettized"): ".mlpackage", ("coreml", "w8a8"): ".mlpackage",
    ("tensorrt", "fp16"): ".onnx", ("tensorrt", "int8"): ".onnx",
}
TARGETS = sorted({t for t, _ in FORMATS})
QUANTIZED = {"int8", "w8a8"}
CANNOT_RUN_HERE = {
    "executorch-coreml": "the Core ML delegate runs only on Apple devices",
    "coreml": "Core ML predicts only on macOS",
}


@dataclass
class ExportOptions:
    dynamic_batch: bool = False
    opset: int = 18
    calib_method: str = "minmax"
    keep_float: tuple[str, ...] = ()
    palettize_bits: int = 6
    image_input: bool = False
    simplify: bool = True
    trt_ops_table: str | None = None  # TensorRT ONNX operator table (CSV); default $EDGE_SDK_TRT_OPS
    parity_crops: int = 64


def formats_for(target: str, precision: str | None) -> list[tuple[str, str]]:
    """The (target, precision) pairs a request means: ``all`` and a missing precision expand."""
    targets = TARGETS if target == "all" else [target]
    for t in targets:
        if t not in TARGETS:
            raise InputError(f"unknown export target {t!r}: choose one of {', '.join(TARGETS)} or all")
    picked = [(t, p) for (t, p) in FORMATS if t in targets and (precision is None or p == precision)]
    if not picked:
        have = ", ".join(p for (t, p) in FORMATS if t in targets)
        raise InputError(f"target {target} has no precision {precision!r}: it has {have}")
    return picked


# Each progress line also goes to this logger (no handler of its own and not passed to the root logger, so nothing
# prints twice); a caller that shows progress (edge-sdk demo) attaches a handler.
LOG = logging.getLogger("edge_sdk.export")
LOG.setLevel(logging.INFO)
LOG.propagate = False


def _log(msg: str) -> None:
    print(f"[export] {msg}", file=sys.stderr, flush=True)
    LOG.info(msg)


def _float_onnx(prep: Prepared, opts: ExportOptions, ctx: dict) -> tuple[Path, dict, dict]:
    """The fp32 (simplified) ONNX every ONNX-based format starts from, exported once per run."""
    if "float_onnx" not in ctx:
        from .onnx import export_onnx, simplify

        path, steps, info = Path(ctx["workdir"]) / f"{prep.name}.onnx", {}, {}
        t = time.perf_counter()
        export_onnx(prep.module, path, prep.example(), opset=opts.opset, dynamic_batch=opts.dynamic_batch)
        steps["export_s"] = round(time.perf_counter() - t, 2)
        if opts.simplify:
            t = time.perf_counter()
            info["simplify"] = simplify(path)
            steps["simplify_s"] = round(time.perf_counter() - t, 2)
        ctx["float_onnx"] = (path, steps, info)
    path, steps, info = ctx["float_onnx"]
    return path, dict(steps), dict(info)


def _onnx(prep: Prepared, path: Path, precision: str, target: str, opts: ExportOptions, ctx: dict) -> dict:
    import shutil

    from .onnx import quantize_int8, to_fp16

    float_path, steps, info = _float_onnx(prep, opts, ctx)
    t = time.perf_counter()
    if precision == "fp16" and target == "onnx":
        to_fp16(float_path, path)
        steps["fp16_s"] = round(time.perf_counter() - t, 2)
    elif precision == "int8":
        info["quantization"] = quantize_int8(float_path, path, ctx["calib"].batches(1), method=opts.calib_method,
                                             keep_float=list(opts.keep_float),
                                             symmetric=target == "tensorrt", quantize_bias=target != "tensorrt")
        steps["quantize_s"] = round(time.perf_counter() - t, 2)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        shutil.copyfile(float_path, tmp)
        os.replace(tmp, path)
    if target == "tensorrt":
        info["tensorrt"] = _tensorrt_checks(path, precision, opts)
    return {"steps": steps, **info}


def _tensorrt_checks(path: Path, precision: str, opts: ExportOptions) -> dict:
    from . import tensorrt as trt_export

    out = {"builder_flags": ["FP16"] + (["INT8"] if precision == "int8" else []), "version": trt_export.tensorrt_version()}
    table = opts.trt_ops_table or os.environ.get("EDGE_SDK_TRT_OPS")
    if table:
        report = trt_export.check_onnx_for_tensorrt(path, table)
        out["operator_check"] = {"ok": report["ok"], "table": str(table), "offenders": report["offenders"]}
        if not report["ok"]:
            _log(f"TensorRT operator check found offenders:\n{trt_export.format_report(report)}")
    else:
        out["operator_check"] = "not run: no operator table (give --trt-ops-table or $EDGE_SDK_TRT_OPS)"
    if out["version"] is not None:
        engine = path.with_suffix(".engine")
        out["engine"] = trt_export.build_engine(path, engine, fp16=True, int8=precision == "int8")
    return out


def _executorch(prep: Prepared, path: Path, precision: str, target: str, opts: ExportOptions, ctx: dict) -> dict:
    from .executorch import export_executorch

    delegate = "coreml" if target == "executorch-coreml" else "xnnpack"
    report = export_executorch(prep.module, path, prep.example(), precision=precision, delegate=delegate,
                               batches=None if ctx["calib"] is None else ctx["calib"].batches(1))
    steps = {k: report.pop(k) for k in list(report) if k.endswith("_s")}
    return {"steps": steps, "delegation": report}


def _coreml(prep: Prepared, path: Path, precision: str, target: str, opts: ExportOptions, ctx: dict) -> dict:
    from .coreml import export_coreml

    compression = {"int8": "int8", "palettized": f"palettize{opts.palettize_bits}", "w8a8": "w8a8"}.get(precision)
    meta = {"edge_sdk.model": prep.name, "edge_sdk.crop": json.dumps(prep.crop.to_dict()),
            "edge_sdk.output": manifest.OUTPUT_MEANING, "edge_sdk.precision": precision}
    report = export_coreml(prep.module, path, prep.example(), precision="fp32" if precision == "fp32" else "fp16",
                           compression=compression, calib=None if ctx["calib"] is None else list(ctx["calib"].batches(1)),
                           image_input=prep.crop if opts.image_input else None, metadata=meta)
    steps = {k: v for k, v in report.items() if k.endswith("_s") or k == "seconds"}
    return {"steps": steps, "coreml": {k: v for k, v in report.items() if k not in steps and k != "path"}}


BUILDERS = {"onnx": _onnx, "tensorrt": _onnx, "executorch": _executorch, "executorch-coreml": _executorch,
            "coreml": _coreml}


def _parity(prep: Prepared, path: Path, target: str, precision: str, crops, threshold: float) -> dict:
    from .verify import compare

    if target in CANNOT_RUN_HERE and not (target == "coreml" and sys.platform == "darwin"):
        return {"status": "not run here", "reason": CANNOT_RUN_HERE[target]}
    import edge_sdk

    x = crops.x
    with torch.no_grad():
        ref = torch.cat([prep.module(torch.from_numpy(x[i:i + 16])) for i in range(0, len(x), 16)]).reshape(-1).numpy()
    with edge_sdk.load(path) as backend:
        got = backend.predict(x)
        where = f"{backend.name} ({backend.device})"
    result = compare(ref, got, precision, threshold, crops.labels)
    return {"status": "passed" if result["passed"] else "failed", "backend": where, "data": crops.summary, **result}


def export(model: str | torch.nn.Module, target: str = "onnx", precision: str | None = "fp32", out: str | Path = "artifacts",
           weights: str | Path | None = None, calib: str | Path | None = None, calib_size: int = 512,
           verify_data: str | Path | None = None, normalize_in_model: bool = False, threshold: float = 0.5,
           options: ExportOptions | None = None, name: str | None = None,
           formats: list[tuple[str, str]] | None = None) -> list[dict]:
    """Export ``model`` to each requested format; returns one record per artifact (path, manifest, parity, times).

    ``calib``: folder of face images/videos (or ``"random"``, warned) for quantized precisions; the
    same crops (first ``parity_crops``) check parity unless ``verify_data`` is given. A format that
    fails is recorded with its error and the others go on; nothing is left under a failed name.
    ``formats``: explicit (target, precision) pairs instead of ``target``/``precision``.
    """
    from .calibration import face_crops

    opts = options or ExportOptions()
    wanted = [tuple(f) for f in formats] if formats else formats_for(target, precision)
    for f in wanted:
        if f not in FORMATS:
            raise InputError(f"unknown export format {f[0]} {f[1]}: choose from "
                             + ", ".join(f"{t} {p}" for t, p in FORMATS))
    t0 = time.perf_counter()
    prep = prepare(model, weights, normalize_in_model=normalize_in_model, name=name)
    _log(f"prepared {prep.name} (eval, reparameterized, dropout removed"
         f"{', normalisation in the graph' if normalize_in_model else ''}) in {time.perf_counter() - t0:.1f} s")
    needs_calib = any(p in QUANTIZED for _, p in wanted)
    calib_set = None
    if calib is not None:
        t = time.perf_counter()
        calib_set = face_crops(calib, prep.crop, limit=calib_size)
        _log(f"calibration: {calib_set.summary['crops']} crops from {calib} in {time.perf_counter() - t:.1f} s")
    elif needs_calib:
        raise InputError(f"{', '.join(p for _, p in wanted if p in QUANTIZED)} export needs calibration data: "
                         "--calib DIR (face images or videos), or --calib random for a smoke test")
    if verify_data is not None:
        parity_set = face_crops(verify_data, prep.crop, limit=opts.parity_crops)
    elif calib_set is not None:
        from .calibration import CropSet

        n = opts.parity_crops
        parity_set = CropSet(calib_set.x[:n], None if calib_set.labels is None else calib_set.labels[:n],
                             {**calib_set.summary, "crops": int(min(n, len(calib_set.x)))})
    else:  # numerical parity only: no face data was given
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parity_set = face_crops("random", prep.crop, limit=16)
        _log("parity on 16 random crops (give --calib or --verify-data for face crops)")
    records = []
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edge-sdk-export-") as workdir:
        ctx = {"calib": calib_set, "workdir": workdir}
        for tgt, prec in wanted:
            records.append(_export_one(prep, tgt, prec, Path(out), opts, ctx, parity_set, threshold))
    return records


def _export_one(prep: Prepared, tgt: str, prec: str, out: Path, opts: ExportOptions, ctx: dict, parity_set,
                threshold: float) -> dict:
    calib_set = ctx["calib"]
    folder = out / f"{tgt}-{prec}"
    path = folder / f"{prep.name}{FORMATS[(tgt, prec)]}"
    t = time.perf_counter()
    _log(f"{tgt} {prec}: exporting to {path}")
    try:
        info = BUILDERS[tgt](prep, path, prec, tgt, opts, ctx)
    except EdgeSDKError as err:
        _log(f"{tgt} {prec}: FAILED: {err}")
        return {"target": tgt, "precision": prec, "ok": False, "error": str(err)}
    except Exception as err:  # an exporter's own exception: name the op, keep going with the other formats
        err = wrap(tgt, prep.name, err)
        _log(f"{tgt} {prec}: FAILED: {err}")
        return {"target": tgt, "precision": prec, "ok": False, "error": str(err), "op": err.op}
    info["steps"]["total_s"] = round(time.perf_counter() - t, 2)
    shape = [("batch" if opts.dynamic_batch and tgt in ("onnx", "tensorrt") else 1), 3, prep.crop.size, prep.crop.size]
    info["options"] = {"dynamic_batch": opts.dynamic_batch, "opset": opts.opset, "calib_method": opts.calib_method,
                       "keep_float": list(opts.keep_float), "image_input": opts.image_input}
    m = manifest.build(path, model=prep.name, target="executorch" if tgt == "executorch-coreml" else tgt,
                       precision=prec, crop=prep.crop, input_shape=shape, threshold=threshold,
                       checkpoint=prep.checkpoint, calibration=None if calib_set is None else calib_set.summary,
                       export=info)
    manifest.write(m, folder / "manifest.json")  # complete without parity; rewritten with it below
    try:
        parity = _parity(prep, path, tgt, prec, parity_set, threshold)
    except Exception as err:  # the artifact exists but does not run: say so in its manifest
        parity = {"status": "failed", "error": f"{type(err).__name__}: {err}"[:500]}
    m["parity"] = parity
    manifest.write(m, folder / "manifest.json")
    engine = (info.get("tensorrt") or {}).get("engine")
    if engine:  # built here (TensorRT present): the engine gets its own manifest so the runtime can load it
        from .tensorrt import write_engine_manifest

        write_engine_manifest(path, engine["engine"], engine)
    mb = m["artifact"]["bytes"] / 1e6
    verdict = parity["status"] if "max_abs_logit" not in parity else \
        f"{parity['status']} (max |d logit| {parity['max_abs_logit']:.2e}, agreement {parity['agreement']:.1%})"
    _log(f"{tgt} {prec}: {mb:.2f} MB in {info['steps']['total_s']:.1f} s; parity {verdict}")
    return {"target": tgt, "precision": prec, "ok": True, "path": str(path), "bytes": m["artifact"]["bytes"],
            "steps": info["steps"], "parity": parity}


def to_markdown(records: list[dict]) -> str:
    lines = ["| target | precision | size (MB) | export (s) | parity | max abs d logit | agreement | where checked |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        if not r["ok"]:
            lines.append(f"| {r['target']} | {r['precision']} | - | - | export failed: {r['error'][:80]} | - | - | - |")
            continue
        p = r["parity"]
        d = f"{p['max_abs_logit']:.2e}" if "max_abs_logit" in p else "-"
        a = f"{p['agreement']:.1%}" if "agreement" in p else "-"
        where = p.get("backend", p.get("reason", ""))
        lines.append(f"| {r['target']} | {r['precision']} | {r['bytes'] / 1e6:.2f} | {r['steps']['total_s']:.1f} | "
                     f"{p['status']} | {d} | {a} | {where} |")
    return "\n".join(lines)
