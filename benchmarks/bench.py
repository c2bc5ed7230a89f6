"""``edge-sdk bench``: FLOPs, size, latency, memory and parity per model x target, in one table.

For each model: build it once (random init with a fixed seed, or ``--weights``), count its MACs
the way the zoo report does, make one set of input tensors, and compute the PyTorch reference
logits. For each target: export it (or reuse the cached artifact), then measure it in a fresh
process (``benchmarks.measure``) through the runtime backend the artifact would use on a device:

* latency: warm-up runs excluded; the same input tensors for every target; the timer around the
  runtime call only, and separately around crop + normalise + call + sigmoid; mean, p50, p90, p99
  over ``--runs`` calls; threads pinned (CPU affinity and the runtime's own thread count);
* peak resident memory of that process; parity against PyTorch on the same crops (max |delta
  logit|, decision agreement, the precision's limit); accuracy and AUC when ``--data`` has
  ``real/`` and ``fake/`` folders;
* achieved GFLOP/s (2 x MACs x batch / p50) as a share of the machine's matmul peak, measured by a
  probe in the same run.

A target this machine cannot run (TensorRT without TensorRT, Core ML off macOS) is a row saying
so. A target that fails to export or to run is a row with the reason; the others go on.

Outputs in ``--out``: ``bench.json`` (schema ``benchmarks/schemas/bench.schema.json``), ``bench.md``,
``latency.png`` and ``size_vs_latency.png``. With ``--baseline``, the regression gate
(``benchmarks.gate``) compares this run with an earlier one and the exit code says whether it passed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edge_sdk import targets as target_table
from edge_sdk.errors import InputError
from edge_sdk.export.calibration import PACKAGED

from .config import DEFAULT_MODELS, DEFAULT_TARGETS, BenchConfig  # noqa: F401

from .machine import machine

SCHEMA_VERSION = 1
SCHEMA = Path(__file__).with_name("schemas") / "bench.schema.json"
TORCH = target_table.REFERENCE  # the eager PyTorch row every ratio is taken against
# Compute and latency the models' own projects publish (../shared/REFERENCES.md), printed beside ours.
PUBLISHED = {
    "ms_eff_gcvit_b0": {"macs_g": 0.87, "source": "DeepGuard README (its \"0.87 GFLOPs\" are MACs)"},
    "ms_eff_gcvit_b5": {"macs_g": 13.64, "source": "DeepGuard README (its \"13.64 GFLOPs\" are MACs)"},
    "repvit_m0_9_student": {"macs_g": 0.8, "latency_ms": 0.9, "where": "iPhone 12, Core ML", "source": "RepViT paper"},
    "repvit_m1_0_student": {"macs_g": 1.1, "latency_ms": 1.0, "where": "iPhone 12, Core ML", "source": "RepViT paper"},
    "repvit_m1_1_student": {"macs_g": 1.3, "latency_ms": 1.1, "where": "iPhone 12, Core ML", "source": "RepViT paper"},
}
STATUS = ("ok", "parity failed", "failed to run", "failed to export", "not available here", "known not to export")


def target_names() -> list[str]:
    """Every row of the target table (the eager ``torch`` reference first)."""
    return target_table.names()


def split_target(target: str) -> tuple[str, str]:
    """``onnx-int8`` -> (``onnx``, ``int8``); ``executorch-coreml-fp16`` -> (``executorch-coreml``, ``fp16``)."""
    t = target_table.get(target)
    return t.format, t.precision


def parse_targets(text: str | None) -> list[str]:
    """``--targets``: comma-separated table rows, ``all``, or (None) the defaults."""
    return [t.name for t in target_table.parse(text, DEFAULT_TARGETS)]


def not_available_here(target: str) -> str | None:
    """Why this machine cannot measure ``target``'s deployed form (None when it can)."""
    return target_table.get(target).bench_unavailable()


