"""``edge-sdk demo`` (``make demo``): the whole flow on embedded data, with a report a person can read.

    edge-sdk demo                 # runs/demo: data, teacher, students, export, bench, detect, report
    edge-sdk demo --fast          # the smoke version the tests run
    edge-sdk demo --faces DIR --videos DIR   # add your own real faces
    edge-sdk demo --fresh         # redo every stage
    edge-sdk demo --teacher clip  # the frozen-CLIP video teacher instead of MS-Eff-GCViT B5

Stages, each calling the same function as its verb, each kept in ``runs/demo/<stage>/`` with a
``stage.json`` written last; a re-run reuses finished stages made with the same settings (``--fresh``
redoes them all, and a redone stage redoes every later one) and a failed stage stops the run with its
message while earlier stages stay. Progress: a line per stage, and while it runs how far it is (one
line that updates on a terminal):

1. data: face photos shipped inside installed packages, and pan-and-zoom clips of them
   (``distill/demo_data.py``) -> ``prepare``;
2. teacher: MS-Eff-GCViT B5 trained briefly on real faces vs their self-blends (``train``), or with
   ``--teacher clip`` the frozen-CLIP video teacher on clips, whose fakes blend every frame alike;
3. students: B0 and RepViT-M0.9, each distilled from the teacher and trained without it (``distill``);
4. export + bench: every target available here, parity against PyTorch, latency (``bench``);
5. detect: the int8 ExecuTorch student on a video made from a photo, with a self-blended segment;
6. report: ``report.md`` and ``report.html``.

This is the orchestration of all four packages, the one place outside the tests that imports
``distill`` and ``export`` together with ``benchmarks``. The task is a demonstration (real faces of three
people, fakes made from them), not a deepfake detector. How it learns in minutes from random weights on two
cores (docs/demo.md has the measurements): every model at 32 px; SBI's batches (each crop with its own
self-blend) of full-strength blends; B5 (and the B0 student) with GroupNorm in the backbone; the students
distilled with the teacher scoring each blend on the fly. Every score is on a person never trained on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.errors import InputError
from edge_sdk.fileio import write_atomic

STUDENTS = ("ms_eff_gcvit_b0", "repvit_m0_9_student")


B0_SKIP = ("B0's ExecuTorch int8 export (quantizing and lowering takes about 2.5 minutes on 2 cores, 149-156 s "
           "measured) and Core ML conversion (34 s) would take the demo past 10 minutes; RepViT has them here, and "
           "`edge-sdk demo --all-targets` (which also adds ExecuTorch fp32) and `make bench` export and measure them "
           "for B0")
TEACHERS = {"b5": "ms_eff_gcvit_b5", "clip": "clip_fcg_vit_b16"}
SIZE = 32  # the demo's input px: B5 learns the task in ~2 minutes at 32 px and not at 64 or 96 (docs/demo.md)
STILL = {"drop": 0.0, "attn_drop": 0.0, "drop_path": 0.0}  # no dropout: 150 steps leave nothing to regularise
# B5 from random weights at 32 px, windows scaled with the input, GroupNorm in the backbone: BatchNorm's running
# statistics of two training faces misplace the held-out one (validation AUC 0.54-0.60 with BatchNorm, 0.95 without)
B5_DEMO = {"img_size": SIZE, "backbone_norm": "group", "drop_rate": 0.0, "low": STILL, "high": STILL}


@dataclass
class Plan:
    """How much of each stage to run; ``fast`` is the smoke version, ``teacher`` b5 or clip."""
    variants: int = 100                 # photos made from each packaged photo (64: teacher AUC 0.88, not 0.95)
    clips: int = 0                      # pan-and-zoom videos made from each packaged photo (video teacher)
    clip_frames: int = 8                # frames per such video (every one becomes a crop)
    teacher: str = "ms_eff_gcvit_b5"
    teacher_kwargs: dict = field(default_factory=lambda: dict(B5_DEMO))
    teacher_frames: int = 8             # clip length, video teacher only
    teacher_size: int | None = SIZE     # input px (None: the model's)
    teacher_epochs: int = 4
    teacher_steps: int = 30
    teacher_batch: int = 16
    teacher_lr: float = 3e-4
    students: tuple = STUDENTS
    student_size: int | None = SIZE
    student_kwargs: dict = field(default_factory=lambda: {"ms_eff_gcvit_b0": {**B5_DEMO}})  # B0 as the B5
    # RepViT learns the unseen person as well as the teacher in 360 steps (0.87 AUC in 150); B0 stays near 0.88-0.91
    # at 150-300 steps, so it gets the 150 the budget leaves (docs/demo.md has the runs)
    student_epochs: dict = field(default_factory=lambda: {"ms_eff_gcvit_b0": 5, "repvit_m0_9_student": 12})
    student_steps: int = 30
    student_batch: int = 16
    student_lr: dict = field(default_factory=lambda: {"ms_eff_gcvit_b0": 1e-3, "repvit_m0_9_student": 1e-3})
    # the teacher's soft targets at 0.3: at 0.5 the students ranked the unseen person's blends as well but called
    # them fake far less surely (RepViT: mean P(fake) 0.57 on blended validation faces, 0.30 on the clip's blended
    # frames, against 0.66 and 0.48 at 0.3)
    alpha: float = 0.3
    student_ema: float = 0.99           # students (distilled and plain) validated and kept as their weights' average
    # flips, affine, colour, JPEG, blur on each pair alike (not cutout); none by default: with 0.5, RepViT's
    # distilled and plain twins moved by +/-0.05 AUC between runs and its int8 artifacts lost decision agreement
    student_augment: dict = field(default_factory=dict)
    pseudo_fakes: str = "sbi-full"      # every blend at full strength (distill.augment.self_blend(full=True))
    targets: tuple = ("torch", "onnx-fp32", "onnx-int8", "executorch-int8", "coreml-fp16", "tensorrt-fp16")
    skip: dict = field(default_factory=lambda: {("ms_eff_gcvit_b0", t): B0_SKIP for t in (
        "executorch-int8", "coreml-fp16")})
    all_targets: tuple = ("executorch-fp32",)  # added by --all-targets (with what ``skip`` leaves out)
    runs: int = 10
    video_frames: int = 48
    detect_model: str = "repvit_m0_9_student"
    detect_target: str = "executorch-int8"

    @classmethod
    def make(cls, fast: bool = False, teacher: str = "b5") -> "Plan":
        if teacher not in TEACHERS:
            raise InputError(f"--teacher {teacher!r}: use one of {', '.join(TEACHERS)}")
        plan = cls(variants=24, teacher_epochs=2, teacher_steps=15, students=("repvit_m0_9_student",),
                   student_epochs={"repvit_m0_9_student": 4}, student_steps=15,
                   student_ema=0.0,  # 60 steps: the average would still lean on the first ones targets=("torch", "onnx-fp32", "onnx-int8", "tensorrt-fp16"),
                   runs=5, video_frames=16, detect_target="onnx-int8") if fast else cls()
        plan.teacher = TEACHERS[teacher]
        if teacher == "clip":  # the frozen-CLIP video teacher learns from clips of 4 frames of pan-and-zoom videos
            plan.clips, plan.teacher_frames = (1 if fast else 2), 4
            plan.teacher_kwargs, plan.teacher_size = {"num_frames": 4}, None
            plan.teacher_epochs, plan.teacher_steps, plan.teacher_batch = 1, (2 if fast else 6), 2
            if fast:  # a CLIP of two blocks at 64 px: the smoke test exercises the path, not the model
                plan.teacher_kwargs["clip_kwargs"] = {"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 64}
                plan.teacher_size = 64
        return plan

    def key(self, stage: str) -> dict:
        """What a stage's result depends on besides earlier stages; a finished stage with another key is redone."""
        fields_of = {"data": ("variants", "clips", "clip_frames"),
                     "teacher": ("teacher", "teacher_kwargs", "teacher_frames", "teacher_size", "teacher_epochs",
                                 "teacher_steps", "teacher_batch", "teacher_lr", "pseudo_fakes"),
                     "students": ("students", "student_size", "student_kwargs", "student_epochs", "student_steps",
                                  "student_batch", "student_lr", "alpha", "student_augment", "student_ema"),
                     "bench": ("targets", "skip", "runs"), "detect": ("video_frames", "detect_model", "detect_target")}
        values = {k: getattr(self, k) for k in fields_of[stage]}
        if "skip" in values:
            values["skip"] = sorted(f"{m} {t}" for m, t in values["skip"])
        return json.loads(json.dumps(values))


