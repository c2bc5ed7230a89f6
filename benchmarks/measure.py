"""One measurement, in its own process: load an artifact through the runtime backend and time it.

A fresh process per target so that peak resident memory belongs to that target alone (an ONNX
Runtime process never imports torch), threads are pinned before any library starts its pool, and
one runtime's thread pool cannot slow the next. ``benchmarks.bench`` writes a job file and reads
the result file; a crash leaves no result, which the caller reports as "failed to run".

    python -m edge_sdk.benchmarks.measure JOB.json RESULT.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def pin_threads(threads: int | None) -> list[int]:
    """Restrict this process to ``threads`` of its CPUs (the first ones it may use); returns the CPU set."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    cpus = sorted(os.sched_getaffinity(0))
    if threads and threads < len(cpus):
        cpus = cpus[:threads]
        os.sched_setaffinity(0, cpus)
    return cpus


def stats_ms(seconds: list[float]) -> dict:
    import numpy as np

    a = np.asarray(seconds, dtype=np.float64) * 1e3
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "p50": float(np.percentile(a, 50)),
            "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)), "n": int(a.size)}


def _status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    return _status_mb("VmRSS")


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (VmHWM) to its current RSS (Linux >= 4.0: ``clear_refs`` 5), so a
    later :func:`peak_rss_mb` covers only what ran after; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process image. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so
    a process started from a large parent would report the parent's peak."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _time(fn, warmup: int, runs: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def probe(job: dict) -> dict:
    """The machine's measured matmul peak: the best of repeated fp32 n x n products (GFLOP/s)."""
    n, seconds = int(job.get("size", 1024)), float(job.get("seconds", 1.0))
    threads = job.get("threads")
    try:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        a, b = torch.randn(n, n), torch.randn(n, n)
        mm, lib = (lambda: torch.mm(a, b)), f"torch.mm fp32 {n}x{n} ({torch.get_num_threads()} threads)"
    except ImportError:
        import numpy as np

        a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
        mm, lib = (lambda: a @ b), f"numpy matmul fp32 {n}x{n}"
    for _ in range(3):
        mm()
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        mm()
        best = min(best, time.perf_counter() - t0)
    return {"ok": True, "gflops": 2 * n ** 3 / best / 1e9, "ms": best * 1e3, "what": lib}


def loader(artifact: str, threads: int | None):
    """A function loading ``artifact`` through its runtime backend with ``threads`` threads (each runtime's own
    setting: ONNX Runtime's intra-op threads, torch's and ExecuTorch's thread pools); those set up first."""
    import inspect

    import edge_sdk
    from edge_sdk.backends import backend_class

    cls = backend_class(artifact)
    kwargs = {}
    if threads and "threads" in inspect.signature(cls.__init__).parameters:  # runtimes with their own thread pool
        kwargs["threads"] = int(threads)
    if cls.name in ("executorch", "torch") and threads:
        import torch

        torch.set_num_threads(int(threads))
    if cls.name == "executorch" and threads:
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(int(threads))
    return lambda: edge_sdk.load(artifact, **kwargs)


def measure(job: dict) -> dict:
    """Load ``job['artifact']`` and time it: runtime call only, and crop + tensor + call + sigmoid."""
    import numpy as np

    threads = job.get("threads")
    rss_start = rss_mb()
    load = loader(job["artifact"], threads)
    rss_before = rss_mb()
    t0 = time.perf_counter()
    backend = load()
    load_s = time.perf_counter() - t0
    with backend:
        x = np.ascontiguousarray(np.load(job["inputs"]), dtype=np.float32)
        parity_x = np.load(job["parity_inputs"])
        outputs = backend.predict(parity_x)
        latency = _time(lambda: backend.predict(x), job["warmup"], job["runs"])
        frame = np.load(job["frame"])
        box, kp, spec = tuple(job["box"]), job.get("keypoints"), backend.crop
        shape = x.shape[:-3]  # (N,) crops or (N, T) clips

        def end_to_end():  # what a caller of the runtime pays per batch of faces: crop, normalise, run, sigmoid
            batch = spec.to_tensor(np.stack([spec.crop(frame, box, kp) for _ in range(int(np.prod(shape)))]))
            return 1 / (1 + np.exp(-backend.predict(batch.reshape(*shape, *batch.shape[1:]))))

        with_prepost = _time(end_to_end, max(1, job["warmup"] // 2), max(5, job["runs"] // 2))
        parts = bundle_parts(backend, x[:1], job["warmup"], job["runs"]) if hasattr(backend, "embed") else None
        profile = None
        if job.get("profile"):
            from edge_sdk.benchmarks.profile import profile_artifact

            profile = profile_artifact(job["artifact"], x, threads, runs=max(5, min(job["runs"], 50)))
        return {"ok": True, "backend": backend.name, "device": backend.device, "load_s": load_s,
                "latency_ms": stats_ms(latency), "with_prepost_ms": stats_ms(with_prepost),
                "outputs": [float(v) for v in outputs], "rss_start_mb": rss_start, "rss_before_load_mb": rss_before,
                "peak_rss_mb": peak_rss_mb(), "cpus": job.get("cpus"), **({"parts": parts} if parts else {}),
                **({"profile": profile} if profile else {})}


def bundle_parts(backend, clip, warmup: int, runs: int) -> dict:
    """Each part of a bundle on one clip's inputs: the depth model on its T crops, the embedder on their T crops and
    T depth maps, the head on the packed clip; per clip and per crop (ms)."""
    import numpy as np

    st = backend.stages(clip)
    frames = np.ascontiguousarray(clip[0])
    both = np.ascontiguousarray(np.concatenate([frames, st["depth"]]))
    calls = {"depth": (lambda: backend.parts["depth"].outputs(frames), len(frames)),
             "embedder": (lambda: backend.parts["embedder"].outputs(both), len(both)),
             "head": (lambda: backend.parts["head"].predict(st["packed"]), None)}
    out = {}
    for name, (fn, crops) in calls.items():
        s = stats_ms(_time(fn, max(1, warmup // 2), max(5, runs // 2)))
        out[name] = {"per_clip_ms": s, **({"crops": crops, "per_crop_ms": s["p50"] / crops} if crops else {})}
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text())
    job["cpus"] = pin_threads(job.get("threads"))
    try:
        result = probe(job) if job.get("kind") == "probe" else measure(job)
    except Exception as err:  # reported by the caller as "failed to run", with this reason
        result = {"ok": False, "error": f"{type(err).__name__}: {err}"[:1000]}
    from edge_sdk.fileio import write_atomic

    write_atomic(result_path, json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