# ---------------------------------------------------------------------------------------------- model side
class ModelCase:
    """One model: its deployable module, MACs, reference inputs and logits, and its artifact cache folder."""

    def __init__(self, name: str, weights: str | None, seed: int, cache: Path, data: str | None, data_limit: int,
                 batch: int, face_model: str | None = None, kwargs: dict | None = None):
        import torch

        from edge_sdk.export.prepare import prepare
        from edge_sdk.models import load

        from .zoo import count_flops

        self.name, self.weights, self.seed, self.batch, self.data = name, weights, seed, batch, data
        self.kwargs = kwargs or {}
        self.loaded = load(name, weights=weights, seed=seed, kwargs=self.kwargs)
        if not self.loaded.trained:
            print(f"[bench] {name}: random weights (seed {seed}, no --weights): latency is real, scores are not",
                  file=sys.stderr)
        self.trained_state = {k: v.clone() for k, v in self.loaded.model.state_dict().items()}  # the torch row
        self.prep = prepare(self.loaded, name=name)
        self.params_m = sum(p.numel() for p in self.prep.module.parameters()) / 1e6
        self.macs_g = count_flops(self.prep.module, self.prep.example()) / 2e9
        self.cache = cache / name
        spec = self.prep.crop
        self.clip = self.loaded.card.kind == "clip"
        if self.clip:
            self.parity, self.frame, self.box, self.keypoints = self._clip_inputs(data, data_limit, face_model)
        else:
            self.parity, self.frame, self.box, self.keypoints = self._inputs(spec, data, data_limit, face_model)
        reps = -(-batch // len(self.parity.x))
        self.x = np.ascontiguousarray(np.concatenate([self.parity.x] * reps)[:batch])
        # in batches of the torch backend's size: eager M2TR's logits at batch 16 differed by 2.4e-4 from batch 8 and
        # from every artifact (make bench-m2tr, 2026-12-02), which failed ExecuTorch fp32's 1e-4 limit on that alone
        from edge_sdk.models.backend import TorchBackend

        with torch.no_grad():
            self.reference = np.concatenate([self.prep.module(torch.from_numpy(b)).reshape(-1).numpy()
                                             for b in self.parity.batches(TorchBackend.max_batch)])

    def _inputs(self, spec, data: str | None, limit: int, face_model: str | None):
        """The parity set of ``data`` (face crops, whole frames and their hard variants; ``"random"``: seeded noise
        crops), and one frame + face box and keypoints for the pre/post timing (a made-up frame: keypoints placed
        in the box as the mean face places them, for aligned crop specs)."""
        from edge_sdk.export.calibration import RANDOM, CropSet, parity_inputs

        if data is not None and str(data) != RANDOM:
            from edge_sdk.faces import FaceDetector
            from edge_sdk.media import is_video
            from edge_sdk.preprocess import load_image

            crops = parity_inputs(data, spec, limit=limit, face_model=face_model)
            with FaceDetector(face_model) as det:
                for f in dict.fromkeys(crops.files):
                    if is_video(f):
                        continue
                    rgb = load_image(f)
                    found = det.detect(rgb)
                    if found:
                        return crops, rgb, [float(v) for v in found[0].box], found[0].keypoints[:4].tolist()
            frame = np.full((720, 1280, 3), 127, np.uint8)
            return crops, frame, *_made_up_face()
        rng = np.random.default_rng(self.seed)
        rgb = rng.integers(0, 256, (32, spec.size, spec.size, 3), dtype=np.uint8)
        frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
        return CropSet(spec.to_tensor(rgb), None, {"source": f"random uint8 crops (seed {self.seed})", "crops": 32},
                       rgb=rgb, kinds=["noise"] * 32), frame, *_made_up_face()

    def _clip_inputs(self, data: str | None, limit: int, face_model: str | None):
        """Clips of the videos in ``data`` (seeded noise clips where it has none, said on stderr), and a made-up
        frame and face for the pre/post timing (cropping costs the same whatever the frame holds)."""
        from edge_sdk.export.calibration import RANDOM, model_inputs

        try:
            clips = model_inputs(data if data is not None else RANDOM, self.prep, limit=min(limit, 16),
                                 face_model=face_model, parity=True)
        except InputError as err:
            print(f"[bench] {self.name}: parity on random clips ({err})", file=sys.stderr)
            clips = model_inputs(RANDOM, self.prep, limit=8, parity=True)
        return clips, np.full((720, 1280, 3), 127, np.uint8), *_made_up_face()

    def key(self) -> dict:
        """What the cached artifacts depend on (calibration is checked per quantized artifact)."""
        from edge_sdk import __version__
        from edge_sdk.manifest import sha256

        return {"model": self.name, "weights": self.weights,
                "weights_sha256": sha256(self.weights) if self.weights else None, "seed": None if self.weights else self.seed,
                **({"kwargs": self.kwargs} if self.kwargs else {}),
                "edge_sdk": __version__, "code": code_fingerprint()}


def code_fingerprint() -> str:
    """A hash of the sources an artifact is made from (the model zoo and the exporters): a cache made before either
    changed (a model's forward, an exporter's rewrite) is not reused, even within one version."""
    import hashlib

    import edge_sdk.export
    import edge_sdk.models

    digest = hashlib.sha256()
    for package in (edge_sdk.models, edge_sdk.export):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def open_cache(case: ModelCase, key: dict) -> None:
    """Keep ``case.cache`` only if it was made for the same model, weights and seed."""
    key_file = case.cache / "bench-key.json"
    if case.cache.exists():
        if not key_file.is_file():
            from edge_sdk.errors import InputError

            raise InputError(f"{case.cache} exists but is not an edge-sdk bench cache (no bench-key.json); "
                             "choose another --cache")
        if json.loads(key_file.read_text()) != key:
            shutil.rmtree(case.cache)
    case.cache.mkdir(parents=True, exist_ok=True)
    if not key_file.is_file():
        from edge_sdk.fileio import write_atomic

        write_atomic(key_file, json.dumps(key, indent=2))


def _cached(path: Path) -> bool:
    from edge_sdk import manifest

    try:
        manifest.load(path)
        return True
    except Exception:
        return False


def torch_artifact(case: ModelCase) -> tuple[Path, float]:
    """The eager PyTorch model as trained (RepViT unfused), saved with a manifest so the torch backend loads it."""
    import torch

    from edge_sdk import manifest

    folder = case.cache / "torch-fp32"
    path = folder / f"{case.name}.pt"
    if _cached(path):
        return path, 0.0
    from edge_sdk.fileio import atomic_path

    t0 = time.perf_counter()
    with atomic_path(path) as tmp:
        torch.save(case.trained_state, tmp)
    m = manifest.build(path, model=case.name, target="torch", precision="fp32", target_name=TORCH,
                       crop=case.prep.crop, input_shape=case.prep.input_shape(), checkpoint=case.weights,
                       weights=case.loaded.weights_record(), card=case.loaded.card.to_manifest(case.loaded.tag),
                       signature=case.prep.signature(), kwargs=case.loaded.kwargs)
    manifest.write(m, folder / "manifest.json")
    return path, time.perf_counter() - t0


def export_targets(case: ModelCase, names: list[str], calib: str | None, calib_size: int, threshold: float,
                   trt_ops_table: str | None) -> dict[str, dict]:
    """Export the targets without a cached artifact in one ``export()`` call; returns target -> record."""
    from edge_sdk.export.exporter import export
    from edge_sdk.fileio import write_atomic

    records, todo = {}, []
    calib_key = {"calib": None if calib is None else str(calib), "calib_size": calib_size, "variants": True}
    for name in names:
        t = target_table.get(name)
        path = case.cache / t.name / f"{case.name}{'.bundle' if case.loaded.card.bundle else t.suffix}"
        calib_file = path.parent / "bench-calib.json"
        same_calib = not t.calibration or (calib_file.is_file() and json.loads(calib_file.read_text()) == calib_key)
        if same_calib and _cached(path):
            m = json.loads((path.parent / "manifest.json").read_text())
            runtime = (m.get("export") or {}).get("runtime_artifact")
            records[name] = {"ok": True, "path": runtime or str(path), "cached": True,
                             "export_s": ((m.get("export") or {}).get("steps") or {}).get("total_s")}
        else:
            todo.append(t)
    if todo:
        try:
            done = export(case.prep.loaded, out=case.cache, formats=todo,
                          calib=calib if any(t.calibration for t in todo) else None, calib_size=calib_size,
                          threshold=threshold, name=case.name,  # manifests' parity on the bench's own faces
                          verify_data=case.data if case.data not in (None, "random") else None,
                          trt_ops_table=trt_ops_table, parity_crops=16)
        except Exception as err:  # a whole-model failure (bad calibration data, ...): every target says why
            msg = f"{type(err).__name__}: {err}"
            return {**records, **{t.name: {"ok": False, "error": msg} for t in todo}}
        for r in done:
            if not r["ok"]:
                records[r["name"]] = {"ok": False, "error": r["error"], "known": bool(r.get("known"))}
                continue
            if target_table.get(r["name"]).calibration:
                write_atomic(Path(r["path"]).parent / "bench-calib.json", json.dumps(calib_key))
            # an artifact built for the device here (a TensorRT engine) is what gets measured
            records[r["name"]] = {"ok": True, "path": r.get("runtime_artifact") or r["path"], "cached": False,
                                  "export_s": r["steps"].get("total_s")}
    return records


# ---------------------------------------------------------------------------------------------- measuring
def run_job(job: dict, workdir: Path, timeout: float = 1800) -> dict:
    """Run ``benchmarks.measure`` on ``job`` in a fresh interpreter; a crash or timeout becomes an error."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:  # absolute paths: the child may start anywhere
        job_path, result_path = Path(tmp).resolve() / "job.json", Path(tmp).resolve() / "result.json"
        job_path.write_text(json.dumps(job))
        try:  # the installed package's module, from this process's own cwd (no source-tree path)
            proc = subprocess.run([sys.executable, "-m", "edge_sdk.benchmarks.measure", str(job_path), str(result_path)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"measurement did not finish within {timeout:.0f} s"}
        if result_path.is_file():
            return json.loads(result_path.read_text())
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"ok": False, "error": f"measuring process exited with code {proc.returncode}: {' | '.join(tail)}"}


def artifact_bytes(path: Path) -> int:
    from edge_sdk.manifest import size_bytes

    return size_bytes(path)


def _made_up_face(box=(490.0, 210.0, 790.0, 510.0)) -> tuple[list, list]:
    from edge_sdk.preprocess import MEAN_FACE

    x0, y0, x1, y1 = box
    return list(box), [[x0 + u * (x1 - x0), y0 + v * (y1 - y0)] for u, v in MEAN_FACE]


def measure_target(case: ModelCase, target: str, artifact: Path, settings: dict, workdir: Path,
                   probe: dict | None) -> dict:
    from edge_sdk.export.verify import compare

    np.save(workdir / "x.npy", case.x)
    np.save(workdir / "parity.npy", case.parity.x)
    np.save(workdir / "frame.npy", case.frame)
    job = {"kind": "model", "artifact": str(artifact), "threads": settings["threads"], "warmup": settings["warmup"],
           "runs": settings["runs"], "inputs": str(workdir / "x.npy"), "parity_inputs": str(workdir / "parity.npy"),
           "frame": str(workdir / "frame.npy"), "box": case.box, "keypoints": case.keypoints,
           "profile": settings.get("profile", False)}
    r = run_job(job, workdir)
    if not r["ok"]:
        return {"status": "failed to run", "reason": r["error"]}
    outputs = np.asarray(r["outputs"], np.float64)
    if not np.isfinite(outputs).all():
        k = int(np.argmax(~np.isfinite(outputs)))
        where = case.parity.files[k] if k < len(case.parity.files) else f"parity input {k}"
        return {"status": "failed to run", "reason": f"{artifact.name} returned {outputs[k]} for {where} "
                f"({int((~np.isfinite(outputs)).sum())} of {len(outputs)} parity inputs not finite)"}
    parity = compare(case.reference, outputs, target, settings["threshold"], case.parity.labels,
                     kinds=case.parity.kinds)
    lat = r["latency_ms"]
    row = {"status": "ok" if parity["passed"] else "parity failed", "backend": r["backend"], "device": r["device"],
           "load_s": r["load_s"], "latency_ms": lat, "with_prepost_ms": r["with_prepost_ms"],
           "throughput_ips": case.batch * 1e3 / lat["mean"], "peak_rss_mb": r["peak_rss_mb"],
           "rss_before_load_mb": r["rss_before_load_mb"],
           "parity": {k: parity.get(k) for k in ("n", "max_abs_logit", "mean_abs_logit", "agreement", "spearman",
                                                  "worst_kind", "passed", "failures", "limits")}}
    if "profile" in r:
        row["profile"] = r["profile"]
    if case.clip:  # latency, img/s and GFLOP/s are per clip of T crops; a bundle's parts are timed on their own
        row["clip_frames"] = int(case.x.shape[1])
        if "parts" in r:
            row["parts"] = r["parts"]
    if not parity["passed"]:
        row["reason"] = "; ".join(parity["failures"])
    gflops = 2 * case.macs_g * case.batch / (lat["p50"] / 1e3)
    row["gflops"] = gflops
    if probe:
        row["pct_of_peak"] = 100 * gflops / probe["gflops"]
        row["vs_probe"] = lat["p50"] / probe["ms"]
    if case.parity.labels is not None:
        from edge_sdk.metrics import auc, threshold_at_fpr

        out, labels = np.asarray(r["outputs"]), case.parity.labels
        prob = 1 / (1 + np.exp(-out))
        row["accuracy"] = float(np.mean((prob >= settings["threshold"]) == (labels == 1)))
        row["auc"] = auc(labels, out)
        if len(set(np.asarray(labels).tolist())) == 2:  # each target's own threshold at the stated FPR
            row["tpr_at_fpr"] = threshold_at_fpr(labels, prob, settings["target_fpr"])
    return row


def bench(cfg: BenchConfig | None = None, *, progress=print, on_row=None, probe_seconds: float = 1.0,
          command: str | None = None, **overrides) -> dict:
    """Run the benchmark and write bench.json / bench.md / plots under ``cfg.out``; returns the JSON document.

    Options are :class:`BenchConfig` fields (``cfg`` and/or keywords). ``on_row(row)`` is called as each model x
    target row is finished (a progress display). ``doc["failures"]`` lists every requested target that can run
    here yet failed, and a failed matmul probe: ``main`` exits non-zero on any."""
    if "targets" in overrides and overrides["targets"] is not None:
        overrides["targets"] = tuple(overrides["targets"])
    if "models" in overrides and overrides["models"] is not None:
        overrides["models"] = tuple(overrides["models"])
    cfg = replace(cfg, **overrides) if cfg is not None else BenchConfig(**overrides)
    models, targets = list(cfg.models), parse_targets(",".join(cfg.targets))
    out = Path(cfg.out)
    cache = Path(cfg.cache) if cfg.cache else out / "artifacts"
    data = cfg.data if cfg.data is not None else PACKAGED
    calib = cfg.calib if cfg.calib is not None else data
    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    settings = {"threads": cfg.threads, "batch": cfg.batch, "warmup": cfg.warmup, "runs": cfg.runs,
                "threshold": cfg.threshold, "target_fpr": cfg.target_fpr, "data": data, "calib": calib, "calib_size": cfg.calib_size,
                "seed": None if cfg.weights else cfg.seed, "weights": cfg.weights, "model_kwargs": cfg.model_kwargs,
                "profile": cfg.profile,
                "cpus_used": cfg.threads or machine()["cores"]}
    progress(f"[bench] probing the matmul peak ({cfg.threads or 'all'} threads)")
    probe = run_job({"kind": "probe", "threads": cfg.threads, "seconds": probe_seconds}, work)
    failures = [] if probe.get("ok") else [f"matmul probe: {probe.get('error')}"]
    probe = probe if probe.get("ok") else None
    results, e2e_results = [], []
    for name in models:
        t0 = time.perf_counter()
        case = ModelCase(name, cfg.weights, cfg.seed, cache, data, cfg.data_limit, cfg.batch,
                         kwargs=json.loads(cfg.model_kwargs) if cfg.model_kwargs else None)
        open_cache(case, case.key())
        progress(f"[bench] {name}: {case.params_m:.2f} M params, {case.macs_g:.3f} GMACs, "
                 f"{len(case.parity.x)} parity crops ({time.perf_counter() - t0:.1f} s)")
        runnable = [t for t in targets if t != TORCH and not not_available_here(t)]
        exported = export_targets(case, runnable, calib, cfg.calib_size, cfg.threshold, cfg.trt_ops_table)
        if TORCH in targets:
            path, secs = torch_artifact(case)
            exported[TORCH] = {"ok": True, "path": str(path), "cached": secs == 0.0, "export_s": round(secs, 2)}
        rows = {}
        for target in targets:
            row = {"model": name, "target": target, "precision": split_target(target)[1], "params_m": case.params_m,
                   "macs_g": case.macs_g, "label": target_table.get(target).label}
            why = not_available_here(target)
            if why:
                row.update(status="not available here", reason=why)
            elif not exported[target]["ok"]:  # a limit the model's card declares is reported, not a failure
                row.update(status="known not to export" if exported[target].get("known") else "failed to export",
                           reason=exported[target]["error"])
            else:
                rec = exported[target]
                path = Path(rec["path"])
                row.update(artifact=str(path), size_mb=artifact_bytes(path) / 1e6, export_s=rec["export_s"],
                           cached=rec["cached"])
                progress(f"[bench] {name} {target}: measuring {path.name} ({cfg.warmup} warm-up + {cfg.runs} runs)")
                row.update(measure_target(case, target, path, settings, work, probe))
            progress(f"[bench] {name} {target}: {row['status']}" +
                     (f", p50 {row['latency_ms']['p50']:.2f} ms" if "latency_ms" in row else
                      f" ({row.get('reason', '')[:120]})"))
            if row["status"] in ("failed to export", "failed to run"):
                failures.append(f"{name} {target}: {row['status']}: {row.get('reason', '')[:200]}")
            rows[target] = row
            if on_row is not None:
                on_row(row)
        torch_row = rows.get(TORCH)
        for row in rows.values():
            if torch_row and "latency_ms" in torch_row and "latency_ms" in row:
                row["vs_torch"] = row["latency_ms"]["p50"] / torch_row["latency_ms"]["p50"]
            results.append(row)
        if cfg.e2e:
            for row in _e2e(name, rows, cfg.e2e, cfg.e2e_target, cfg.threads, out, progress,
                            tuple(cfg.e2e_detect_every), cfg.e2e_batch_frames):
                e2e_results.append(row)
                if row["status"] == "failed":
                    failures.append(f"{name} {row.get('target', '')} end to end: {row.get('reason', '')[:200]}")
    doc = {"schema_version": SCHEMA_VERSION, "tool": "edge-sdk bench", "command": command, "machine": machine(),
           "settings": settings, "probe": probe, "results": results, "e2e": e2e_results, "failures": failures}
    doc["written"] = write_outputs(doc, out)
    shutil.rmtree(work, ignore_errors=True)
    return doc


def _e2e(name: str, rows: dict, video: str, wanted: str, threads: int | None, out: Path, progress,
         detect_every: tuple[int, ...] = (), batch_frames: int = 8) -> list[dict]:
    """Frames/s of the whole pipeline on ``video``, one row per ``wanted`` target of this model that ran (a comma
    list, or ``all``; a single target that did not run falls back to the first that did). Each runs in a process of
    its own (``python -m edge_sdk.benchmarks.e2e``, pinned to ``threads`` cores), so its peak resident memory is that
    target's alone."""
    ok = [t for t, r in rows.items() if r["status"] == "ok" and t != TORCH]
    asked = ok if wanted == "all" else [t.strip() for t in wanted.split(",") if t.strip()]
    targets = [t for t in asked if t in ok] or ([ok[0]] if ok and len(asked) == 1 else [])
    if not targets:
        return [{"model": name, "status": "not run", "reason": f"no target of {asked} ran for this model"}]
    results = []
    for target in targets:
        progress(f"[bench] {name} {target}: end to end on {Path(video).name}")
        folder = out / "e2e" / name / target
        cmd = [sys.executable, "-m", "edge_sdk.benchmarks.e2e", "--video", str(video), "--model",
               rows[target]["artifact"], "--repeats", "1", "--out", str(folder), "--batch-frames", str(batch_frames)]
        cmd += ["--threads", str(threads)] if threads else []
        cmd += ["--detect-every", ",".join(map(str, detect_every))] if detect_every else []
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not (folder / "e2e.json").is_file():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            results.append({"model": name, "target": target, "status": "failed", "reason": tail[:500]})
            continue
        r = json.loads((folder / "e2e.json").read_text())
        results.append({
            "model": name, "target": target, "status": "ok", "video": str(video), "fps": r["pipelined"]["fps_median"],
            "frames": r["pipelined"]["frames"], "stage_ms": r["pipelined"]["stage_ms_of_best"],
            "isolated_stage_ms": {k: v["mean"] for k, v in r["isolated"]["stage_ms"].items()},
            "peak_rss_mb": r.get("peak_rss_mb"),
            **({k: r["pipelined"][k] for k in ("clips_scored", "clips_per_s")} if "clips_per_s" in r["pipelined"]
               else {}), **({"detect_every": r["detect_every"]} if "detect_every" in r else {}),
            **({"cpu": r["pipelined"]["cpu_of_best"]} if "cpu_of_best" in r["pipelined"] else {}),
            **({"throughput": r["throughput"]} if "throughput" in r else {})})
    return results


# ---------------------------------------------------------------------------------------------- outputs
def validate(doc: dict) -> dict:
    import jsonschema

    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    return doc


def _f(v, fmt: str = ".2f", none: str = "-") -> str:
    return none if v is None else format(v, fmt)


def to_markdown(doc: dict) -> str:
    m, s, probe = doc["machine"], doc["settings"], doc["probe"]
    threads = s["threads"] or f"default ({m['cores']} cores)"
    head = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']}; "
            + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + f"; {m['when']}.",
            f"Threads: {threads}; batch {s['batch']}; {s['warmup']} warm-up + {s['runs']} timed runs per target; "
            f"inputs: {'face crops from ' + str(s['data']) if s['data'] else 'seeded random crops'}.",
            f"Matmul peak (probe): {probe['gflops']:.1f} GFLOP/s ({probe['what']})." if probe else
            "Matmul peak: probe failed.", ""]
    if doc.get("command"):
        head.insert(0, f"`{doc['command']}`\n")
    has_acc = any("auc" in r for r in doc["results"])
    cols = ["model", "target", "status", "params (M)", "GMACs", "size (MB)", "mean ms", "p50 ms", "p90 ms", "p99 ms",
            "img/s", "p50 with pre/post ms", "peak RSS (MB)", "GFLOP/s (% peak)", "max abs d logit", "vs torch"]
    if has_acc:
        cols += ["accuracy", "AUC"]
    lines = head + ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    notes: list[str] = []
    for r in doc["results"]:
        lat, pp, par = r.get("latency_ms"), r.get("with_prepost_ms"), r.get("parity")
        status = r["status"]
        if r.get("reason"):  # one footnote per distinct reason
            reason = r["reason"][:300]
            if reason not in notes:
                notes.append(reason)
            status += f" [{notes.index(reason) + 1}]"
        cells = [r["model"], r["target"], status, _f(r["params_m"]), _f(r["macs_g"], ".3f"), _f(r.get("size_mb")),
                 _f(lat and lat["mean"]), _f(lat and lat["p50"]), _f(lat and lat["p90"]), _f(lat and lat["p99"]),
                 _f(r.get("throughput_ips"), ".1f"), _f(pp and pp["p50"]), _f(r.get("peak_rss_mb"), ".0f"),
                 f"{r['gflops']:.1f} ({r.get('pct_of_peak', 0):.0f}%)" if "gflops" in r else "-",
                 _f(par and par["max_abs_logit"], ".2e"), _f(r.get("vs_torch"), ".2f") + ("x" if "vs_torch" in r else "")]
        if has_acc:
            cells += [_f(r.get("accuracy"), ".3f"), _f(r.get("auc"), ".3f")]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    lines += [""] + [f"- [{i}] {n}" for i, n in enumerate(notes, 1)] if notes else []
    lines += ["", "Latency is the runtime call alone (input already a tensor); \"with pre/post\" adds cropping and "
              "normalising the face from a frame and the sigmoid. vs torch = p50 / p50 of eager PyTorch (eval mode, as "
              "trained) for the same model: below 1 is faster. GFLOP/s counts 2 x MACs per image; the peak is the fp32 "
              "matmul probe's, so int8 kernels can pass 100%."]
    summary = model_summary(doc)
    if summary:
        lines += ["", "| model | MACs counted (G) | MACs published (G) | eager PyTorch p50 ms | fastest here | its p50 ms | "
                  "speed-up over eager | published latency | quantized p50 / fp32 p50 |", "|---|---|---|---|---|---|---|---|---|"]
        for s in summary:
            pub = PUBLISHED.get(s["model"], {})
            where = f"{pub['latency_ms']} ms ({pub['where']}, {pub['source']})" if "latency_ms" in pub else "-"
            lines.append(f"| {s['model']} | {s['macs_g']:.3f} | {_f(pub.get('macs_g'))} | {_f(s['torch_p50'])} | "
                         f"{s['fastest']} | {s['fastest_p50']:.2f} | "
                         f"{_f(s['speedup'], '.1f')}{'x' if s['speedup'] else ''} | {where} | "
                         + (", ".join(f"{k} {v:.2f}" for k, v in s["quantized_vs_fp32"].items()) or "-") + " |")
    parts = [r for r in doc["results"] if r.get("parts")]
    if parts:
        lines += ["", "| model | target | depth ms per crop | embedder ms per crop (RGB and depth each) | head ms per "
                  "clip | whole clip p50 ms | frames per clip |", "|---|---|---|---|---|---|---|"]
        for r in parts:
            p = r["parts"]
            lines.append(f"| {r['model']} | {r['target']} | {p['depth']['per_crop_ms']:.2f} | "
                         f"{p['embedder']['per_crop_ms']:.2f} | {p['head']['per_clip_ms']['p50']:.2f} | "
                         f"{r['latency_ms']['p50']:.2f} | {r['clip_frames']} |")
        lines += ["", "A bundle's rows above time one clip of T crops (img/s there is clips/s); here each part alone "
                  "on that clip's inputs (the depth model on T crops, the embedder on T crops and T depth maps)."]
    if doc.get("e2e"):
        clips = any("clips_per_s" in e for e in doc["e2e"])
        rss = any(e.get("peak_rss_mb") for e in doc["e2e"])
        lines += ["", "| model | artifact | end-to-end frames/s | decode ms | detect ms | crop ms | model ms |"
                  + (" head ms | clips/s |" if clips else "") + (" peak RSS (MB) |" if rss else ""),
                  "|---|---|---|---|---|---|---|" + ("---|---|" if clips else "") + ("---|" if rss else "")]
        for e in doc["e2e"]:
            if e["status"] != "ok":
                lines.append(f"| {e['model']} | {e.get('target', '-')} | {e['status']}: {e['reason'][:80]} | | | | |"
                             + (" | |" if clips else "") + (" |" if rss else ""))
                continue
            st = e["isolated_stage_ms"]
            lines.append(f"| {e['model']} | {e['target']} | {e['fps']:.1f} | {st['decode']:.2f} | {st['detect']:.2f} | "
                         f"{st['crop']:.2f} | {st['model']:.2f} |"
                         + (f" {_f(st.get('head'))} | {_f(e.get('clips_per_s'), '.1f')} |" if clips else "")
                         + (f" {_f(e.get('peak_rss_mb'), '.0f')} |" if rss else ""))
    profiled = [r for r in doc["results"] if r.get("profile")]
    if profiled:
        lines += ["", "| model | target | profiler | ops ms per run | top ops by time (share of the ops' total) | "
                  "outside the delegate |", "|---|---|---|---|---|---|"]
        for r in profiled:
            p = r["profile"]
            if p["status"] != "ok":
                lines.append(f"| {r['model']} | {r['target']} | {p['status']}: {p.get('reason', '')[:80]} | | | |")
                continue
            top = ", ".join(f"{o['op']} {o['share']:.0f}% ({o['nodes']})" for o in p["top"][:6])
            out = p.get("outside_delegate")
            lines.append(f"| {r['model']} | {r['target']} | {p['tool']} | {p['ops_ms']:.2f} | {top} | "
                         + (f"{out['nodes']} nodes, {out['ms']:.2f} ms |" if out else "- |"))
        lines += ["", "Ops grouped by kind (node count in brackets); bench.json holds the top 12 per target with ms."]
    busy = [e for e in doc.get("e2e", []) if e.get("cpu")]
    if busy:
        from edge_sdk.timing import busiest

        lines += ["", "| model | artifact | loop wall s | process CPU s | cores busy | busiest threads (busy share "
                  "of the loop's wall time) |", "|---|---|---|---|---|---|"]
        for e in busy:
            c = e["cpu"]
            lines.append(f"| {e['model']} | {e['target']} | {c['wall_s']:.2f} | {c['cpu_s']:.2f} | "
                         f"{c['cores_busy']:.2f} of {c['cores']} | {busiest(c)} |")
    batched = [(f"{e['model']} {e['target']}", e["throughput"]) for e in doc.get("e2e", []) if e.get("throughput")]
    if batched:
        from .e2e import throughput_table

        lines += [""] + throughput_table(batched)
    every = [(f"{e['model']} {e['target']}", k) for e in doc.get("e2e", []) for k in e.get("detect_every", [])]
    if every:
        from .e2e import detect_every_table

        lines += [""] + detect_every_table(every)
    if doc.get("gate"):
        from .gate import to_markdown as gate_md

        lines += ["", gate_md(doc["gate"])]
    return "\n".join(lines)


