"""``edge-sdk <verb>``: thin verbs over functions a Python user can call too.

Each verb's options are one typed dataclass (``edge_sdk.config``, ``edge_sdk.export.config``,
``edge_sdk.distill.config``, ``edge_sdk.benchmarks.config``); the command line is generated from it with tyro
(help from the fields' docstrings, every default shown once, typos answered with the closest option). Any verb
takes ``--config FILE.yaml`` whose values become the defaults; ``train`` and ``distill`` take ``--recipe``.
Third-party log lines go to a log file unless ``--verbose``.
"""

from __future__ import annotations

import sys
from dataclasses import MISSING, fields
from importlib import import_module

from . import __version__
from .errors import EdgeSDKError, InputError

# verb -> (config class "module:Class", one-line help); the classes are imported only for the verb being run
VERBS = {
    "demo": ("edge_sdk.benchmarks.config:DemoConfig", "the whole flow on packaged face photos, with a report"),
    "zoo": ("edge_sdk.benchmarks.config:ZooConfig", "params, MACs/FLOPs and parameter split per model"),
    "fetch-assets": ("edge_sdk.config:FetchAssetsConfig", "fetch the BlazeFace face model into the cache"),
    "prepare": ("edge_sdk.distill.config:PrepareConfig", "face crops + index from FF++ / Celeb-DF / KoDF / trees / CSV"),
    "train": ("edge_sdk.distill.config:TrainArgs", "train a teacher (or any zoo model) on an index"),
    "distill": ("edge_sdk.distill.config:DistillArgs", "train a student from a teacher checkpoint"),
    "eval": ("edge_sdk.distill.config:EvalConfig", "frame/video metrics of a checkpoint on one or more indexes"),
    "detect": ("edge_sdk.config:DetectConfig", "score images, videos and folders with an exported artifact"),
    "explain": ("edge_sdk.config:ExplainConfig", "class-activation heatmaps of P(fake) per face (PyTorch model)"),
    "camera": ("edge_sdk.config:CameraConfig", "score a camera, stream or video live"),
    "export": ("edge_sdk.export.config:ExportConfig", "export a model to the targets, with manifests and parity"),
    "verify": ("edge_sdk.export.config:VerifyConfig", "parity of an artifact against its PyTorch model"),
    "build-engine": ("edge_sdk.export.config:BuildEngineConfig", "build a TensorRT engine from an ONNX file"),
    "bench": ("edge_sdk.benchmarks.config:BenchConfig", "FLOPs, size, latency, memory and parity per target; CI gate"),
}


def config_class(verb: str):
    module, _, name = VERBS[verb][0].partition(":")
    return getattr(import_module(module), name)


def _pop_option(argv: list[str], name: str) -> tuple[str | None, list[str]]:
    """``--name VALUE`` or ``--name=VALUE`` taken out of ``argv``."""
    out, value, i = [], None, 0
    while i < len(argv):
        a = argv[i]
        if a == name and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
            continue
        if a.startswith(name + "="):
            value, i = a.split("=", 1)[1], i + 1
            continue
        out.append(a)
        i += 1
    return value, out


def _defaults(cls, argv: list[str], verb: str) -> tuple[dict, list[str]]:
    """Values from ``--config FILE.yaml`` (any verb) and ``--recipe`` (train/distill), which become defaults."""
    values: dict = {}
    config, argv = _pop_option(argv, "--config")
    if config:
        import yaml
        from pathlib import Path

        p = Path(config)
        if not p.is_file():
            raise InputError(f"--config {config}: no such file")
        values = yaml.safe_load(p.read_text()) or {}
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"--config {config}: unknown keys {', '.join(sorted(unknown))} for {verb}")
    if verb in ("train", "distill"):
        recipe, argv = _pop_option(argv, "--recipe")
        recipe = recipe or next(f.default for f in fields(cls) if f.name == "recipe")
        values = {**cls.recipe_values(recipe), **values, "recipe": recipe}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, argv


