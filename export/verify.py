"""Parity of an artifact against its PyTorch model on the same face crops, with limits per precision.

The reference gets crops made with the model's own crop spec (what it was trained with); the
artifact gets crops made with the spec in its manifest. A manifest that disagrees with training
(colour order, mean/std, margin, size) therefore shows up as a parity failure, not only a
numerical difference in the exported graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_sdk import targets
from edge_sdk.metrics import auc
from edge_sdk.pipeline import sigmoid


def reference_outputs(module, x, batch: int = 16):
    """The PyTorch module's whole outputs on a float32 batch (numpy), in chunks (a bundle part's depth maps or
    embeddings)."""
    import torch

    with torch.no_grad():
        return torch.cat([module(torch.from_numpy(x[i:i + batch])) for i in range(0, len(x), batch)]).numpy()


def reference_logits(module, x, batch: int = 16):
    """The PyTorch model's logits on a float32 batch (numpy), in chunks."""
    return reference_outputs(module, x, batch).reshape(-1)


def auc_delta(labels, reference: np.ndarray, got: np.ndarray) -> tuple[float | None, float | None]:
    """The AUC change attributable to the artifact, and the raw |AUC(reference) - AUC(artifact)|.

    AUC counts, over every (fake, real) pair, 1 when the fake scores higher, 0.5 on a tie, 0 otherwise; the two AUCs
    differ by the pairs the two models count differently. A pair only one side ties is not counted as a change when
    the other side's margin on it is within twice the largest logit difference between the two (the artifact's
    error can explain it): quantized outputs tie where the reference differs by less than their step, and such
    ties must not fake an AUC change. Pairs both order, in either direction, always count. None with one class."""
    a_ref, a_out = auc(labels, reference), auc(labels, got)
    if a_ref is None or a_out is None:
        return None, None
    y = np.asarray(labels).astype(bool)
    r, g = np.asarray(reference, np.float64), np.asarray(got, np.float64)
    tol = 2 * float(np.max(np.abs(r - g)))
    dr, dg = r[y][:, None] - r[~y][None, :], g[y][:, None] - g[~y][None, :]  # (fakes, reals) margins
    o_r, o_g = np.sign(dr) * 0.5 + 0.5, np.sign(dg) * 0.5 + 0.5                 # 1, 0.5 (tie) or 0 per pair
    diff = np.abs(o_r - o_g)
    explained = ((dg == 0) & (np.abs(dr) <= tol)) | ((dr == 0) & (np.abs(dg) <= tol))
    return float(np.where(explained, 0.0, diff).mean()), abs(a_ref - a_out)


def rank_agreement(reference: np.ndarray, got: np.ndarray) -> float | None:
    """Spearman's rank correlation between the two score vectors (None when either is constant)."""
    from scipy.stats import spearmanr

    if len(reference) < 2 or np.ptp(reference) == 0 or np.ptp(got) == 0:
        return None
    rho = spearmanr(reference, got).statistic
    return None if not np.isfinite(rho) else float(rho)