def model_summary(doc: dict) -> list[dict]:
    """Per model: counted MACs, eager PyTorch p50, and the fastest target that passed parity here."""
    out = []
    for model in dict.fromkeys(r["model"] for r in doc["results"]):
        rows = [r for r in doc["results"] if r["model"] == model and r["status"] == "ok"]
        exported = [r for r in rows if r["target"] != TORCH]
        if not exported:
            continue
        best = min(exported, key=lambda r: r["latency_ms"]["p50"])
        eager = next((r for r in rows if r["target"] == TORCH), None)
        torch_p50 = eager["latency_ms"]["p50"] if eager else None
        out.append({"model": model, "macs_g": best["macs_g"], "torch_p50": torch_p50, "fastest": best["target"],
                    "fastest_p50": best["latency_ms"]["p50"],
                    "speedup": torch_p50 / best["latency_ms"]["p50"] if torch_p50 else None,
                    "quantized_vs_fp32": quantized_vs_fp32([r for r in doc["results"] if r["model"] == model])})
    return out


def quantized_vs_fp32(rows: list[dict]) -> dict[str, float]:
    """Each quantized target's p50 over its format's fp32 p50 in the same run (below 1: the quantized file is
    faster), for rows that were timed (a failed parity is in the row's status, not hidden here)."""
    timed = {r["target"]: r["latency_ms"]["p50"] for r in rows if "latency_ms" in r}
    out = {}
    for name, p50 in timed.items():
        t = target_table.get(name)
        base = f"{t.format}-fp32"
        if t.compressed and base in timed:
            out[name] = round(p50 / timed[base], 3)
    return out


