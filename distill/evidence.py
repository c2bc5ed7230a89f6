"""Distillation evidence on a task anyone can rebuild: self-blended pseudo-fakes of real faces.

    python -m edge_sdk.distill.evidence --train-video ../shared/samples/western_fake.mp4 \\
        --val-video ../shared/samples/western_real.mp4 --out runs/evidence

Real faces are the crops ``edge-sdk prepare`` makes from one video (train) and another (validation), so no frame
is shared; the fakes are their self-blends (SBI), made on the fly in training and with a fixed seed for
validation (every validation face once as it is and once blended). A small teacher (resnet18 at 64 px) is trained
from scratch, distilled into a smaller student (resnet10t at 48 px), and the
same student is trained again without the teacher on the same data, steps and seed. All three are scored on the
same validation faces. It shows the machinery works end to end; it is not a deepfake detector (nothing was
pretrained, and the faces are few).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edge_sdk.errors import InputError

DEFAULTS = dict(teacher="resnet18", teacher_size=64, student="resnet10t", student_size=48, epochs=14, steps=12,
                batch_size=16, lr=3e-4, alpha=0.9, tau=2.0, frames=48, seed=0, student_epochs=20)


def build_index(train_videos: list[str], val_videos: list[str], out: str | Path, frames: int = 48,
                size: int = 96) -> Path:
    """``edge-sdk prepare`` on a CSV naming the videos: every face real, train and val from different videos."""
    from .prepare import prepare

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["path,label,split"] + [f"{Path(v).resolve()},real,train" for v in train_videos] + \
        [f"{Path(v).resolve()},real,val" for v in val_videos]
    for v in train_videos + val_videos:
        if not Path(v).is_file():
            raise InputError(f"video {v}: not found")
    table = out / "videos.csv"
    table.write_text("\n".join(lines) + "\n")
    report = prepare(table, out / "index", frames=frames, size=size, progress=False)
    for split in ("train", "val"):
        if not report["crops_per_split"].get(split, {}).get("real"):
            raise InputError(f"{out / 'index'}: no face crops in the {split} split (no face found in its videos?)")
    return out / "index"


def run(index: str | Path, out: str | Path, **options) -> dict:
    """Teacher, distilled student, plain student; writes ``out/comparison.json`` and ``out/comparison.md``."""
    from .train import TrainConfig, distill_with_baseline, train

    o = {**DEFAULTS, **options}
    out = Path(out)
    common = dict(index=str(index), batch_size=o["batch_size"], pseudo_fakes="sbi", steps_per_epoch=o["steps"],
                  ckpt_every=0, patience=o["epochs"], augment=0.0, min_lr_ratio=0.1, weight_decay=1e-4,
                  epochs=o["epochs"], lr=o["lr"], seed=o["seed"])
    t0 = time.perf_counter()
    train(TrainConfig(model=o["teacher"], img_size=o["teacher_size"], out=str(out / "teacher"), **common))
    teacher_s = time.perf_counter() - t0
    student = {**common, "epochs": o["student_epochs"] or o["epochs"], "patience": o["student_epochs"] or o["epochs"]}
    report = distill_with_baseline(TrainConfig(model=o["student"], img_size=o["student_size"],
                                               out=str(out / "student"), teacher=str(out / "teacher" / "best.pt"),
                                               alpha=o["alpha"], tau=o["tau"], **student))
    report["teacher"]["seconds"] = round(teacher_s, 1)
    from edge_sdk.fileio import write_atomic

    write_atomic(out / "comparison.json", json.dumps(report, indent=2, default=float))
    write_atomic(out / "comparison.md", markdown(report))
    return report


def markdown(report: dict) -> str:
    rows = ["| model | role | input | params | val AUC | val acc@0.5 | train time |", "|---|---|---|---|---|---|---|"]
    for role in ("teacher", "distilled", "plain"):
        r = report[role]
        rows.append(f"| {r['model']} | {role} | {r['img_size']} px | {r['params'] / 1e6:.1f} M | {r['auc']:.3f} | "
                    f"{r['acc']:.3f} | {r.get('seconds', 0):.0f} s |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge_sdk.distill.evidence", description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-video", action="append", required=True, help="video(s) whose faces train")
    ap.add_argument("--val-video", action="append", required=True, help="video(s) whose faces validate")
    ap.add_argument("--out", default="runs/evidence")
    for k, v in DEFAULTS.items():
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    args = ap.parse_args(argv)
    opts = {k: getattr(args, k) for k in DEFAULTS}
    index = build_index(args.train_video, args.val_video, Path(args.out) / "data", frames=opts.pop("frames"))
    report = run(index, args.out, **opts)
    print(markdown(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
