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

``--clips`` (with ``--frames 96``, so each video gives 23 clips of 4) runs distillation both ways between the
temporal RGB-D model (Megatron) and frame models on clips (:func:`run_clips`).
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
# ``--clips``: Megatron (tiny depth model at depth_size) on clips of clip_frames crops
CLIP_DEFAULTS = dict(clip_frames=4, depth_size=56, clip_d_ff=256, clip_epochs=8, clip_batch_size=8, clip_lr=1e-3)


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
    common = _common(index, o)
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


def _common(index, o: dict) -> dict:
    return dict(index=str(index), batch_size=o["batch_size"], pseudo_fakes="sbi", steps_per_epoch=o["steps"],
                ckpt_every=0, patience=o["epochs"], augment=0.0, min_lr_ratio=0.1, weight_decay=1e-4,
                epochs=o["epochs"], lr=o["lr"], seed=o["seed"])


def _megatron(frame_checkpoint: Path, arch: str, o: dict) -> dict:
    """Megatron's kwargs with the frame model of ``frame_checkpoint`` as its frozen embedder (the published design's
    frozen pretrained RepViT; nothing is pretrained here, so the frame model trained on this split stands in)."""
    import timm

    return {"num_frames": o["clip_frames"], "depth_size": o["depth_size"], "depth_config": "tiny", "embedder": arch,
            "embedder_weights": str(frame_checkpoint), "d_model": timm.create_model(arch).num_features,
            "d_ff": o["clip_d_ff"]}


def run_clips(index: str | Path, out: str | Path, **options) -> dict:
    """Distillation both ways between the temporal RGB-D model (Megatron, tiny depth model) and frame models, on
    clips of ``clip_frames`` crops (a fake clip is self-blended throughout, one draw per clip):

    * **clip -> frame**: a frame teacher is trained (the frame evidence's teacher); a Megatron with that teacher's
      backbone as its frozen embedder trains its temporal head (the clip teacher); it is distilled into the frame
      student (each frame's target is its clip's logit), and the student is trained again without it;
    * **frame -> clip**: the frame teacher guides a Megatron whose frozen embedder is the plain frame student of
      the first part (each clip's target is the teacher's mean logit over its crops, a blended clip scored on the
      fly), against the same Megatron trained without it.

    Every model is scored on the same validation clips (frame models by their mean logit over the clip); frame
    models are also scored per crop. Writes ``out/clips.json`` and ``out/clips.md``."""
    from .train import TrainConfig, checkpoint_metrics, distill_with_baseline, train

    o = {**DEFAULTS, **CLIP_DEFAULTS, **options}
    out, T = Path(out), o["clip_frames"]
    common = _common(index, o)
    clip_common = {**common, "batch_size": o["clip_batch_size"], "epochs": o["clip_epochs"],
                   "patience": o["clip_epochs"], "lr": o["clip_lr"], "frames": T}
    student = {**common, "epochs": o["student_epochs"] or o["epochs"], "patience": o["student_epochs"] or o["epochs"]}
    kd = dict(alpha=o["alpha"], tau=o["tau"])
    t0 = time.perf_counter()
    frame_teacher = out / "frame_teacher" / "best.pt"
    train(TrainConfig(model=o["teacher"], img_size=o["teacher_size"], out=str(frame_teacher.parent), **common))
    clip_teacher = out / "clip_teacher" / "best.pt"
    t1 = time.perf_counter()
    train(TrainConfig(model="megatron_rgbd", model_kwargs=_megatron(frame_teacher, o["teacher"], o),
                      img_size=o["teacher_size"], out=str(clip_teacher.parent), **clip_common))
    t2 = time.perf_counter()
    to_frame = distill_with_baseline(TrainConfig(model=o["student"], img_size=o["student_size"],
                                                 out=str(out / "frame_student"), teacher=str(clip_teacher), **kd,
                                                 **student))
    to_clip = distill_with_baseline(TrainConfig(
        model="megatron_rgbd", model_kwargs=_megatron(out / "frame_student" / "baseline" / "best.pt", o["student"], o),
        img_size=o["student_size"], out=str(out / "clip_student"), teacher=str(frame_teacher), **kd, **clip_common))
    to_frame["teacher"]["seconds"], to_clip["teacher"]["seconds"] = round(t2 - t1, 1), round(t1 - t0, 1)
    scoring = TrainConfig(**common)
    for part in (to_frame, to_clip):
        for role in ("teacher", "distilled", "plain"):
            r = part[role]
            clip = checkpoint_metrics(r["checkpoint"], scoring, clips=T)
            r["clip_auc"], r["clip_acc"], r["clips_scored"] = clip["auc"], clip["acc"], clip["scored"]
    report = {"clip_frames": T, "clip_to_frame": to_frame, "frame_to_clip": to_clip,
              "options": {k: o[k] for k in {**DEFAULTS, **CLIP_DEFAULTS} if k != "frames"}}
    from edge_sdk.fileio import write_atomic

    write_atomic(out / "clips.json", json.dumps(report, indent=2, default=float))
    write_atomic(out / "clips.md", clips_markdown(report))
    return report


def clips_markdown(report: dict) -> str:
    rows = [f"| direction | model | role | input | params | val AUC per clip of {report['clip_frames']} | "
            "val AUC per crop | train time |", "|---|---|---|---|---|---|---|---|"]
    for part, label in (("clip_to_frame", "clip -> frame"), ("frame_to_clip", "frame -> clip")):
        for role in ("teacher", "distilled", "plain"):
            r = report[part][role]
            per_crop = f"{r['auc']:.3f}" if r["scored"].endswith("crops") else "-"
            rows.append(f"| {label} | {r['model']} | {role} | {r['img_size']} px | {r['params'] / 1e6:.1f} M | "
                        f"{r['clip_auc']:.3f} | {per_crop} | {r.get('seconds', 0):.0f} s |")
    return "\n".join(rows) + "\n"


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
    ap.add_argument("--clips", action="store_true", help="distillation both ways between Megatron and frame models "
                    "on clips (writes clips.json / clips.md)")
    for k, v in {**DEFAULTS, **CLIP_DEFAULTS}.items():
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    args = ap.parse_args(argv)
    opts = {k: getattr(args, k) for k in {**DEFAULTS, **CLIP_DEFAULTS}}
    index = build_index(args.train_video, args.val_video, Path(args.out) / "data", frames=opts.pop("frames"))
    if args.clips:
        print(clips_markdown(run_clips(index, args.out, **opts)), end="")
        return 0
    report = run(index, args.out, **{k: v for k, v in opts.items() if k not in CLIP_DEFAULTS})
    print(markdown(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
