"""``edge-sdk <verb>``: thin verbs over functions a Python user can call too."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import EdgeSDKError

# The CAM methods `edge-sdk explain` offers (edge_sdk.explain.METHODS; listed here to keep `--help` torch-free).
METHOD_NAMES = ("gradcam", "gradcam++", "hirescam", "gradcam-elementwise", "layercam", "eigengradcam", "xgradcam",
                "eigencam", "scorecam", "ablationcam")


def _zoo(args: argparse.Namespace) -> int:
    from edge_sdk.benchmarks.zoo import DEFAULT_MODELS, to_markdown, zoo_report

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else DEFAULT_MODELS
    entries = zoo_report(models, out_dir=args.out)
    print(to_markdown(entries))
    if args.out:
        print(f"\nwrote {args.out}/zoo.md and {args.out}/zoo.json")
    return 0


def _fetch_assets(args: argparse.Namespace) -> int:
    from .assets import fetch_assets

    for name, path in fetch_assets().items():
        print(f"{name}: {path}")
    return 0


def _detect(args: argparse.Namespace) -> int:
    import json

    from .pipeline import detect

    records = detect(args.paths, args.model, json_out=args.json, annotate=args.annotate, frames=args.frames, every=args.every, fps=args.fps,
                     strategy=args.aggregate, face_model=args.face_model, min_confidence=args.min_confidence,
                     threshold=args.threshold, progress=not args.quiet, explain=args.explain,
                     explain_model=args.explain_model, explain_weights=args.explain_weights)
    for r in records:
        line = {k: r.get(k) for k in ("path", "ok", "kind", "verdict", "score", "error") if r.get(k) is not None}
        print(json.dumps(line))
    failed = sum(not r["ok"] for r in records)
    if args.json:
        print(f"wrote {len(records)} records to {args.json}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(records)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _explain(args: argparse.Namespace) -> int:
    import json

    from .explain import explain

    records = explain(args.paths, args.model, out=args.out, weights=args.weights, method=args.method,
                      branch=args.branch, arch=args.arch, frames=args.frames, top=args.top, face_model=args.face_model,
                      min_confidence=args.min_confidence, sanity=args.sanity)
    for r in records:
        faces = [{"p_fake": round(f["p_fake"], 4), "overlay": f["overlay"]} for f in r.get("faces", [])]
        print(json.dumps({"path": r["path"], **({"error": r["error"]} if "error" in r else {"faces": faces})}))
    print(f"wrote {args.out}/index.html and {args.out}/explain.json", file=sys.stderr)
    return 1 if any("error" in r for r in records) else 0


def _prepare(args: argparse.Namespace) -> int:
    import json

    from edge_sdk.distill.prepare import prepare

    report = prepare(args.root, args.out, layout=args.layout, frames=args.frames, size=args.size, margin=args.margin,
                     split_dir=args.split_dir, compression=args.compression, val=args.val, test=args.test,
                     seed=args.seed, shard=args.shard, workers=args.workers, retry_failed=args.retry_failed,
                     index_only=args.index_only, face_model=args.face_model, progress=not args.quiet)
    print(json.dumps({k: v for k, v in report.items() if k != "errors"}, indent=2))
    for e in report["errors"][:20]:
        print(f"failed: {e['video']}: {e['error']}", file=sys.stderr)
    if report["identity_leaks"]:
        print(f"identity leak across splits: {', '.join(report['identity_leaks'][:10])}", file=sys.stderr)
    return 1 if report["errors"] or report["identity_leaks"] else 0


def _step_progress(verb: str, stream=None):
    """Training progress on stderr: every validation and the teacher's scoring, and a step line whenever the
    percentage changes (at most ~100 per run in a log file); on a terminal the step line updates in place."""
    from .console import StatusLines

    lines, last = StatusLines(stream or sys.stderr), [-1]

    def show(done: int, total: int, message: str) -> None:
        pct = int(100 * done / max(1, total))
        step = "step" in message and "validated" not in message
        if step and pct == last[0] and not lines.tty:
            return
        last[0] = pct
        lines.write(f"[{verb} {pct:3d}%] {message}", transient=step)
    return show


def _train(args: argparse.Namespace) -> int:
    import json

    from edge_sdk.distill.train import TrainConfig, train

    overrides = {k: getattr(args, k) for k in ("model", "index", "out", "epochs", "batch_size", "lr", "weight_decay",
                                                "img_size", "pseudo_fakes", "steps_per_epoch", "seed", "workers",
                                                "weights", "patience", "mixup", "augment")}
    if args.verb == "distill":
        overrides.update(model=args.student, teacher=args.teacher, teacher_model=args.teacher_model, alpha=args.alpha,
                         tau=args.tau, cache_dir=args.cache_dir, teacher_mode=args.teacher_mode,
                         feature_weight=args.feature_weight)
    cfg = TrainConfig.from_recipe(args.recipe, **overrides)
    if args.verb == "distill" and args.baseline:
        from edge_sdk.distill.train import distill_with_baseline

        report = distill_with_baseline(cfg, resume=args.resume, progress=_step_progress(args.verb))
        print(json.dumps(report, indent=2, default=float))
        return 0
    result = train(cfg, resume=args.resume, progress=_step_progress(args.verb))
    print(json.dumps(result["best"], indent=2, default=float))
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from edge_sdk.distill.evaluate import evaluate

    report = evaluate(args.model, args.index, split=args.split, out=args.out, threshold=args.threshold,
                      choose_threshold=args.choose_threshold, img_size=args.img_size, model_name=args.arch)
    print(json.dumps(report, indent=2))
    return 0


def _camera(args: argparse.Namespace) -> int:
    import json

    from .stream import run_stream

    if args.out is None and not args.show and args.jsonl is None:
        raise EdgeSDKError("camera: nothing to show or write: give --show, --out FILE.mp4 or --jsonl FILE")
    summary = run_stream(args.source, args.model, out=args.out, show=args.show, jsonl=args.jsonl,
                         live={"auto": None, "yes": True, "no": False}[args.live], max_frames=args.max_frames,
                         smooth=args.smooth, face_model=args.face_model, min_confidence=args.min_confidence,
                         threshold=args.threshold, stall_timeout=args.stall_timeout, stall_limit=args.stall_limit,
                         progress=not args.quiet)
    if not args.quiet:
        print(file=sys.stderr)
    print(json.dumps(summary, indent=2))
    print(f"edge-sdk camera: {summary['message']}", file=sys.stderr)
    return 1 if summary["status"] in ("stalled", "failed") else 0


def _export(args: argparse.Namespace) -> int:
    import json

    from edge_sdk.export import ExportOptions, export, to_markdown

    opts = ExportOptions(dynamic_batch=args.dynamic_batch, opset=args.opset, calib_method=args.calib_method,
                         keep_float=tuple(args.keep_float or ()), palettize_bits=args.palettize_bits,
                         image_input=args.image_input, simplify=not args.no_simplify, trt_ops_table=args.trt_ops_table)
    records = export(args.model, target=args.target, precision=args.precision, out=args.out, weights=args.weights,
                     calib=args.calib, calib_size=args.calib_size, verify_data=args.verify_data,
                     normalize_in_model=args.normalize_in_model, threshold=args.threshold, options=opts)
    print(to_markdown(records))
    if args.json:
        from .fileio import write_atomic

        write_atomic(args.json, json.dumps(records, indent=2, default=str) + "\n")
    bad = [r for r in records if not r["ok"] or r["parity"].get("status") == "failed"]
    return 1 if bad else 0


def _verify(args: argparse.Namespace) -> int:
    import json

    from edge_sdk.export import verify

    r = verify(args.artifact, args.data, weights=args.weights, limit=args.limit, write=not args.no_write)
    print(json.dumps({k: v for k, v in r.items() if k != "data"}, indent=2))
    if not r["passed"]:
        print(f"edge-sdk verify: {args.artifact} FAILED: {'; '.join(r['failures'])}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from edge_sdk.benchmarks.demo import main as demo_main

    return demo_main(args)


def _bench(args: argparse.Namespace) -> int:
    from edge_sdk.benchmarks.bench import main as bench_main

    return bench_main(args)


def _build_engine(args: argparse.Namespace) -> int:
    from edge_sdk.export.tensorrt import main_build_engine

    return main_build_engine(args.rest)


def _runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="artifact (.onnx, .pte, .engine, .mlpackage, .pt) with its manifest")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the manifest's)")
    p.add_argument("--min-confidence", type=float, default=0.5, help="face detector minimum confidence")
    p.add_argument("--face-model", default=None, help="BlazeFace .tflite (default: cache / EDGE_SDK_FACE_MODEL)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-sdk", description="Deepfake detectors from training to the edge.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edge-sdk {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    dm = verbs.add_parser("demo", help="the whole flow on embedded face photos: data, teacher, students, export, bench, "
                                       "detect, and runs/demo/report.html", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    dm.add_argument("--out", default="runs/demo", help="stages, artifacts and report.md / report.html")
    dm.add_argument("--fast", action="store_true", help="the 2-minute smoke version (one student, ONNX only)")
    dm.add_argument("--fresh", action="store_true", help="redo every stage instead of reusing finished ones")
    dm.add_argument("--teacher", choices=("b5", "clip"), default="b5",
                    help="b5: MS-Eff-GCViT B5 on crops; clip: the frozen-CLIP video teacher on clips")
    dm.add_argument("--all-targets", action="store_true",
                    help="also B0's ExecuTorch int8 export (about 3 more minutes on 2 cores)")
    dm.add_argument("--verbose", action="store_true",
                    help="show every stage's log on the console (default: in runs/demo/<stage>/log.txt)")
    dm.add_argument("--faces", default=None, help="a folder of your own real face photos (one person per sub-folder)")
    dm.add_argument("--videos", default=None, help="a folder of your own real face videos")
    dm.set_defaults(func=_demo)

    zoo = verbs.add_parser("zoo", help="params, MACs/FLOPs and parameter split per model",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    zoo.add_argument("--models", default=None,
                     help="comma-separated model names (default: ms_eff_gcvit_b0,ms_eff_gcvit_b5,repvit_m0_9,"
                          "repvit_m1_1,clip_fcg_vit_b16)")
    zoo.add_argument("--out", default=None, help="folder for zoo.md and zoo.json")
    zoo.set_defaults(func=_zoo)

    fa = verbs.add_parser("fetch-assets", help="fetch the BlazeFace face model into the cache ($EDGE_SDK_HOME)")
    fa.set_defaults(func=_fetch_assets)

    det = verbs.add_parser("detect", help="score images, videos and folders with an exported artifact",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    det.add_argument("paths", nargs="+", help="images, videos or folders (searched recursively)")
    _runtime_options(det)
    det.add_argument("--json", default=None, help="write all records to this JSON file")
    det.add_argument("--annotate", default=None, metavar="DIR",
                     help="write annotated copies here: images as .jpg, videos' sampled frames as .mp4")
    det.add_argument("--explain", default=None, metavar="DIR",
                     help="also write heatmaps per face here (PyTorch model: the artifact's recorded checkpoint)")
    det.add_argument("--explain-model", default=None, help="for --explain: zoo name or checkpoint instead")
    det.add_argument("--explain-weights", default=None, help="for --explain: checkpoint of the artifact's model")
    det.add_argument("--frames", type=int, default=32, help="frames sampled uniformly per video")
    det.add_argument("--every", type=int, default=None, help="instead: every k-th frame")
    det.add_argument("--fps", type=float, default=None, help="instead: frames at this rate")
    det.add_argument("--aggregate", default="confident", choices=["mean", "vote", "confident"])
    det.set_defaults(func=_detect)

    pr = verbs.add_parser("prepare", help="face crops + index from FF++ / Celeb-DF / KoDF / real-fake trees / CSV",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    pr.add_argument("root", help="dataset folder (layout detected) or a CSV with path,label[,split,identity,method]")
    pr.add_argument("--out", required=True, help="crops/, videos/ (one record per video), index.csv, prepare.json")
    pr.add_argument("--layout", default="auto", choices=["auto", "ffpp", "celebdf", "kodf", "generic", "csv"])
    pr.add_argument("--frames", type=int, default=20, help="frames per video (uniform with seeded jitter)")
    pr.add_argument("--size", type=int, default=384, help="crop size in pixels (train at any size up to it)")
    pr.add_argument("--margin", type=float, default=None, help="margin around the face box per side (default 0.2)")
    pr.add_argument("--split-dir", default=None, help="FaceForensics++ official split folder (train/val/test.json)")
    pr.add_argument("--compression", default=None, help="FaceForensics++ compression to take (raw, c23, c40)")
    pr.add_argument("--val", type=float, default=0.1, help="share of identity groups for validation")
    pr.add_argument("--test", type=float, default=0.1, help="share of identity groups for test")
    pr.add_argument("--seed", type=int, default=0, help="split seed")
    pr.add_argument("--shard", default=None, metavar="I/N", help="process only every N-th video from the I-th")
    pr.add_argument("--workers", type=int, default=1, help="processes")
    pr.add_argument("--retry-failed", action="store_true", help="process videos whose earlier attempt failed")
    pr.add_argument("--index-only", action="store_true", help="only rebuild index.csv and prepare.json")
    pr.add_argument("--face-model", default=None, help="BlazeFace .tflite (default: cache / EDGE_SDK_FACE_MODEL)")
    pr.add_argument("--quiet", action="store_true")
    pr.set_defaults(func=_prepare)

    for verb in ("train", "distill"):
        helps = {"train": "train a teacher (or any zoo model) on an index made by prepare; torchrun for many GPUs",
                 "distill": "train a student from a teacher checkpoint (soft targets, RepViT distillation head)"}
        tr = verbs.add_parser(verb, help=helps[verb], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        tr.add_argument("--index", required=True, help="folder with index.csv (edge-sdk prepare)")
        if verb == "train":
            tr.add_argument("--model", default=None, help="zoo name (default: the recipe's)")
        else:
            tr.add_argument("--teacher", required=True, help="teacher checkpoint (best.pt of edge-sdk train)")
            tr.add_argument("--teacher-model", default=None, help="zoo name of the teacher (default: read from it)")
            tr.add_argument("--student", required=True, help="ms_eff_gcvit_b0, repvit_m0_9, repvit_m1_1, ...")
            tr.add_argument("--alpha", type=float, default=None, help="weight of the soft-target loss")
            tr.add_argument("--tau", type=float, default=None, help="temperature")
            tr.add_argument("--cache-dir", default=None, help="teacher-logit cache (default: OUT/teacher_cache)")
            tr.add_argument("--teacher-mode", default=None, choices=["cached", "online"],
                            help="cached: teacher logits of the stored crops, computed once (self-blends and mixups "
                                 "scored in the batch); online: the teacher on every batch as the student sees it")
            tr.add_argument("--feature-weight", type=float, default=None,
                            help="feature matching: weight of 1 - cos(projected student pre-logits, teacher's); "
                                 "runs the teacher online")
            tr.add_argument("--baseline", action="store_true",
                            help="also train the same student without the teacher (same data, steps, seed) into "
                                 "OUT/baseline and write OUT/comparison.json with teacher, distilled, plain AUC")
            tr.set_defaults(model=None)
        tr.add_argument("--recipe", default={"train": "deepguard_b5", "distill": "student"}[verb],
                        help="built-in name (deepguard_b0, deepguard_b5, student) or a YAML file")
        tr.add_argument("--out", required=True, help="checkpoints (last.pt, best.pt), metrics.csv/json, config.json")
        tr.add_argument("--epochs", type=int, default=None)
        tr.add_argument("--batch-size", type=int, default=None)
        tr.add_argument("--lr", type=float, default=None, help="learning rate of a single-group model")
        tr.add_argument("--weight-decay", type=float, default=None)
        tr.add_argument("--img-size", type=int, default=None, help="input size (models that take any)")
        tr.add_argument("--pseudo-fakes", default=None, choices=["sbi"], help="self-blended fakes from real crops")
        tr.add_argument("--mixup", type=float, default=None, help="probability of paired mixup (a real with its fake)")
        tr.add_argument("--augment", type=float, default=None, help="augmentation strength (0: none)")
        tr.add_argument("--steps-per-epoch", type=int, default=None)
        tr.add_argument("--patience", type=int, default=None, help="early stopping on validation loss")
        tr.add_argument("--weights", default=None, help="initial weights")
        tr.add_argument("--seed", type=int, default=None)
        tr.add_argument("--workers", type=int, default=None, help="data-loading processes")
        tr.add_argument("--resume", action="store_true", help="continue from OUT/last.pt exactly")
        tr.set_defaults(func=_train)

    ev = verbs.add_parser("eval", help="frame/video AUC, accuracy, EER, AP, log loss, ROC of a checkpoint on indexes",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ev.add_argument("--model", required=True, help="checkpoint (best.pt of edge-sdk train / distill)")
    ev.add_argument("--arch", default=None, help="zoo name when the checkpoint does not record it")
    ev.add_argument("--index", action="append", required=True, help="index folder; repeat for cross-dataset")
    ev.add_argument("--split", default="test")
    ev.add_argument("--threshold", type=float, default=None, help="default: the checkpoint's (chosen on val)")
    ev.add_argument("--choose-threshold", action="store_true", help="pick it on the first index's val split")
    ev.add_argument("--img-size", type=int, default=None)
    ev.add_argument("--out", default="runs/eval", help="eval.json, roc_<index>.png, threshold.json")
    ev.set_defaults(func=_eval)

    xp = verbs.add_parser("explain", help="class-activation heatmaps of P(fake) per face and branch (PyTorch model)",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    xp.add_argument("paths", nargs="+", help="images, videos or folders")
    xp.add_argument("--model", required=True,
                    help="zoo name, checkpoint (DeepGuard's are recognised; else give --arch), or an exported artifact "
                         "whose manifest records its checkpoint")
    xp.add_argument("--weights", default=None, help="checkpoint for a zoo name or an exported artifact")
    xp.add_argument("--arch", default=None, help="zoo name of a plain checkpoint given as --model")
    xp.add_argument("--branch", default=None, choices=["low", "high", "backbone", "last"],
                    help="MS-Eff-GCViT: low, high (default) or backbone; RepViT: last")
    xp.add_argument("--method", default=None, choices=sorted(METHOD_NAMES),
                    help="CAM method (default: hirescam for low, gradcam++ for high, gradcam otherwise)")
    xp.add_argument("--frames", type=int, default=16, help="frames sampled per video")
    xp.add_argument("--top", type=int, default=4, help="most suspicious frames explained per video")
    xp.add_argument("--sanity", action="store_true",
                    help="also report the model-randomisation check (correlation with a random-head model's maps)")
    xp.add_argument("--min-confidence", type=float, default=0.5, help="face detector minimum confidence")
    xp.add_argument("--face-model", default=None, help="BlazeFace .tflite (default: cache / EDGE_SDK_FACE_MODEL)")
    xp.add_argument("--out", default="runs/explain", help="PNGs per input, index.html and explain.json go here")
    xp.set_defaults(func=_explain)

    cam = verbs.add_parser("camera", help="score a camera, stream or video live, with an overlay or an annotated video",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cam.add_argument("--source", default="0",
                     help="camera index, video file, rtsp:// or http:// URL, GStreamer pipeline, or csi://N (Jetson)")
    _runtime_options(cam)
    cam.add_argument("--show", action="store_true", help="show frames with the overlay in a window (q or Esc stops)")
    cam.add_argument("--out", default=None, help="headless: write the annotated video here (.mp4)")
    cam.add_argument("--jsonl", default=None, help="write one JSON line per processed frame here")
    cam.add_argument("--live", default="auto", choices=["auto", "yes", "no"],
                     help="yes: keep only the newest frame (drop stale ones); no: every frame; auto: yes except files")
    cam.add_argument("--max-frames", type=int, default=None, help="stop after this many processed frames")
    cam.add_argument("--smooth", type=float, default=0.3, help="EMA weight of the newest P(fake) per tracked face")
    cam.add_argument("--stall-timeout", type=float, default=5.0, help="warn after this many seconds without a frame")
    cam.add_argument("--stall-limit", type=float, default=30.0, help="give up after this many seconds without a frame")
    cam.set_defaults(func=_camera)

    ex = verbs.add_parser("export", help="export a model to ONNX / ExecuTorch / Core ML / TensorRT with manifest and parity",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ex.add_argument("--model", required=True, help="zoo name, e.g. ms_eff_gcvit_b0 or repvit_m0_9")
    ex.add_argument("--weights", default=None, help="checkpoint for the model (default: random init, for trials)")
    ex.add_argument("--target", default="onnx",
                    help="onnx, executorch, executorch-coreml, coreml, tensorrt, or all")
    ex.add_argument("--precision", default=None,
                    help="fp32, fp16, int8, palettized or w8a8 (default: every precision the target has)")
    ex.add_argument("--calib", default=None, help="folder of face images or videos for calibration (or 'random')")
    ex.add_argument("--calib-size", type=int, default=512, help="most calibration crops")
    ex.add_argument("--calib-method", default="minmax", choices=["minmax", "entropy", "percentile"],
                    help="ONNX int8 calibration")
    ex.add_argument("--keep-float", action="append", metavar="PATTERN",
                    help="ONNX int8: keep nodes whose name or op type matches this glob in float (repeatable)")
    ex.add_argument("--verify-data", default=None, help="face images/videos for the parity check (default: --calib)")
    ex.add_argument("--dynamic-batch", action="store_true", help="ONNX: dynamic batch dimension (default: static 1)")
    ex.add_argument("--opset", type=int, default=18)
    ex.add_argument("--normalize-in-model", action="store_true",
                    help="bake mean/std into the graph: the artifact takes 0-1 RGB")
    ex.add_argument("--image-input", action="store_true", help="Core ML: image input with scale/bias from the crop spec")
    ex.add_argument("--palettize-bits", type=int, default=6, choices=[4, 6, 8])
    ex.add_argument("--no-simplify", action="store_true", help="ONNX: skip onnxslim")
    ex.add_argument("--trt-ops-table", default=None, help="TensorRT ONNX operator table CSV for the offline check")
    ex.add_argument("--threshold", type=float, default=0.5, help="decision threshold written to the manifest")
    ex.add_argument("--out", default="artifacts", help="folder; each format goes to <out>/<target>-<precision>/")
    ex.add_argument("--json", default=None, help="also write the records as JSON here")
    ex.set_defaults(func=_export)

    ve = verbs.add_parser("verify", help="parity of an artifact against its PyTorch model on face crops",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ve.add_argument("artifact")
    ve.add_argument("--data", required=True, help="face images/videos; real/ and fake/ subfolders give AUC")
    ve.add_argument("--weights", default=None, help="the checkpoint it was exported from (default: the manifest's)")
    ve.add_argument("--limit", type=int, default=256, help="most crops")
    ve.add_argument("--no-write", action="store_true", help="do not store the result in the manifest")
    ve.set_defaults(func=_verify)

    bn = verbs.add_parser("bench", help="FLOPs, size, latency, memory and parity per model x target; CI regression gate",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bn.add_argument("--models", default=None, help="comma-separated zoo names (default: ms_eff_gcvit_b0,repvit_m0_9,"
                                                   "repvit_m1_1)")
    bn.add_argument("--targets", default=None,
                    help="comma-separated: torch, onnx-fp32, onnx-fp16, onnx-int8, executorch-fp32, executorch-int8, "
                         "executorch-coreml-fp16, coreml-fp16|fp32|int8|palettized|w8a8, tensorrt-fp16|int8, or all "
                         "(default: torch, onnx x3, executorch x2, coreml-fp16, tensorrt x2)")
    bn.add_argument("--threads", type=int, default=None, help="pin each measurement to this many cores and threads "
                                                               "(default: every core, each runtime's own thread count)")
    bn.add_argument("--batch", type=int, default=1)
    bn.add_argument("--warmup", type=int, default=10, help="untimed runs before timing")
    bn.add_argument("--runs", type=int, default=100, help="timed runs per target")
    bn.add_argument("--data", default=None,
                    help="face images/videos: inputs and parity crops; real/ and fake/ subfolders add accuracy and AUC")
    bn.add_argument("--data-limit", type=int, default=64, help="most crops taken from --data")
    bn.add_argument("--calib", default=None, help="calibration data for int8 targets (default: --data; or 'random')")
    bn.add_argument("--calib-size", type=int, default=64)
    bn.add_argument("--weights", default=None, help="checkpoint (with exactly one --models entry)")
    bn.add_argument("--seed", type=int, default=0, help="random-init seed when no --weights")
    bn.add_argument("--e2e", default=None, metavar="VIDEO", help="also frames/s of the whole pipeline on this video")
    bn.add_argument("--e2e-target", default="onnx-fp32", help="artifact used for --e2e (else the first that ran)")
    bn.add_argument("--trt-ops-table", default=None, help="TensorRT ONNX operator table CSV for the offline check")
    bn.add_argument("--out", default="runs/bench", help="bench.json, bench.md and plots go here")
    bn.add_argument("--cache", default=None, help="exported artifacts are kept and reused here (default: OUT/artifacts)")
    bn.add_argument("--baseline", default=None, help="earlier bench.json to gate against (exit 1 on a regression)")
    bn.add_argument("--max-regression", type=float, default=0.20, help="allowed slow-down of p50 / reference")
    bn.add_argument("--reference", default="torch", choices=["torch", "probe"],
                    help="what times are divided by before comparing (probe where a run has no torch row)")
    bn.add_argument("--gate", default="all", choices=["all", "parity", "speed"], help="what the gate fails on")
    bn.add_argument("--parity-slack", type=float, default=1.0, help="allowed growth of max |d logit| (1.0 = x2)")
    bn.add_argument("--write-baseline", default=None, metavar="FILE", help="save this run as a baseline")
    bn.set_defaults(func=_bench)

    be = verbs.add_parser("build-engine", help="build a TensorRT engine from an ONNX file (on the device)", add_help=False)
    be.add_argument("rest", nargs=argparse.REMAINDER)
    be.set_defaults(func=_build_engine)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv[1:]
    try:
        return args.func(args)
    except EdgeSDKError as err:
        print(f"edge-sdk {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