def compare(reference: np.ndarray, got: np.ndarray, target, threshold: float = 0.5, labels=None,
            limits: dict | None = None, kinds: list[str] | None = None) -> dict:
    """Differences between two logit vectors and the verdict against the target's parity limits (its table row,
    or its name): max and mean |delta logit|, decision agreement, Spearman rank agreement, delta AUC with labels,
    and the same per kind of input (``kinds``: face, whole_frame, dark, jpeg_q8, ...). The verdict is the worst
    case over all inputs; a non-finite value on either side fails."""
    ref, out = np.asarray(reference, np.float64), np.asarray(got, np.float64)
    row = target if isinstance(target, targets.Target) else targets.get(target)
    if ref.shape != out.shape:
        raise ValueError(f"parity: {len(ref)} reference logits against {len(out)} from the artifact")
    bad = ~(np.isfinite(ref) & np.isfinite(out))
    if bad.any():
        k = int(np.argmax(bad))
        return {"n": int(len(ref)), "max_abs_logit": None, "agreement": None, "threshold": threshold,
                "limits": dict(row.parity, **(limits or {})), "passed": False, "non_finite": int(bad.sum()),
                "failures": [f"{int(bad.sum())} of {len(ref)} logits are not finite numbers (first at input {k}: "
                             f"reference {ref[k]}, artifact {out[k]})"]}
    d = np.abs(ref - out)
    p_ref, p_out = sigmoid(ref), sigmoid(out)
    agree = float(np.mean((p_ref >= threshold) == (p_out >= threshold)))
    r = {"n": int(len(ref)), "max_abs_logit": float(d.max()), "mean_abs_logit": float(d.mean()),
         "max_abs_p": float(np.abs(p_ref - p_out).max()), "agreement": agree, "threshold": threshold,
         "spearman": rank_agreement(ref, out), "reference_spread": float(np.ptp(ref))}
    if kinds is not None and len(kinds) == len(ref):
        by = {}
        for k in dict.fromkeys(kinds):
            sel = np.asarray([x == k for x in kinds])
            by[k] = {"n": int(sel.sum()), "max_abs_logit": float(d[sel].max()),
                     "agreement": float(np.mean((p_ref[sel] >= threshold) == (p_out[sel] >= threshold)))}
        r["by_kind"] = by
        r["worst_kind"] = max(by, key=lambda k: by[k]["max_abs_logit"])
    if labels is not None:
        r["auc_torch"], r["auc_artifact"] = auc(labels, ref), auc(labels, out)
    lim = dict(row.parity, **(limits or {}))
    failures = []
    if "max_abs_logit" in lim and r["max_abs_logit"] > lim["max_abs_logit"]:
        failures.append(f"max |delta logit| {r['max_abs_logit']:.3g} > {lim['max_abs_logit']:g}")
    if "min_agreement" in lim and agree < lim["min_agreement"]:
        failures.append(f"decision agreement {agree:.1%} < {lim['min_agreement']:.0%}")
    if labels is not None and r.get("auc_torch") is not None:
        r["auc_delta"], r["auc_delta_raw"] = auc_delta(labels, ref, out)
        if "max_auc_delta" in lim and r["auc_delta"] > lim["max_auc_delta"]:
            failures.append(f"|delta AUC| {r['auc_delta']:.4f} > {lim['max_auc_delta']} (pairs whose order changed "
                            f"beyond the artifact's error {r['max_abs_logit']:.2g})")
    r.update(limits=lim, passed=not failures, failures=failures)
    return r


def verify(artifact: str | Path, data: str | Path, weights: str | Path | None = None, limit: int = 256,
           reference=None, record: bool = False, face_model: str | None = None, localize: bool = False,
           tol: float | None = None) -> dict:
    """``edge-sdk verify``: run the artifact and its PyTorch model on inputs made from ``data``.

    The PyTorch model is rebuilt by the one loader from what the manifest records (its checkpoint, or the seed of a
    random initialisation; ``weights`` overrides) and fed inputs made with the crop spec it was trained with; the
    artifact is fed inputs made with the crop spec in its manifest, so a manifest that disagrees with training
    fails here. ``record``: store the result in the manifest (it replaces the parity stored at export).
    ``localize``: also find the first layer whose output departs (:mod:`edge_sdk.export.localize`), on the input
    with the largest logit difference.
    ``reference``: a torch module taking the model's own normalised input, instead of the rebuilt one.
    """
    import edge_sdk
    from edge_sdk import manifest
    from edge_sdk.models import load

    from .calibration import model_inputs
    from .prepare import prepare

    with edge_sdk.load(artifact) as backend:
        m = backend.manifest
        ref_prep = prepare(load(artifact, weights=weights))
        module = reference if reference is not None else ref_prep.module
        ref_in = model_inputs(data, ref_prep, limit=limit, face_model=face_model, parity=True)
        art_prep = type(ref_prep)(ref_prep.name, module, backend.crop, ref_prep.loaded)
        art_in = model_inputs(data, art_prep, limit=limit, face_model=face_model, parity=True)
        ref = reference_logits(module, ref_in.x)
        got = backend.predict(art_in.x)
        result = compare(ref, got, manifest.target_name(m), m["threshold"], ref_in.labels, kinds=ref_in.kinds)
        result["data"] = ref_in.summary
        where = {"backend": backend.name, "device": backend.device}
        if ref_in.labels is not None and len(set(np.asarray(ref_in.labels).tolist())) == 2:
            from edge_sdk.metrics import tpr_at

            tpr, fpr = tpr_at(ref_in.labels, 1 / (1 + np.exp(-np.asarray(got, np.float64))), m["threshold"])
            result["at_threshold"] = {"threshold": m["threshold"], "tpr": tpr, "fpr": fpr}
    if localize:
        from .localize import localize as find

        worst = int(np.argmax(np.abs(ref - got)))
        result["localize"] = find(artifact, ref_prep, art_in.x[worst:worst + 1], m, tol=tol)
        result["localize"]["input"] = {"index": worst, "kind": (ref_in.kinds or ["?"] * len(ref))[worst]}
    result["recorded"] = bool(record)
    if record:
        m["parity"] = {**result, **where, "status": "passed" if result["passed"] else "failed"}
        manifest.write(m, manifest.find(artifact))
    return result