class Stages:
    """Runs stages in order; each finished stage leaves ``<out>/<name>/stage.json`` (written last, atomically).

    A stage is reused when its ``stage.json`` exists, it was made with the same key (plan settings and inputs) and
    no earlier stage was redone in this run; otherwise it runs again. ``progress`` gets one line per stage event
    and, while a stage runs, lines saying how far it is: ``[demo 3/6 students  40%] repvit_m0_9_student distilled: ...``.
    """

    def __init__(self, out: Path, fresh: bool, progress, capture: bool = False):
        self.out, self.fresh, self.progress, self.capture = out, fresh, progress, capture
        self.times: dict[str, float] = {}
        self.results: dict[str, dict] = {}
        self.redone = False

    def run(self, index: int, total: int, name: str, fn, key: dict | None = None) -> dict:
        folder = self.out / name
        done = folder / "stage.json"
        old = json.loads(done.read_text()) if done.is_file() else None
        if old is not None and not self.fresh and not self.redone and old.get("key") == key:
            result = old
            self.progress(f"[demo {index}/{total}] {name}: reused ({done})")
        else:
            why = "" if old is None or self.fresh else (" (an earlier stage was redone)" if self.redone else
                                                        " (settings changed since it ran)")
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            self.progress(f"[demo {index}/{total}] {name}{why} ...")
            t0 = time.perf_counter()

            def tick(fraction: float, message: str) -> None:
                self.progress(f"[demo {index}/{total} {name} {100 * min(1.0, max(0.0, fraction)):3.0f}%] {message}")

            log = folder / "log.txt" if self.capture else None
            try:
                with stage_log(log):
                    result = fn(folder, tick)
            except Exception as err:
                raise InputError(f"demo stage {index}/{total} ({name}) failed: {type(err).__name__}: "
                                 f"{str(err).rstrip('.')}. "
                                 + (f"Its log: {log}. " if log else "")
                                 + f"Earlier stages are kept in {self.out}; fix and re-run to continue from here") from err
            result["seconds"] = round(time.perf_counter() - t0, 1)
            result["key"] = key
            write_atomic(done, json.dumps(result, indent=2, default=float))
            self.redone = True  # every later stage depends on this one
            self.progress(f"[demo {index}/{total}] {name}: done in {result['seconds']:.0f} s")
        self.times[name] = result.get("seconds", 0.0)
        self.results[name] = result
        return result