def write_outputs(doc: dict, out: Path) -> list[str]:
    """bench.json, bench.md and the plots; returns the paths actually written (never one that was not)."""
    from edge_sdk.fileio import to_json, write_atomic

    body = {k: v for k, v in doc.items() if k != "written"}
    validate(json.loads(to_json(body)))
    written = [str(write_atomic(out / "bench.json", to_json(body, indent=2) + "\n")),
               str(write_atomic(out / "bench.md", to_markdown(doc) + "\n"))]
    try:
        from .plots import plot

        written += [str(p) for p in plot(doc, out)]
    except ImportError as err:  # matplotlib is in the `bench` extra; the table and JSON do not need it
        print(f"[bench] plots skipped: {err} (pip install 'edge-sdk[bench]')", file=sys.stderr)
    return written


def main(cfg: BenchConfig, argv: list[str] | None = None) -> int:
    """The ``edge-sdk bench`` verb: exit 1 when the gate fails, when a requested target that can run here failed to
    export or run, or when the matmul probe failed."""
    from .gate import gate, load_baseline
    from .gate import to_markdown as gate_md

    baseline = load_baseline(cfg.baseline) if cfg.baseline else None  # fail early on a bad baseline path
    doc = bench(cfg, command="edge-sdk bench " + " ".join(argv or []))
    code = 1 if doc["failures"] else 0
    if baseline is not None:
        doc["gate"] = gate(doc, baseline, max_regression=cfg.max_regression, reference=cfg.reference,
                           check=cfg.gate, parity_slack=cfg.parity_slack, baseline_path=cfg.baseline)
        doc["written"] = write_outputs(doc, Path(cfg.out))
        code = code or (0 if doc["gate"]["passed"] else 1)
    print(to_markdown(doc))
    if cfg.write_baseline:
        from edge_sdk.fileio import to_json, write_atomic

        write_atomic(cfg.write_baseline, to_json({k: v for k, v in doc.items() if k not in ("gate", "written")},
                                                 indent=2) + "\n")
        print(f"\nwrote baseline {cfg.write_baseline}")
    print(f"\nwrote {', '.join(doc['written'])}")
    for f in doc["failures"]:
        print(f"edge-sdk bench: FAILED: {f}", file=sys.stderr)
    if baseline is not None:
        print(gate_md(doc["gate"]).splitlines()[0], file=sys.stderr)
    return code
