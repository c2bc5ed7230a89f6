"""Parity of an artifact against its PyTorch model on the same face crops, with limits per precision.

The reference gets crops made with the model's own crop spec (what it was trained with); the
artifact gets crops made with the spec in its manifest. A manifest that disagrees with training
(colour order, mean/std, margin, size) therefore shows up as a parity failure, not only a
numerical difference in the exported graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_sdk.metrics import auc
from edge_sdk.pipeline import sigmoid

# The default limits: fp32 and fp16 bound the logit difference; quantized artifacts bound decisions and AUC.
LIMITS = {
    "fp32": {"max_abs_logit": 1e-3},
    "fp16": {"max_abs_logit": 2e-2},
    "int8": {"min_agreement": 0.98, "max_auc_delta": 0.005},
    "w8a8": {"min_agreement": 0.98, "max_auc_delta": 0.005},
    "palettized": {"min_agreement": 0.98, "max_auc_delta": 0.005},
}


def compare(reference: np.ndarray, got: np.ndarray, precision: str, threshold: float = 0.5, labels=None,
            limits: dict | None = None) -> dict:
    """Differences between two logit vectors and the verdict against the precision's limits."""
    ref, out = np.asarray(reference, np.float64), np.asarray(got, np.float64)
    d = np.abs(ref - out)
    p_ref, p_out = sigmoid(ref), sigmoid(out)
    agree = float(np.mean((p_ref >= threshold) == (p_out >= threshold)))
    r = {"n": int(len(ref)), "max_abs_logit": float(d.max()), "mean_abs_logit": float(d.mean()),
         "max_abs_p": float(np.abs(p_ref - p_out).max()), "agreement": agree, "threshold": threshold}
    if labels is not None:
        r["auc_torch"], r["auc_artifact"] = auc(labels, ref), auc(labels, out)
    lim = dict(LIMITS.get(precision, {}), **(limits or {}))
    failures = []
    if "max_abs_logit" in lim and r["max_abs_logit"] > lim["max_abs_logit"]:
        failures.append(f"max |delta logit| {r['max_abs_logit']:.3g} > {lim['max_abs_logit']:g}")
    if "min_agreement" in lim and agree < lim["min_agreement"]:
        failures.append(f"decision agreement {agree:.1%} < {lim['min_agreement']:.0%}")
    if "max_auc_delta" in lim and r.get("auc_torch") is not None and r.get("auc_artifact") is not None:
        delta = abs(r["auc_torch"] - r["auc_artifact"])
        r["auc_delta"] = delta
        if delta > lim["max_auc_delta"]:
            failures.append(f"|delta AUC| {delta:.4f} > {lim['max_auc_delta']}")
    r.update(limits=lim, passed=not failures, failures=failures)
    return r


def verify(artifact: str | Path, data: str | Path, weights: str | Path | None = None, limit: int = 256,
           reference=None, write: bool = True, face_model: str | None = None) -> dict:
    """``edge-sdk verify``: run the artifact and the torch model on crops of ``data``; store the result in the manifest.

    ``reference``: a torch module taking the model's own normalised input (default: built from the
    manifest's model name and ``weights`` or the manifest's recorded checkpoint).
    """
    import torch

    import edge_sdk
    from edge_sdk import manifest
    from edge_sdk.errors import InputError
    from edge_sdk.preprocess import CropSpec

    from .calibration import face_crops
    from .prepare import prepare

    with edge_sdk.load(artifact) as backend:
        m = backend.manifest
        if reference is None:
            ckpt = weights or m["model"].get("checkpoint")
            if ckpt is None:
                raise InputError(f"{artifact}: the manifest records no checkpoint (random-init export); "
                                 "pass the weights it was exported from with --weights")
            reference = prepare(m["model"]["name"], ckpt).module
        ref_spec = CropSpec.for_model(getattr(reference, "pretrained_cfg", None) or
                                      {"input_size": (3, backend.crop.size, backend.crop.size),
                                       "mean": backend.crop.mean, "std": backend.crop.std})
        ref_crops = face_crops(data, ref_spec, limit=limit, face_model=face_model)
        art_crops = face_crops(data, backend.crop, limit=limit, face_model=face_model)
        with torch.no_grad():
            ref = torch.cat([reference(torch.from_numpy(b)) for b in ref_crops.batches(16)]).reshape(-1).numpy()
        got = backend.predict(art_crops.x)
        result = compare(ref, got, m["precision"], m["threshold"], ref_crops.labels)
        result["data"] = ref_crops.summary
    if write:
        m["parity"] = {**result, "backend": backend.name, "device": backend.device}
        manifest.write(m, manifest.find(artifact))
    return result