@contextmanager
def stage_log(path: Path | None):
    """While a stage runs, everything written to this process's stderr (Python, native libraries, child
    processes) goes to ``path``, so the console shows only the progress display (``console_progress`` writes to
    a copy of the original stderr)."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as fh:
            os.dup2(fh.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


TICK = re.compile(r"\[demo \d+/\d+ \S+ +\d+%\] ")


def console_progress(stream=None):
    """Stage lines as they come; on a terminal, a stage's progress lines overwrite each other on one line. By default
    it writes to a copy of stderr made now, which stays on the console while ``stage_log`` sends stderr to a file."""
    from edge_sdk.console import StatusLines

    lines = StatusLines(stream or os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1))
    return lambda message: lines.write(message, transient=bool(TICK.match(message)))


# ---------------------------------------------------------------------------------------------- stages
def stage_data(folder: Path, tick, plan: Plan, faces, videos) -> dict:
    from edge_sdk.distill.demo_data import build_dataset

    report = build_dataset(folder, variants=plan.variants, size=384, faces=faces, videos=videos, progress=False,
                           clips=plan.clips, clip_frames=plan.clip_frames, tick=tick)
    tick(0.95, "example crops and their self-blends")
    examples = example_crops(folder / "index", folder / "examples.png")
    return {"index": str(folder / "index"), "sources": report["sources"], "crops": report["crops_per_split"],
            "examples": str(examples), "failed": report.get("failed", 0)}


def example_crops(index: Path, png: Path, n: int = 6) -> Path:
    """A strip of real validation crops above their self-blends (the fakes the models learn to tell apart)."""
    import cv2
    import numpy as np

    from edge_sdk.distill.augment import self_blend
    from edge_sdk.distill.train import read_rows

    train = read_rows(index, "train")
    rows = [train[int(k)] for k in np.unique(np.linspace(0, len(train) - 1, n).round())]  # spread over identities
    tiles = []
    for k, r in enumerate(rows):
        rgb = cv2.cvtColor(cv2.imread(r["path"]), cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA)
        kp = r["kp"] * (128 / cv2.imread(r["path"]).shape[0]) if r["kp"] is not None else None
        tiles.append(np.concatenate([rgb, self_blend(rgb, kp, np.random.default_rng(k))], 0))
    strip = np.concatenate(tiles, 1)
    png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(png), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return png


def _train_cfg(index: str, plan: Plan, video: bool = False, **kw):
    """SBI's recipe on the demo's faces: each batch holds crops and their own full-strength self-blends (a video
    teacher: whole clips, blended alike), no other augmentation, cosine schedule to a tenth."""
    from edge_sdk.distill.train import TrainConfig

    base = dict(index=index, pseudo_fakes=plan.pseudo_fakes, pairs=not video, augment=0.0, ckpt_every=0,
                min_lr_ratio=0.1, weight_decay=1e-4, seed=0, monitor="val_auc")
    return TrainConfig(**{**base, **kw})


def _steps(tick, start: float, share: float, prefix: str):
    """A train/distil progress callback that moves ``tick`` from ``start`` over ``share`` of the stage."""
    return lambda done, total, message: tick(start + share * done / max(1, total), f"{prefix}{message}")


def stage_teacher(folder: Path, tick, plan: Plan, index: str) -> dict:
    from edge_sdk.distill.train import train
    from edge_sdk.models import card

    video = card(plan.teacher).kind == "clip"
    cfg = _train_cfg(index, plan, video, model=plan.teacher, model_kwargs=plan.teacher_kwargs,
                     frames=plan.teacher_frames, img_size=plan.teacher_size, out=str(folder), epochs=plan.teacher_epochs,
                     steps_per_epoch=plan.teacher_steps, batch_size=plan.teacher_batch, lr=plan.teacher_lr,
                     patience=plan.teacher_epochs)
    result = train(cfg, progress=_steps(tick, 0.0, 1.0, f"{plan.teacher} "))
    return {"checkpoint": str(folder / "best.pt"), "model": plan.teacher, "history": result["history"],
            "best": result["best"], "video": video}


def stage_students(folder: Path, tick, plan: Plan, index: str, teacher: str) -> dict:
    from edge_sdk.distill.train import distill_with_baseline

    out = {}
    for k, name in enumerate(plan.students):
        cfg = _train_cfg(index, plan, model=name, model_kwargs=plan.student_kwargs.get(name, {}),
                         img_size=plan.student_size, out=str(folder / name), teacher=teacher,
                         epochs=plan.student_epochs[name], steps_per_epoch=plan.student_steps,
                         batch_size=plan.student_batch, lr=plan.student_lr.get(name, 1e-3),
                         patience=plan.student_epochs[name], alpha=plan.alpha, tau=2.0,
                         augment=plan.student_augment.get(name, 0.0), cutout=0.0, ema=plan.student_ema,
                         cache_dir=str(folder / "teacher_cache"))  # the teacher in memory scores every self-blend
        share = 1.0 / len(plan.students)
        report = distill_with_baseline(cfg, progress=_steps(tick, k * share, share, f"{name} "))
        hist = {role: json.loads((Path(report[role]["checkpoint"]).parent / "metrics.json").read_text())
                for role in ("distilled", "plain")}
        out[name] = {**report, "history": hist}
    return {"models": out}


def stage_bench(folder: Path, tick, plan: Plan, students: dict, index: str) -> dict:
    import logging

    from edge_sdk.benchmarks.bench import bench, not_available_here, write_outputs
    from edge_sdk.distill.train import artifact_metrics

    calib = str(Path(index) / "crops")
    from edge_sdk.export.exporter import LOG

    docs = []
    jobs = [(name, [t for t in plan.targets if (name, t) not in plan.skip]) for name in plan.students]
    # units of work: each export, each target measured, the offline checks per student
    runnable = lambda t: t != "torch" and not not_available_here(t)  # noqa: E731
    # each export, each target measured and scored on the validation faces, the offline checks per student
    units = sum(len(t) + 1 + 2 * sum(map(runnable, t)) for _, t in jobs)
    done, current = [0], [""]

    def row_done(row: dict) -> None:
        done[0] += 1
        tick(done[0] / units, f"{row['model']} {row['target']}: {row['status']}"
             + (f", p50 {row['latency_ms']['p50']:.1f} ms" if "latency_ms" in row else ""))

    class ExportTicks(logging.Handler):  # export() logs "<target> <precision>: exporting to <path>" as each starts
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            if ": exporting to " in msg:
                tick(done[0] / units, f"{current[0]} {msg.split(':')[0]}: exporting and checking parity")
                done[0] += 1

    handler = ExportTicks()
    LOG.addHandler(handler)
    try:
        for name, targets in jobs:
            current[0] = name
            docs.append(bench(models=[name], targets=targets,
                              weights=students["models"][name]["distilled"]["checkpoint"], data=calib, calib=calib,
                              threads=None, runs=plan.runs, warmup=2, out=folder / name,
                              cache=folder / name / "artifacts", progress=lambda m: None, on_row=row_done))
    finally:
        LOG.removeHandler(handler)
    merged = dict(docs[0], results=[r for d in docs for r in d["results"]],
                  command="edge-sdk demo (one bench per student, merged)")
    write_outputs(merged, folder)
    offline = []  # targets that cannot run here: produced and checked as far as this machine can
    for name in plan.students:
        artifacts = {r["target"]: r.get("artifact") for d in docs for r in d["results"] if r["model"] == name}
        if "coreml-fp16" in plan.targets and (name, "coreml-fp16") not in plan.skip:
            from edge_sdk.export import export

            tick(done[0] / units, f"{name}: converting to Core ML fp16")
            rec = export(name, weights=students["models"][name]["distilled"]["checkpoint"],
                         formats=["coreml-fp16"], out=folder / name / "offline")[0]
            offline.append({"model": name, "target": "coreml-fp16", "ok": rec["ok"], "bytes": rec.get("bytes"),
                            "path": rec.get("path"), "checked": "converted (mlprogram, fp16), manifest written; "
                            + (rec.get("parity") or {}).get("reason", "") if rec["ok"] else rec.get("error")})
        if "tensorrt-fp16" in plan.targets and artifacts.get("onnx-fp32"):
            offline.append({"model": name, "target": "tensorrt-fp16", **trt_check(Path(artifacts["onnx-fp32"]))})
        done[0] += 1
        tick(done[0] / units, f"{name}: offline targets checked")
    chain = {}  # every artifact that runs here, through its runtime backend, on the faces its student was scored on
    for r in merged["results"]:
        if runnable(r["target"]) and r.get("artifact") and Path(r["artifact"]).exists():  # parity failed too
            m = artifact_metrics(r["artifact"], index, plan.pseudo_fakes)
            chain.setdefault(r["model"], {})[r["target"]] = {k: m[k] for k in ("auc", "acc", "scored", "img_size")}
            done[0] += 1
            tick(done[0] / units, f"{r['model']} {r['target']}: validation AUC {m['auc']:.3f} through its backend")
    return {"bench": str(folder / "bench.json"), "markdown": str(folder / "bench.md"), "offline": offline,
            "chain": chain,
            "latency_png": str(folder / "latency.png"),
            "artifacts": {d["results"][0]["model"]: {r["target"]: r.get("artifact") for r in d["results"]}
                          for d in docs}}


def trt_table() -> Path | None:
    """TensorRT's ONNX operator table: $EDGE_SDK_TRT_OPS, else the shared fixtures beside the checkout."""
    import os

    for cand in (os.environ.get("EDGE_SDK_TRT_OPS"),
                 Path(os.environ.get("EDGE_SDK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
                 / "fixtures" / "tensorrt10_onnx_operators.csv"):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def trt_check(onnx_path: Path) -> dict:
    """TensorRT fp16 builds its engine from the float ONNX itself; what can be checked here is that ONNX against
    TensorRT's operator table."""
    from edge_sdk.export.tensorrt import check_onnx_for_tensorrt

    table = trt_table()
    size = onnx_path.stat().st_size
    if table is None:
        return {"ok": True, "bytes": size, "path": str(onnx_path),
                "checked": "operator check not run: no table ($EDGE_SDK_TRT_OPS or ../shared/fixtures)"}
    report = check_onnx_for_tensorrt(onnx_path, table)
    bad = len(report["offenders"])
    return {"ok": report["ok"], "bytes": size, "path": str(onnx_path),
            "checked": f"float ONNX against {table.name}: " + ("every node supported" if report["ok"] else
                                                               f"{bad} unsupported node kinds")}


def make_video(photo: Path, out: Path, frames: int, fake_from: float = 0.4, fake_to: float = 0.7,
               full: bool = True, crop: dict | None = None) -> dict:
    """A short clip panning and zooming over a photo; frames in [fake_from, fake_to) of the clip have the face
    self-blended (a pseudo-fake segment; ``full``: at full strength, as the demo trains). Returns the frame ranges.

    The blend is made as training makes it: on the model's own crop of the face (``crop``, its manifest's crop spec:
    margin, size) through the mask of the detector's keypoints. What it changed is scaled up and added to the photo,
    so the photo stays sharp outside the face and the runtime's crop of each frame holds that blend."""
    import cv2
    import numpy as np

    from edge_sdk.distill.augment import self_blend
    from edge_sdk.distill.demo_data import pan_zoom_clip
    from edge_sdk.faces import FaceDetector
    from edge_sdk.preprocess import CropSpec, load_image

    rgb = load_image(photo)[..., :3]
    h, w = rgb.shape[:2]
    with FaceDetector() as det:
        faces = det.detect(rgb)
    if not faces:
        raise InputError(f"{photo}: no face found to make the demo video from")
    spec = CropSpec.from_dict(crop) if crop else CropSpec(size=SIZE)
    box, kp = faces[0].box, faces[0].keypoints
    left, top, right, bottom = spec.crop_rect(box, (w, h))
    small = spec.crop(rgb, box)
    change = self_blend(small, spec.map_points(kp, box, (w, h)).astype(np.float32), np.random.default_rng(7), full)
    change = change.astype(np.float32) - small
    ph, pw = bottom - top, right - left  # the crop's content inside its square (pad-resize keeps the aspect)
    scale = spec.size / max(ph, pw)
    nh, nw = max(1, min(spec.size, round(ph * scale))), max(1, min(spec.size, round(pw * scale)))
    oy, ox = (spec.size - nh) // 2, (spec.size - nw) // 2
    up = cv2.resize(change[oy:oy + nh, ox:ox + nw], (pw, ph), interpolation=cv2.INTER_LINEAR)
    fake = rgb.copy()
    fake[top:bottom, left:right] = np.clip(rgb[top:bottom, left:right] + up + 0.5, 0, 255).astype(np.uint8)
    start, stop = int(frames * fake_from), int(frames * fake_to)
    # the camera's view: the frame's 4:3 at the photo's full width, centred on the face, so no zoom or pan of the
    # clip cuts the face crop at the frame's edge (a cut crop is not what training saw)
    view_h = min(h, w * 3 // 4)
    y0 = int(np.clip((top + bottom) / 2 - view_h / 2, 0, h - view_h))
    pan_zoom_clip(rgb[y0:y0 + view_h], out, frames, swap=fake[y0:y0 + view_h], swap_frames=(start, stop))
    return {"video": str(out), "frames": frames, "fake_frames": [start, stop]}


def stage_detect(folder: Path, tick, plan: Plan, artifact: str, photo: Path) -> dict:
    import cv2

    from edge_sdk.pipeline import detect

    tick(0.0, f"making a {plan.video_frames}-frame clip of {photo.name} with a self-blended segment")
    from edge_sdk import manifest

    clip = make_video(photo, folder / "demo_clip.mp4", plan.video_frames, full=plan.pseudo_fakes == "sbi-full",
                      crop=manifest.load(artifact, verify_sha256=False)["crop"])
    tick(0.2, f"edge-sdk detect with {Path(artifact).name}, annotated video")
    records = detect([clip["video"]], artifact, json_out=folder / "detect.json", annotate=folder / "annotated",
                     progress=False, frames=plan.video_frames, strategy="segment")
    rec = records[0]
    if not rec.get("ok", True) or rec.get("kind") == "error":
        raise InputError(f"detect on {clip['video']}: {rec.get('error')}")
    tick(0.9, "stills and the P(fake) plot")
    per_frame = [(f["frame"], max((x["p_fake"] for x in f["faces"]), default=None)) for f in rec["frames"]]
    annotated = sorted((folder / "annotated").glob("*.mp4"))
    stills = []
    if annotated:
        cap = cv2.VideoCapture(str(annotated[0]))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or plan.video_frames
        for j, at in enumerate((0.2, 0.55, 0.85)):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(n * at))
            ok, frame = cap.read()
            if ok:
                cv2.imwrite(str(folder / f"still_{j}.jpg"), frame)
                stills.append(str(folder / f"still_{j}.jpg"))
        cap.release()
    plot = _p_fake_plot(per_frame, clip["fake_frames"], folder / "p_fake.png")
    return {**clip, **segment_gap(per_frame, clip["fake_frames"]), "artifact": artifact, "annotated": [str(p) for p in annotated], "stills": stills,
            "verdict": rec.get("verdict"), "score": rec.get("score"), "record": str(folder / "detect.json"),
            "frames_scored": len(rec["frames"]), "frames_without_face": len(rec.get("frames_without_face", [])),
            "per_frame": per_frame, "plot": str(plot)}


def segment_gap(per_frame: list, fake: list) -> dict:
    """Mean P(fake) over the self-blended frames, over the others, and the gap between them."""
    import numpy as np

    inside = [p for i, p in per_frame if p is not None and fake[0] <= i < fake[1]]
    outside = [p for i, p in per_frame if p is not None and not fake[0] <= i < fake[1]]
    if not inside or not outside:
        return {"p_fake_blended": None, "p_fake_other": None, "gap": None}
    a, b = float(np.mean(inside)), float(np.mean(outside))
    return {"p_fake_blended": a, "p_fake_other": b, "gap": a - b}


def _p_fake_plot(per_frame: list, fake: list, png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.axvspan(fake[0] - 0.5, fake[1] - 0.5, color="#f4c7c3", label="self-blended frames")
    xs = [i for i, p in per_frame if p is not None]
    ax.plot(xs, [p for _, p in per_frame if p is not None], "o-", ms=3, label="P(fake), largest face")
    ax.set(xlabel="frame", ylabel="P(fake)", ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png


def skipped_lines(plan: Plan) -> list[str]:
    """One line per reason: ``<model> <target>, <target>: <why>`` for what the plan leaves out."""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for (m, t), why in plan.skip.items():
        if m in plan.students:
            by_reason.setdefault((m, why), []).append(t)
    return [f"{m} {', '.join(ts)}: {why}" for (m, why), ts in by_reason.items()]


# ---------------------------------------------------------------------------------------------- driver
def run_demo(out: str | Path = "runs/demo", fast: bool = False, fresh: bool = False, faces=None, videos=None,
             progress=print, teacher: str = "b5", all_targets: bool = False, capture_logs: bool = False) -> dict:
    """Every stage in order (see the module docstring); ``teacher`` is b5 (MS-Eff-GCViT B5) or clip (the
    frozen-CLIP video teacher, trained on clips of the demo's pan-and-zoom videos); ``all_targets`` also exports
    what the 10-minute plan leaves out; ``capture_logs`` sends each stage's log to ``<stage>/log.txt``."""
    from .report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = Plan.make(fast, teacher)
    if all_targets:
        plan.skip = {}
        plan.targets = plan.targets[:3] + plan.all_targets + plan.targets[3:]
    stages = Stages(out, fresh, progress, capture=capture_logs)
    t0 = time.perf_counter()
    n = 6
    inputs = {"faces": str(Path(faces).resolve()) if faces else None,
              "videos": str(Path(videos).resolve()) if videos else None}
    data = stages.run(1, n, "data", lambda f, tick: stage_data(f, tick, plan, faces, videos),
                      key={**plan.key("data"), **inputs})
    teacher_st = stages.run(2, n, "teacher", lambda f, tick: stage_teacher(f, tick, plan, data["index"]),
                            key=plan.key("teacher"))
    students = stages.run(3, n, "students", lambda f, tick: stage_students(f, tick, plan, data["index"],
                                                                           teacher_st["checkpoint"]),
                          key=plan.key("students"))
    bench = stages.run(4, n, "bench", lambda f, tick: stage_bench(f, tick, plan, students, data["index"]),
                       key=plan.key("bench"))
    artifact = (bench["artifacts"].get(plan.detect_model) or {}).get(plan.detect_target)
    if not artifact:
        raise InputError(f"demo: no {plan.detect_target} artifact of {plan.detect_model} to run detect with "
                         f"(see {bench['markdown']})")
    from edge_sdk.distill.demo_data import packaged_photos

    photos = packaged_photos()
    photo = photos.get("grace_hopper") or next(iter(photos.values()))
    stages.run(5, n, "detect", lambda f, tick: stage_detect(f, tick, plan, artifact, photo), key=plan.key("detect"))
    summary = {"plan": {k: v for k, v in plan.__dict__.items() if k != "skip"}, "fast": fast,
               "skipped": skipped_lines(plan),
               "stages": stages.results, "times": stages.times, "out": str(out)}
    summary["total_s"] = round(time.perf_counter() - t0, 1)  # this invocation (reused stages cost ~0)
    summary["stages_s"] = round(sum(stages.times.values()), 1)  # the stages' own times, whenever they ran
    progress("[demo 6/6] report ...")
    paths = write_report(summary, out)
    progress(f"[demo] done in {summary['total_s']:.0f} s: {paths['md']} and {paths['html']}")
    return {**summary, "report": paths}


def main(cfg) -> int:
    """The ``edge-sdk demo`` verb (a :class:`edge_sdk.benchmarks.config.DemoConfig`)."""
    result = run_demo(cfg.out, fast=cfg.fast, fresh=cfg.fresh, faces=cfg.faces, videos=cfg.videos,
                      teacher=cfg.teacher, all_targets=cfg.all_targets, progress=console_progress(),
                      capture_logs=not cfg.verbose)
    print(json.dumps({"report": result["report"], "total_s": result["total_s"]}, indent=2))
    return 0
