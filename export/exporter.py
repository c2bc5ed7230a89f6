"""``edge-sdk export``: the rows of the target table, one exporter function per format, a manifest and parity each.

    out/<target>-<precision>/<model>.<ext>  +  manifest.json

Which formats exist, their suffixes, exporters, backends, calibration needs and parity limits are rows of
:mod:`edge_sdk.targets`. Every artifact is written under a temporary name and renamed when complete; its
manifest is written after it, with the model's card (licence included), the weights it holds (a checkpoint's
sha256, or "random"), the crop spec, calibration summary, export steps and parity results.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


from edge_sdk import manifest, targets
from edge_sdk.errors import EdgeSDKError, InputError
from edge_sdk.targets import Target

from .bundle import build as build_bundle
from .config import ExportConfig
from .errors import wrap
from .prepare import Prepared, prepare


def formats_for(target: str, precision: str | None) -> list[Target]:
    """The rows a request means: ``all`` and a missing precision expand (see :func:`edge_sdk.targets.select`)."""
    return targets.select(target, precision)


def _rows(formats) -> list[Target]:
    """Explicit formats: target names (``onnx-int8``), (format, precision) pairs or rows."""
    out = []
    for f in formats:
        if isinstance(f, Target):
            out.append(f)
        elif isinstance(f, str):
            out.append(targets.get(f))
        else:
            out.append(targets.get(f"{f[0]}-{f[1]}"))
    for t in out:
        if t.exporter is None:
            raise InputError(f"{t.name} is the eager PyTorch reference: it is measured by bench, not exported")
    return out


# Each progress line also goes to this logger (no handler of its own and not passed to the root logger, so nothing
# prints twice); a caller that shows progress (edge-sdk demo) attaches a handler.
LOG = logging.getLogger("edge_sdk.export")
LOG.setLevel(logging.INFO)
LOG.propagate = False


def _log(msg: str) -> None:
    print(f"[export] {msg}", file=sys.stderr, flush=True)
    LOG.info(msg)


def _parity(prep: Prepared, path: Path, target: Target, crops, threshold: float) -> dict:
    from .verify import compare, reference_logits

    why = target.unavailable()
    if why:
        return {"status": "not run here", "reason": why, "elsewhere": target.elsewhere}
    import edge_sdk

    ref = reference_logits(prep.module, crops.x)
    with edge_sdk.load(path) as backend:
        got = backend.predict(crops.x)
        where = f"{backend.name} ({backend.device})"
    result = compare(ref, got, target, threshold, crops.labels, kinds=crops.kinds)
    return {"status": "passed" if result["passed"] else "failed", "backend": where, "data": crops.summary, **result,
            "_logits": got}


def choose_threshold(labels, logits, target_fpr: float) -> dict:
    """The artifact's own decision threshold: the most sensitive one whose false-positive rate on the labelled
    parity faces is at most ``target_fpr`` (quantization shifts scores, so one 0.5 for every precision is wrong)."""
    from edge_sdk import metrics

    p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    return {**metrics.threshold_at_fpr(labels, p, target_fpr), "n": int(len(p)),
            "real": int((np.asarray(labels) == 0).sum()), "fake": int((np.asarray(labels) == 1).sum())}


def export(model=None, cfg: ExportConfig | None = None, *, name: str | None = None, **overrides) -> list[dict]:
    """Export a model to each requested target; returns one record per artifact (path, manifest, parity, times).

    ``model``: a zoo name, a checkpoint, a :class:`edge_sdk.models.Loaded` or a module (or ``cfg.model``); the other
    options are :class:`ExportConfig` fields, given as ``cfg`` and/or keywords. A target that needs calibration
    gets ``calib`` (a folder of face images/videos), else the face photos that ship in installed packages
    (``"packaged"``, said on stderr), or noise only if asked (``"random"``, warned). Parity runs on the parity set
    (:func:`edge_sdk.export.calibration.parity_inputs`) of ``verify_data``, else of the calibration source, else of
    the packaged photos. A target that fails is recorded with its error and the others go on; nothing is left
    under a failed name. ``formats``: explicit target names (``onnx-int8``) or (format, precision) pairs.
    ``name``: the artifact's name for a module passed in.
    """
    from .calibration import PACKAGED, model_inputs

    if model is not None:
        overrides["model"] = model
    if "formats" in overrides and overrides["formats"] is not None:
        overrides["formats"] = tuple(overrides["formats"])
    cfg = replace(cfg, **overrides) if cfg is not None else ExportConfig(**overrides)
    wanted = _rows(cfg.formats) if cfg.formats else formats_for(cfg.target, cfg.precision)
    t0 = time.perf_counter()
    source, weights = (cfg.model, cfg.weights) if cfg.model is not None else (cfg.weights, None)
    prep = prepare(source, weights, normalize_in_model=cfg.normalize_in_model, name=name)
    _log(f"prepared {prep.name} (eval, reparameterized, dropout removed"
         f"{', normalisation in the graph' if cfg.normalize_in_model else ''}) in {time.perf_counter() - t0:.1f} s")
    if not prep.loaded.trained:
        _log(f"{prep.name} has random weights (no checkpoint given): the artifacts' scores mean nothing; their "
             "manifests say so")
    calib = cfg.calib
    if calib is None and any(t.calibration for t in wanted):
        calib = PACKAGED
    calib_set = None
    if calib is not None:
        t = time.perf_counter()  # with the hard variants: activation ranges cover what the parity set checks
        variants = cfg.calib_variants or calib == PACKAGED  # 8 inputs per face crop: calib_size stays the total
        calib_set = model_inputs(calib, prep, limit=max(1, cfg.calib_size // 8) if variants else cfg.calib_size,
                                 parity=variants)
        _log(f"calibration: {calib_set.summary['crops']} inputs from {calib_set.summary['source']} in "
             f"{time.perf_counter() - t:.1f} s")
    source = cfg.verify_data or calib or PACKAGED
    try:
        parity_set = model_inputs(source, prep, limit=cfg.parity_crops, parity=True)
    except InputError as err:
        if cfg.verify_data is not None or calib not in (None, PACKAGED):
            raise
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parity_set = model_inputs("random", prep, limit=16)
        _log(f"parity on 16 random inputs ({err}); give --verify-data for faces")
    what = parity_set.summary.get("kinds") or ("noise" if parity_set.summary.get("source") == "random" else
                                               f"clips of {prep.signature().get('frames')} crops from videos")
    _log(f"parity set: {parity_set.summary['crops']} inputs ({what})")
    records = []
    with tempfile.TemporaryDirectory(prefix="edge-sdk-export-") as workdir:
        ctx = {"calib": calib_set, "workdir": workdir}
        for t in wanted:
            records.append(_export_one(prep, t, Path(cfg.out), cfg, ctx, parity_set,
                                       0.5 if cfg.threshold is None else cfg.threshold))
    return records


def _export_one(prep: Prepared, target: Target, out: Path, opts: ExportConfig, ctx: dict, parity_set,
                threshold: float) -> dict:
    calib_set = ctx["calib"]
    folder = out / target.name
    path = folder / f"{prep.name}{'.bundle' if prep.card.bundle else target.suffix}"
    rec = {"target": target.format, "precision": target.precision, "name": target.name}
    limit = prep.card.export_limit(target.name)
    if limit:
        _log(f"{target.name}: skipped: {prep.name} is known not to export here: {limit}")
        return {**rec, "ok": False, "error": f"{prep.name} does not export to {target.name}: {limit}", "known": True}
    t = time.perf_counter()
    _log(f"{target.name}: exporting to {path}")
    try:
        if prep.card.bundle:  # several artifacts, each through this target's exporter, in one folder
            info = build_bundle(prep, path, target, opts, {**ctx, "parity_clips": parity_set.x})
        else:
            info = target.load_exporter()(prep, path, target, opts, ctx)
    except EdgeSDKError as err:
        _log(f"{target.name}: FAILED: {err}")
        return {**rec, "ok": False, "error": str(err), **({"op": err.op} if getattr(err, "op", None) else {})}
    except Exception as err:  # an exporter's own exception: name the op, keep going with the other formats
        err = wrap(target.name, prep.name, err)
        _log(f"{target.name}: FAILED: {err}")
        return {**rec, "ok": False, "error": str(err), "op": err.op}
    info["steps"]["total_s"] = round(time.perf_counter() - t, 2)
    after_manifest, runtime_artifact = info.pop("post_manifest", None), info.get("runtime_artifact")
    bundle = info.pop("bundle", None)
    batch = "batch" if opts.dynamic_batch and target.backend == "onnxruntime" else 1
    info["options"] = {"dynamic_batch": opts.dynamic_batch, "opset": opts.opset, "calib_method": opts.calib_method,
                       "keep_float": list(opts.keep_float), "image_input": opts.image_input, **target.options}
    m = manifest.build(path, model=prep.name, target=target.manifest_target or target.format,
                       precision=target.precision, target_name=target.name, crop=prep.crop,
                       input_shape=prep.input_shape(batch),
                       threshold=threshold, checkpoint=prep.checkpoint,
                       calibration=None if calib_set is None else calib_set.summary, export=info,
                       card=prep.card.to_manifest(prep.loaded.tag), weights=prep.loaded.weights_record(),
                       signature=prep.signature(), kwargs=prep.loaded.kwargs)
    if bundle is not None:
        m["bundle"] = bundle
    manifest.write(m, folder / "manifest.json")  # complete without parity; rewritten with it below
    try:
        parity = _parity(prep, path, target, parity_set, threshold)
    except Exception as err:  # the artifact exists but does not run: say so in its manifest
        parity = {"status": "failed", "error": f"{type(err).__name__}: {err}"[:500]}
    logits = parity.pop("_logits", None)
    labels = parity_set.labels
    if logits is not None and labels is not None and len(set(np.asarray(labels).tolist())) == 2:
        choice = choose_threshold(labels, logits, opts.target_fpr)
        parity["tpr_at_fpr"] = {"fpr": choice["fpr"], "tpr": choice["tpr"], "target_fpr": opts.target_fpr}
        if opts.threshold is None:  # no threshold given: the artifact's own, at the stated false-positive rate
            m["threshold"], m["threshold_choice"] = choice["threshold"], {**choice, "on": parity_set.summary["source"]}
    m["parity"] = parity
    manifest.write(m, folder / "manifest.json")
    if after_manifest is not None:  # e.g. a TensorRT engine built here: its own manifest, derived from this one
        after_manifest()
    mb = m["artifact"]["bytes"] / 1e6
    verdict = parity["status"] if "max_abs_logit" not in parity else \
        f"{parity['status']} (max |d logit| {parity['max_abs_logit']:.2e}, agreement {parity['agreement']:.1%})"
    _log(f"{target.name}: {mb:.2f} MB in {info['steps']['total_s']:.1f} s; parity {verdict}")
    return {**rec, "ok": True, "path": str(path), "bytes": m["artifact"]["bytes"], "steps": info["steps"],
            "parity": parity, **({"runtime_artifact": runtime_artifact} if runtime_artifact else {})}


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
