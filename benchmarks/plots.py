"""PNG plots of a bench document: p50 latency per target per model, and artifact size against latency."""

from __future__ import annotations

from pathlib import Path


def _measured(doc: dict) -> list[dict]:
    return [r for r in doc["results"] if r.get("latency_ms")]


def plot(doc: dict, out: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_sdk.fileio import write_atomic

    out = Path(out)
    rows = _measured(doc)
    if not rows:  # nothing ran: no plot, and none left from an earlier run in the same folder
        for name in ("latency.png", "size_vs_latency.png"):
            (out / name).unlink(missing_ok=True)
        return []
    models = list(dict.fromkeys(r["model"] for r in rows))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    written = []

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(targets) * max(1, len(models)) ** 0.5 + 3), 4.5))
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        by_target = {r["target"]: r for r in rows if r["model"] == model}
        xs = [j + i * width for j, t in enumerate(targets) if t in by_target]
        p50 = [by_target[t]["latency_ms"]["p50"] for t in targets if t in by_target]
        p90 = [by_target[t]["latency_ms"]["p90"] for t in targets if t in by_target]
        ax.bar(xs, p50, width, label=model, yerr=[[0] * len(p50), [b - a for a, b in zip(p50, p90)]], capsize=2)
    ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(targets))], targets, rotation=30, ha="right")
    ax.set_ylabel("latency p50 (ms), bar to p90")
    m = doc["machine"]
    ax.set_title(f"batch {doc['settings']['batch']}, {doc['settings']['threads'] or m['cores']} threads, {m['cpu'][:40]}",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(_save(fig, out / "latency.png", write_atomic))

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for model in models:
        pts = [r for r in rows if r["model"] == model and r.get("size_mb")]
        ax.scatter([r["size_mb"] for r in pts], [r["latency_ms"]["p50"] for r in pts], label=model)
        for r in pts:
            ax.annotate(r["target"], (r["size_mb"], r["latency_ms"]["p50"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xlabel("artifact size (MB)")
    ax.set_ylabel("latency p50 (ms)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(_save(fig, out / "size_vs_latency.png", write_atomic))
    plt.close("all")
    return written


def _save(fig, path: Path, write_atomic) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_atomic(path, buf.getvalue())
