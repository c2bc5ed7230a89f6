"""``edge-sdk demo`` (``make demo``): the whole flow on embedded data, with a report a person can read.

    edge-sdk demo                 # runs/demo: data, teacher, students, export, bench, detect, report
    edge-sdk demo --fast          # the smoke version the tests run
    edge-sdk demo --faces DIR --videos DIR   # add your own real faces
    edge-sdk demo --fresh         # redo every stage

Stages, each calling the same function as its verb, each kept in ``runs/demo/<stage>/`` with a
``stage.json`` written last; a re-run reuses finished stages (``--fresh`` redoes them) and a failed
stage stops the run with its message while earlier stages stay:

1. data: face photos shipped inside installed packages (``distill/demo_data.py``) -> ``prepare``;
2. teacher: MS-Eff-GCViT B5 trained briefly on real faces vs their self-blends (``train``);
3. students: B0 and RepViT-M0.9, each distilled from the teacher and trained without it (``distill``);
4. export + bench: every target available here, parity against PyTorch, latency (``bench``);
5. detect: the int8 ExecuTorch student on a video made from a photo, with a self-blended segment;
6. report: ``report.md`` and ``report.html``.

This is the orchestration of all four packages, the one place outside the tests that imports
``distill`` and ``export`` together with ``benchmarks``. The task is a demonstration (real faces of three
people, fakes made from them), not a deepfake detector; with no pretrained weights reachable, a few
minutes of CPU training leave the models near chance, and the report says so.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.errors import InputError
from edge_sdk.fileio import write_atomic

STUDENTS = ("ms_eff_gcvit_b0", "repvit_m0_9")


@dataclass
class Plan:
    """How much of each stage to run; ``fast`` is the smoke version."""
    variants: int = 12                  # photos made from each packaged photo
    teacher: str = "ms_eff_gcvit_b5"
    teacher_steps: int = 6
    teacher_batch: int = 2
    students: tuple = STUDENTS
    student_epochs: int = 2
    student_steps: int = 5
    student_batch: int = 8
    targets: tuple = ("torch", "onnx-fp32", "onnx-int8", "executorch-fp32", "executorch-int8", "coreml-fp16",
                      "tensorrt-fp16")
    skip: dict = field(default_factory=lambda: {
        ("ms_eff_gcvit_b0", "executorch-fp32"): "lowering B0 to ExecuTorch takes about 2 minutes (fp32) and 8 "
                                                "minutes (int8) on 2 cores, too long for a 10-minute demo; "
                                                "`make bench` exports and measures both",
        ("ms_eff_gcvit_b0", "executorch-int8"): "lowering B0 to ExecuTorch takes about 2 minutes (fp32) and 8 "
                                                "minutes (int8) on 2 cores, too long for a 10-minute demo; "
                                                "`make bench` exports and measures both"})
    runs: int = 10
    video_frames: int = 48
    detect_model: str = "repvit_m0_9"
    detect_target: str = "executorch-int8"

    @classmethod
    def fast(cls) -> "Plan":
        return cls(variants=6, teacher_steps=2, teacher_batch=2, students=("repvit_m0_9",), student_epochs=1,
                   student_steps=2, student_batch=4, targets=("torch", "onnx-fp32", "onnx-int8", "tensorrt-fp16"), runs=5,
                   video_frames=16, detect_target="onnx-int8")


class Stages:
    """Runs stages in order; each finished stage leaves ``<out>/<name>/stage.json`` (written last, atomically)."""

    def __init__(self, out: Path, fresh: bool, progress):
        self.out, self.fresh, self.progress = out, fresh, progress
        self.times: dict[str, float] = {}
        self.results: dict[str, dict] = {}

    def run(self, index: int, total: int, name: str, fn) -> dict:
        folder = self.out / name
        done = folder / "stage.json"
        if done.is_file() and not self.fresh:
            result = json.loads(done.read_text())
            self.progress(f"[demo {index}/{total}] {name}: reused ({done})")
        else:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            self.progress(f"[demo {index}/{total}] {name} ...")
            t0 = time.perf_counter()
            try:
                result = fn(folder)
            except Exception as err:
                raise InputError(f"demo stage {index}/{total} ({name}) failed: {type(err).__name__}: {err}. "
                                 f"Earlier stages are kept in {self.out}; fix and re-run to continue from here") from err
            result["seconds"] = round(time.perf_counter() - t0, 1)
            write_atomic(done, json.dumps(result, indent=2, default=float))
            self.progress(f"[demo {index}/{total}] {name}: done in {result['seconds']:.0f} s")
        self.times[name] = result.get("seconds", 0.0)
        self.results[name] = result
        return result


# ---------------------------------------------------------------------------------------------- stages
def stage_data(folder: Path, plan: Plan, faces, videos) -> dict:
    from distill.demo_data import build_dataset

    report = build_dataset(folder, variants=plan.variants, size=384, faces=faces, videos=videos, progress=False)
    examples = example_crops(folder / "index", folder / "examples.png")
    return {"index": str(folder / "index"), "sources": report["sources"], "crops": report["crops_per_split"],
            "examples": str(examples), "failed": report.get("failed", 0)}


def example_crops(index: Path, png: Path, n: int = 6) -> Path:
    """A strip of real validation crops above their self-blends (the fakes the models learn to tell apart)."""
    import cv2
    import numpy as np

    from distill.augment import self_blend
    from distill.train import read_rows

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


def _train_cfg(index: str, **kw):
    from distill.train import TrainConfig

    base = dict(index=index, pseudo_fakes="sbi", augment=0.0, ckpt_every=0, min_lr_ratio=0.1, weight_decay=1e-4,
                seed=0)
    return TrainConfig(**{**base, **kw})


def stage_teacher(folder: Path, plan: Plan, index: str) -> dict:
    from distill.train import TrainConfig, train

    recipe = TrainConfig.from_recipe("deepguard_b5")
    cfg = _train_cfg(index, model=plan.teacher, out=str(folder), epochs=1, steps_per_epoch=plan.teacher_steps,
                     batch_size=plan.teacher_batch, group_lr=recipe.group_lr, group_wd=recipe.group_wd, patience=1)
    result = train(cfg)
    return {"checkpoint": str(folder / "best.pt"), "model": plan.teacher, "history": result["history"],
            "best": result["best"]}


def stage_students(folder: Path, plan: Plan, index: str, teacher: str) -> dict:
    from distill.train import distill_with_baseline

    out = {}
    for name in plan.students:
        cfg = _train_cfg(index, model=name, out=str(folder / name), teacher=teacher, epochs=plan.student_epochs,
                         steps_per_epoch=plan.student_steps, batch_size=plan.student_batch, lr=5e-4,
                         patience=plan.student_epochs, alpha=0.5, tau=2.0, cache_dir=str(folder / "teacher_cache"),
                         score_on_the_fly=False)  # B5 on every self-blend would cost ~1 s per crop on a CPU
        report = distill_with_baseline(cfg)
        hist = {role: json.loads((Path(report[role]["checkpoint"]).parent / "metrics.json").read_text())
                for role in ("distilled", "plain")}
        out[name] = {**report, "history": hist}
    return {"models": out}


def stage_bench(folder: Path, plan: Plan, students: dict, calib: str) -> dict:
    from benchmarks.bench import bench, write_outputs

    docs = []
    for name in plan.students:
        ckpt = students["models"][name]["distilled"]["checkpoint"]
        targets = [t for t in plan.targets if (name, t) not in plan.skip]
        docs.append(bench(models=[name], targets=targets, weights=ckpt, data=calib, calib=calib, threads=None,
                          runs=plan.runs, warmup=2, out=folder / name, cache=folder / name / "artifacts",
                          progress=lambda m: print(m, file=sys.stderr)))
    merged = dict(docs[0], results=[r for d in docs for r in d["results"]],
                  command="edge-sdk demo (one bench per student, merged)")
    write_outputs(merged, folder)
    offline = []  # targets that cannot run here: produced and checked as far as this machine can
    for name in plan.students:
        artifacts = {r["target"]: r.get("artifact") for d in docs for r in d["results"] if r["model"] == name}
        if "coreml-fp16" in plan.targets:
            from export import export

            rec = export(name, weights=students["models"][name]["distilled"]["checkpoint"],
                         formats=[("coreml", "fp16")], out=folder / name / "offline")[0]
            offline.append({"model": name, "target": "coreml-fp16", "ok": rec["ok"], "bytes": rec.get("bytes"),
                            "path": rec.get("path"), "checked": "converted (mlprogram, fp16), manifest written; "
                            + (rec.get("parity") or {}).get("reason", "") if rec["ok"] else rec.get("error")})
        if "tensorrt-fp16" in plan.targets and artifacts.get("onnx-fp32"):
            offline.append({"model": name, "target": "tensorrt-fp16", **trt_check(Path(artifacts["onnx-fp32"]))})
    return {"bench": str(folder / "bench.json"), "markdown": str(folder / "bench.md"), "offline": offline,
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
    from export.tensorrt import check_onnx_for_tensorrt

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


def make_video(photo: Path, out: Path, frames: int, fake_from: float = 0.4, fake_to: float = 0.7) -> dict:
    """A short clip panning and zooming over a photo; frames in [fake_from, fake_to) of the clip have the face
    self-blended (a pseudo-fake segment). Returns the frame ranges."""
    import cv2
    import numpy as np

    from distill.augment import self_blend
    from edge_sdk.faces import FaceDetector
    from edge_sdk.preprocess import load_image

    rgb = load_image(photo)[..., :3]
    h, w = rgb.shape[:2]
    with FaceDetector() as det:
        faces = det.detect(rgb)
    if not faces:
        raise InputError(f"{photo}: no face found to make the demo video from")
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    pad = int(0.25 * (x1 - x0))
    fx0, fy0, fx1, fy1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    face = np.ascontiguousarray(rgb[fy0:fy1, fx0:fx1])
    s = min(face.shape[:2])
    kp = None
    blended = self_blend(cv2.resize(face, (s, s)), kp, np.random.default_rng(7))
    fake = rgb.copy()
    fake[fy0:fy1, fx0:fx1] = cv2.resize(blended, (fx1 - fx0, fy1 - fy0))
    size = (480, 360)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 12, size)
    start, stop = int(frames * fake_from), int(frames * fake_to)
    for k in range(frames):
        t = k / max(1, frames - 1)
        src = fake if start <= k < stop else rgb
        zoom = 1.0 + 0.25 * np.sin(np.pi * t)
        cw, ch = int(w / zoom), int(h / zoom)
        cx, cy = int((w - cw) * (0.3 + 0.4 * t)), int((h - ch) * 0.5)
        frame = cv2.resize(src[cy:cy + ch, cx:cx + cw], size, interpolation=cv2.INTER_AREA)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return {"video": str(out), "frames": frames, "fake_frames": [start, stop]}


def stage_detect(folder: Path, plan: Plan, artifact: str, photo: Path) -> dict:
    import cv2

    from edge_sdk.pipeline import detect

    clip = make_video(photo, folder / "demo_clip.mp4", plan.video_frames)
    records = detect([clip["video"]], artifact, json_out=folder / "detect.json", annotate=folder / "annotated",
                     progress=False, frames=plan.video_frames)
    rec = records[0]
    if not rec.get("ok", True) or rec.get("kind") == "error":
        raise InputError(f"detect on {clip['video']}: {rec.get('error')}")
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
    return {**clip, "artifact": artifact, "annotated": [str(p) for p in annotated], "stills": stills,
            "verdict": rec.get("verdict"), "score": rec.get("score"), "record": str(folder / "detect.json"),
            "frames_scored": len(rec["frames"]), "frames_without_face": len(rec.get("frames_without_face", [])),
            "per_frame": per_frame, "plot": str(plot)}


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


# ---------------------------------------------------------------------------------------------- driver
def run_demo(out: str | Path = "runs/demo", fast: bool = False, fresh: bool = False, faces=None, videos=None,
             progress=print) -> dict:
    from .report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = Plan.fast() if fast else Plan()
    stages = Stages(out, fresh, progress)
    t0 = time.perf_counter()
    n = 6
    data = stages.run(1, n, "data", lambda f: stage_data(f, plan, faces, videos))
    teacher = stages.run(2, n, "teacher", lambda f: stage_teacher(f, plan, data["index"]))
    students = stages.run(3, n, "students", lambda f: stage_students(f, plan, data["index"], teacher["checkpoint"]))
    calib = str(Path(data["index"]) / "crops")
    bench = stages.run(4, n, "bench", lambda f: stage_bench(f, plan, students, calib))
    artifact = (bench["artifacts"].get(plan.detect_model) or {}).get(plan.detect_target)
    if not artifact:
        raise InputError(f"demo: no {plan.detect_target} artifact of {plan.detect_model} to run detect with "
                         f"(see {bench['markdown']})")
    from distill.demo_data import packaged_photos

    photos = packaged_photos()
    photo = photos.get("grace_hopper") or next(iter(photos.values()))
    stages.run(5, n, "detect", lambda f: stage_detect(f, plan, artifact, photo))
    summary = {"plan": {k: v for k, v in plan.__dict__.items() if k != "skip"}, "fast": fast,
               "skipped": [f"{m} {t}: {why}" for (m, t), why in plan.skip.items() if m in plan.students],
               "stages": stages.results, "times": stages.times, "out": str(out)}
    summary["total_s"] = round(time.perf_counter() - t0, 1)  # this invocation (reused stages cost ~0)
    summary["stages_s"] = round(sum(stages.times.values()), 1)  # the stages' own times, whenever they ran
    progress("[demo 6/6] report ...")
    paths = write_report(summary, out)
    progress(f"[demo] done in {summary['total_s']:.0f} s: {paths['md']} and {paths['html']}")
    return {**summary, "report": paths}


def main(args) -> int:
    result = run_demo(args.out, fast=args.fast, fresh=args.fresh, faces=args.faces, videos=args.videos)
    print(json.dumps({"report": result["report"], "total_s": result["total_s"]}, indent=2))
    return 0