def parse(argv: list[str]):
    """``[verb, *options]`` -> (verb, config instance); ``--help`` prints the verb's help and exits."""
    import tyro

    if not argv or argv[0] in ("-h", "--help"):
        print(top_help())
        raise SystemExit(0)
    if argv[0] == "--version":
        print(f"edge-sdk {__version__}")
        raise SystemExit(0)
    verb, rest = argv[0], list(argv[1:])
    if verb not in VERBS:
        import difflib

        close = difflib.get_close_matches(verb, list(VERBS), n=1)
        raise InputError(f"unknown verb {verb!r}{f' (did you mean {close[0]!r}?)' if close else ''}: choose one of "
                         f"{', '.join(VERBS)}")
    cls = config_class(verb)
    values, rest = _defaults(cls, rest, verb)
    default = None
    if values:  # the file's values as defaults; the command line still overrides, and validation runs on the result
        default = cls.__new__(cls)
        for f in fields(cls):
            if f.name in values:
                v = values[f.name]
            elif f.default is not MISSING:
                v = f.default
            elif f.default_factory is not MISSING:
                v = f.default_factory()
            else:
                v = tyro.MISSING  # still required on the command line
            object.__setattr__(default, f.name, v)
    cfg = tyro.cli(cls, args=rest, prog=f"edge-sdk {verb}", default=default, config=(tyro.conf.FlagCreatePairsOff,))
    return verb, cfg


