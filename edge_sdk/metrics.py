"""Detection metrics, one implementation each, from scikit-learn: AUC, ROC, EER, AP, log loss, the confusion
matrix, precision/recall/F1 per class, and threshold choice (best balanced accuracy, or a stated false-positive
rate). Used by verification, evaluation, training and benchmarks; ties are handled by scikit-learn's ROC
(a tied pair counts half), the same everywhere.

Scores may be logits or probabilities (every metric here depends only on their order), except :func:`log_loss`
and the thresholds, which take probabilities.
"""

from __future__ import annotations

import numpy as np


def _two_classes(labels) -> bool:
    return len(np.unique(np.asarray(labels).astype(int))) == 2


def auc(labels, scores) -> float | None:
    """ROC AUC; None with only one class."""
    from sklearn.metrics import roc_auc_score

    if not _two_classes(labels):
        return None
    return float(roc_auc_score(np.asarray(labels).astype(int), np.asarray(scores, np.float64)))


def roc(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) of the ROC curve, every threshold kept."""
    from sklearn.metrics import roc_curve

    return roc_curve(np.asarray(labels).astype(int), np.asarray(scores, np.float64), drop_intermediate=False)


def eer(labels, scores) -> float | None:
    """Equal error rate: where the false-positive and false-negative rates meet (interpolated on the ROC)."""
    if not _two_classes(labels):
        return None
    fpr, tpr, _ = roc(labels, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    if i + 1 < len(fpr) and (fnr[i] - fpr[i]) * (fnr[i + 1] - fpr[i + 1]) < 0:  # crossing between i and i+1
        a, b = fnr[i] - fpr[i], fnr[i + 1] - fpr[i + 1]
        t = a / (a - b)
        return float(fpr[i] + t * (fpr[i + 1] - fpr[i]))
    return float((fpr[i] + fnr[i]) / 2)


def average_precision(labels, scores) -> float | None:
    from sklearn.metrics import average_precision_score

    if not _two_classes(labels):
        return None
    return float(average_precision_score(np.asarray(labels).astype(int), np.asarray(scores, np.float64)))


def log_loss(labels, probs) -> float | None:
    from sklearn.metrics import log_loss as sk_log_loss

    y = np.asarray(labels, np.float64)
    if y.size == 0:
        return None
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    return float(sk_log_loss(y, p, labels=[0, 1]))


def confusion(labels, probs, threshold: float) -> dict:
    from sklearn.metrics import confusion_matrix

    y, pred = np.asarray(labels).astype(int), (np.asarray(probs) >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def per_class(labels, probs, threshold: float) -> dict:
    """Precision, recall, F1 and support of the real (0) and fake (1) classes at ``threshold``."""
    from sklearn.metrics import precision_recall_fscore_support

    y, pred = np.asarray(labels).astype(int), (np.asarray(probs) >= threshold).astype(int)
    p, r, f, n = precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    return {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(n[i])}
            for i, name in enumerate(("real", "fake"))}


def threshold_balanced(labels, probs) -> float:
    """The probability threshold with the best balanced accuracy (0.5 with one class)."""
    if not _two_classes(labels):
        return 0.5
    fpr, tpr, thr = roc(labels, probs)
    finite = np.isfinite(thr)
    best = int(np.argmax(np.where(finite, tpr - fpr, -np.inf)))
    return float(np.clip(thr[best], 0.0, 1.0))


def threshold_at_fpr(labels, probs, fpr_target: float) -> dict:
    """The lowest probability threshold whose false-positive rate is at most ``fpr_target``, and its TPR/FPR."""
    if not _two_classes(labels):
        return {"threshold": 0.5, "fpr": None, "tpr": None, "target_fpr": fpr_target}
    fpr, tpr, thr = roc(labels, probs)
    ok = np.isfinite(thr) & (fpr <= fpr_target + 1e-12)
    i = int(np.argmax(np.where(ok, tpr, -1.0)))  # the most sensitive threshold within the FPR budget
    t = float(np.clip(thr[i], 0.0, 1.0)) if ok[i] else 1.0
    return {"threshold": t, "fpr": float(fpr[i]) if ok[i] else 0.0, "tpr": float(tpr[i]) if ok[i] else 0.0,
            "target_fpr": fpr_target}


def tpr_at(labels, probs, threshold: float) -> tuple[float | None, float | None]:
    """(TPR, FPR) at a probability threshold."""
    c = confusion(labels, probs, threshold)
    pos, neg = c["tp"] + c["fn"], c["tn"] + c["fp"]
    return (c["tp"] / pos if pos else None), (c["fp"] / neg if neg else None)


def summary(labels, probs, threshold: float) -> dict:
    """Everything ``eval`` reports at a threshold: AUC, accuracy, EER, AP, log loss, confusion, per-class F1."""
    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, np.float64)
    return {"n": int(len(y)), "auc": auc(y, p), "acc": float(np.mean((p >= threshold) == (y == 1))) if len(y) else None,
            "eer": eer(y, p), "ap": average_precision(y, p), "log_loss": log_loss(y, p),
            "confusion": confusion(y, p, threshold), "per_class": per_class(y, p, threshold), "threshold": threshold}


__all__ = ["auc", "roc", "eer", "average_precision", "log_loss", "confusion", "per_class", "threshold_balanced",
           "threshold_at_fpr", "tpr_at", "summary"]
