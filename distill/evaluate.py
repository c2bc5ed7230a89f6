"""``edge-sdk eval``: frame- and video-level metrics of a checkpoint on one or more indexes (cross-dataset in one go).

    edge-sdk eval --model runs/b0/best.pt --index data/ffpp --index data/celebdf --split test --out runs/eval

Per index: frame-level AUC, accuracy at the threshold, EER, average precision, log loss and the
confusion matrix; video-level the same on the mean frame probability per video (DeepfakeBench's
video AUC); a ROC curve PNG. The threshold is the checkpoint's (chosen on validation by training)
unless ``threshold`` is given; ``--choose-threshold`` picks it on the index's ``val`` split and writes
``threshold.json`` for ``edge-sdk export --threshold``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from edge_sdk.errors import InputError
from edge_sdk.fileio import write_atomic
from edge_sdk import metrics
from edge_sdk.metrics import auc, roc


def summary(labels: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """Frame- or video-level metrics at a threshold (scikit-learn, :func:`edge_sdk.metrics.summary`)."""
    return metrics.summary(labels, p, threshold)


def predict(model, rows: list[dict], size: int, mean, std, batch: int = 32) -> np.ndarray:
    from .train import CropDataset

    ds = CropDataset(rows, size, mean, std)
    out = []
    with torch.no_grad():
        for i in range(0, len(ds), batch):
            x = torch.stack([ds[k][0] for k in range(i, min(i + batch, len(ds)))])
            out.append(model(x).reshape(-1).float())
    return torch.cat(out).numpy() if out else np.zeros(0)


def evaluate(model_path: str, indexes: list[str], split: str = "test", out: str | Path = "runs/eval",
             threshold: float | None = None, choose_threshold: bool = False, img_size: int | None = None,
             model_name: str | None = None) -> dict:
    from .train import choose_threshold as pick
    from .train import load_teacher, model_norm, read_rows

    model, name = load_teacher(model_path, model_name)
    size = img_size or model.train_size
    mean, std = model_norm(model)
    recorded = model.loaded.threshold
    thr = threshold if threshold is not None else (recorded if recorded is not None else 0.5)
    out = Path(out)
    report = {"model": name, "checkpoint": str(model_path), "split": split, "indexes": {}}
    if choose_threshold:
        val = read_rows(indexes[0], "val")
        if not val:
            raise InputError(f"--choose-threshold: {indexes[0]} has no val split")
        thr = pick(np.asarray([r["label"] for r in val]), predict(model, val, size, mean, std))
        write_atomic(out / "threshold.json", json.dumps({"threshold": thr, "chosen_on": f"{indexes[0]} val"}))
    for index in indexes:
        rows = read_rows(index, split)
        if not rows:
            raise InputError(f"{index}: no rows in split {split!r}")
        logits = predict(model, rows, size, mean, std)
        p = 1 / (1 + np.exp(-logits))
        labels = np.asarray([r["label"] for r in rows])
        videos: dict[str, list[int]] = {}
        for k, r in enumerate(rows):
            videos.setdefault(r["video_id"], []).append(k)
        vp = np.asarray([p[v].mean() for v in videos.values()])
        vl = np.asarray([labels[v[0]] for v in videos.values()])
        key = Path(index).name
        report["indexes"][key] = {"frame": summary(labels, p, thr), "video": summary(vl, vp, thr)}
        _roc_png(out / f"roc_{key}.png", labels, p, vl, vp, f"{name} on {key} ({split})")
    report["threshold"] = thr
    report["generalisation"] = generalisation(report)
    write_atomic(out / "eval.json", json.dumps(report, indent=2))
    write_atomic(out / "eval.md", to_markdown(report) + "\n")
    return report


# DeepfakeBench's published frame-level AUC, trained on FF++ c23 (../shared/REFERENCES.md; CC BY-NC figures, quoted)
DEEPFAKEBENCH = {"Xception": {"FF++": 0.9637, "CDFv2": 0.7365, "DFDC": 0.7077},
                 "EfficientNet-B4": {"FF++": 0.9567, "CDFv2": 0.7487, "DFDC": 0.6955}}


def generalisation(report: dict) -> list[dict]:
    """In-domain (the first index) against each cross-dataset index: frame and video AUC and the drop from the
    in-domain figure, one row per index."""
    rows, base = [], None
    for k, (key, r) in enumerate(report["indexes"].items()):
        frame, video = r["frame"]["auc"], r["video"]["auc"]
        if k == 0:
            base = (frame, video)
        drop = [None if b is None or v is None else round(b - v, 4) for b, v in zip(base, (frame, video))]
        rows.append({"index": key, "role": "in-domain" if k == 0 else "cross-dataset", "frame_auc": frame,
                     "video_auc": video, "frames": r["frame"]["n"], "videos": r["video"]["n"],
                     "frame_auc_drop": None if k == 0 else drop[0], "video_auc_drop": None if k == 0 else drop[1]})
    return rows


def to_markdown(report: dict) -> str:
    """The in-domain vs cross-dataset table ``eval`` prints, with DeepfakeBench's published figures beside it."""
    def f(v):
        return "-" if v is None else f"{v:.4f}"

    lines = [f"{report['model']} ({report['checkpoint']}), split {report['split']}, "
             f"threshold {report['threshold']:.3f}", "",
             "| index | role | frames | frame AUC | drop | videos | video AUC | drop |", "|---|---|---|---|---|---|---|---|"]
    for r in report["generalisation"]:
        lines.append(f"| {r['index']} | {r['role']} | {r['frames']} | {f(r['frame_auc'])} | {f(r['frame_auc_drop'])} | "
                     f"{r['videos']} | {f(r['video_auc'])} | {f(r['video_auc_drop'])} |")
    ref = "; ".join(f"{m} " + " / ".join(f"{d} {v:.4f}" for d, v in row.items()) for m, row in DEEPFAKEBENCH.items())
    lines += ["", f"For scale, DeepfakeBench's published frame AUC trained on FF++ c23: {ref} (not measured here)."]
    return "\n".join(lines)


def _roc_png(path: Path, labels, p, vl, vp, title: str) -> None:
    if len(set(labels.tolist())) < 2:
        return
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for lab, sc, name in ((labels, p, "frame"), (vl, vp, "video")):
        if len(set(lab.tolist())) == 2:
            fpr, tpr, _ = roc(lab, sc)
            ax.plot(fpr, tpr, label=f"{name} AUC {auc(lab, sc):.3f}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