def top_help() -> str:
    width = max(len(v) for v in VERBS)
    lines = [f"edge-sdk {__version__}: deepfake detectors from training to the edge.", "",
             "usage: edge-sdk VERB [options]    (edge-sdk VERB --help for its options)", "", "verbs:"]
    lines += [f"  {v:<{width}}  {h}" for v, (_, h) in VERBS.items()]
    lines += ["", "Every verb takes --config FILE.yaml (its values become the defaults); train and distill take --recipe."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the verbs
def _zoo(cfg) -> int:
    from .benchmarks.zoo import DEFAULT_MODELS, to_markdown, zoo_report

    command = "edge-sdk zoo" + (f" --models {','.join(cfg.models)}" if cfg.models else "") + \
        (f" --out {cfg.out}" if cfg.out else "")
    entries = zoo_report(list(cfg.models) or DEFAULT_MODELS, out_dir=cfg.out, command=command)
    print(to_markdown(entries))
    if cfg.out:
        print(f"\nwrote {cfg.out}/zoo.md and {cfg.out}/zoo.json")
    return 0


def _fetch_assets(cfg) -> int:
    from .assets import fetch_assets

    for name, path in fetch_assets().items():
        print(f"{name}: {path}")
    return 0


def _random_warning(what: str) -> None:
    print(f"edge-sdk: {what} has random weights (no checkpoint): its scores and verdicts mean nothing", file=sys.stderr)


def _detect(cfg) -> int:
    from .fileio import to_json
    from .pipeline import detect_run

    tick = None
    if not cfg.quiet:
        from .console import StatusLines

        lines = StatusLines(sys.stderr)

        def tick(done, total, msg):  # per frame on a terminal (one updating line), per input in a log
            if lines.tty or ": frame " not in msg:
                lines.write(f"[detect {100 * done / max(1, total):3.0f}%] {int(done)}/{total} {msg}", transient=True)
    run = detect_run(cfg.paths, cfg.model, json_out=cfg.json, jsonl=cfg.jsonl, annotate=cfg.annotate, progress=tick,
                     resume=cfg.resume, shard=cfg.shard, frames=cfg.frames, every=cfg.every, fps=cfg.fps,
                     strategy=cfg.aggregate, batch_frames=cfg.batch_frames, face_model=cfg.face_model,
                     min_confidence=cfg.min_confidence, threshold=cfg.threshold, min_valid=cfg.min_valid)
    if cfg.explain is not None:
        from .explain import add_explanations

        add_explanations(run.records, cfg.explain, cfg.explain_model or cfg.model, cfg.explain_weights,
                         face_model=cfg.face_model, min_confidence=cfg.min_confidence)
        if cfg.json:
            from .fileio import write_atomic

            write_atomic(cfg.json, to_json(run.records, indent=2) + "\n")
    for r in run.records:
        line = {k: r.get(k) for k in ("path", "ok", "kind", "verdict", "score", "error", "trained")
                if r.get(k) is not None}
        print(to_json(line))
    summary = run.summary()
    print(to_json({"summary": summary}))
    if not run.trained:
        _random_warning(cfg.model)
    if cfg.json:
        print(f"wrote {len(run.records)} records to {cfg.json}", file=sys.stderr)
    if summary.get("not_media"):
        print(f"edge-sdk detect: {summary['not_media']}", file=sys.stderr)
    if run.interrupted:
        print(f"edge-sdk detect: interrupted after {summary['scored'] + summary['failed']} inputs; the records so far "
              f"are written{'; --resume continues' if run.jsonl else ''}", file=sys.stderr)
        return 130
    if summary["failed"]:
        print(f"{summary['failed']} of {summary['inputs']} inputs failed", file=sys.stderr)
    if summary["scored"] == 0:
        print("edge-sdk detect: nothing was scored", file=sys.stderr)
        return 1
    return 1 if summary["failed"] else 0


def _explain(cfg) -> int:
    from .explain import explain
    from .fileio import to_json

    records = explain(cfg.paths, cfg.model, out=cfg.out, weights=cfg.weights, method=cfg.method, branch=cfg.branch,
                      arch=cfg.arch, frames=cfg.frames, top=cfg.top, face_model=cfg.face_model,
                      min_confidence=cfg.min_confidence, sanity=cfg.sanity, progress=not cfg.quiet)
    for r in records:
        faces = [{"p_fake": round(f["p_fake"], 4), "overlay": f["overlay"]} for f in r.get("faces", [])]
        print(to_json({"path": r["path"], **({"error": r["error"]} if "error" in r else {"faces": faces})}))
    print(f"wrote {cfg.out}/index.html and {cfg.out}/explain.json", file=sys.stderr)
    return 1 if any("error" in r for r in records) else 0


def _prepare(cfg) -> int:
    from .distill.prepare import prepare
    from .fileio import to_json

    try:
        report = prepare(cfg.root, cfg.out, layout=cfg.layout, frames=cfg.frames, size=cfg.size, margin=cfg.margin,
                         align=cfg.align,
                         split_dir=cfg.split_dir, compression=cfg.compression, val=cfg.val, test=cfg.test,
                         seed=cfg.seed, shard=cfg.shard, workers=cfg.workers, retry_failed=cfg.retry_failed,
                         index_only=cfg.index_only, face_model=cfg.face_model, progress=not cfg.quiet,
                         force=cfg.force)
    except KeyboardInterrupt:
        print(f"edge-sdk prepare: interrupted; finished videos are kept in {cfg.out} and a re-run continues",
              file=sys.stderr)
        return 130
    print(to_json({k: v for k, v in report.items() if k != "errors"}, indent=2))
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


def _train(cfg) -> int:
    from .distill.config import TrainConfig
    from .distill.train import distill_with_baseline, train
    from .fileio import to_json

    run_cfg = TrainConfig(**{f.name: getattr(cfg, f.name) for f in fields(TrainConfig)})
    verb = "distill" if cfg.teacher else "train"
    if getattr(cfg, "baseline", False):
        report = distill_with_baseline(run_cfg, resume=cfg.resume, progress=_step_progress(verb))
        print(to_json(report, indent=2, default=float))
        return 0
    result = train(run_cfg, resume=cfg.resume, progress=_step_progress(verb))
    print(to_json(result["best"], indent=2, default=float))
    return 0


def _eval(cfg) -> int:
    from .distill.evaluate import evaluate
    from .fileio import to_json

    report = evaluate(cfg.model, list(cfg.index), split=cfg.split, out=cfg.out, threshold=cfg.threshold,
                      choose_threshold=cfg.choose_threshold, img_size=cfg.img_size, model_name=cfg.arch)
    from .distill.evaluate import to_markdown

    print(to_markdown(report), file=sys.stderr)  # in-domain vs cross-dataset, side by side; stdout stays JSON
    print(to_json(report, indent=2))
    return 0


def _camera(cfg) -> int:
    from .fileio import to_json
    from .stream import run_stream

    if cfg.out is None and not cfg.show and cfg.jsonl is None:
        raise InputError("camera: nothing to show or write: give --show, --out FILE.mp4 or --jsonl FILE")
    summary = run_stream(cfg.source, cfg.model, out=cfg.out, show=cfg.show, jsonl=cfg.jsonl,
                         live={"auto": None, "yes": True, "no": False}[cfg.live], max_frames=cfg.max_frames,
                         smooth=cfg.smooth, face_model=cfg.face_model, min_confidence=cfg.min_confidence,
                         threshold=cfg.threshold, stall_timeout=cfg.stall_timeout, stall_limit=cfg.stall_limit,
                         progress=not cfg.quiet, min_valid=cfg.min_valid, detect_every=cfg.detect_every)
    if not cfg.quiet:
        print(file=sys.stderr)
    print(to_json(summary, indent=2))
    print(f"edge-sdk camera: {summary['message']}", file=sys.stderr)
    if summary.get("trained") is False:
        _random_warning(cfg.model)
    return 1 if summary["status"] in ("stalled", "failed") else 0


def _export(cfg) -> int:
    from .export.exporter import export, to_markdown
    from .fileio import to_json

    records = export(cfg=cfg)
    print(to_markdown(records))
    if cfg.json:
        from .fileio import write_atomic

        write_atomic(cfg.json, to_json(records, indent=2, default=str) + "\n")
    bad = [r for r in records if not r["ok"] or r["parity"].get("status") == "failed"]
    return 1 if bad else 0


def _verify(cfg) -> int:
    from .export.verify import verify
    from .fileio import to_json

    r = verify(cfg.artifact, cfg.data, weights=cfg.weights, limit=cfg.limit, record=cfg.record, localize=cfg.localize,
               tol=cfg.tol)
    print(to_json({k: v for k, v in r.items() if k != "data"}, indent=2, default=str))
    loc = r.get("localize")
    if loc is not None:
        first = loc["first"]
        where = "no intermediate output departs" if first is None else (
            f"first departure at {first.get('node') or first.get('runtime_op')} "
            f"({first.get('op') or ', '.join(first.get('modules') or first.get('ops', []))}): "
            f"relative gap {first['rel']:.3g}, max |delta| {first['max_abs']:.3g}")
        print(f"edge-sdk verify --localize: {where} (tolerance {loc['tol']:g}, {loc['compared']} outputs compared)",
              file=sys.stderr)
    if not r["passed"]:
        print(f"edge-sdk verify: {cfg.artifact} FAILED: {'; '.join(r['failures'])}", file=sys.stderr)
        return 1
    return 0


def _demo(cfg) -> int:
    from .benchmarks.demo import main as demo_main

    return demo_main(cfg)


def _bench(cfg, argv) -> int:
    from .benchmarks.bench import main as bench_main

    return bench_main(cfg, argv)


def _build_engine(cfg) -> int:
    from .export.tensorrt.engine import main_build_engine

    return main_build_engine(cfg)


HANDLERS = {"demo": _demo, "zoo": _zoo, "fetch-assets": _fetch_assets, "prepare": _prepare, "train": _train,
            "distill": _train, "eval": _eval, "detect": _detect, "explain": _explain, "camera": _camera,
            "export": _export, "verify": _verify, "build-engine": _build_engine, "bench": _bench}
# verbs whose libraries draw their own progress bars (coremltools, ...): those go to the log too
QUIET_BARS = ("export", "bench", "demo")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = argv[0] if argv else "edge-sdk"
    try:
        verb, cfg = parse(argv)
    except EdgeSDKError as err:
        print(f"edge-sdk {verb}: error: {err}", file=sys.stderr)
        return 2
    from .quiet import third_party_to_log

    log = None
    try:
        with third_party_to_log(verb, verbose=getattr(cfg, "verbose", False) or verb == "demo",
                                quiet_bars=verb in QUIET_BARS) as log:
            handler = HANDLERS[verb]
            return handler(cfg, argv[1:]) if verb == "bench" else handler(cfg)
    except EdgeSDKError as err:
        print(f"edge-sdk {verb}: error: {err}", file=sys.stderr)
        if log is not None:
            print(f"(third-party log: {log})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edge-sdk {verb}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
