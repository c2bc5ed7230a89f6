"""Where an artifact's time goes, op by op: ONNX Runtime's profiler for ``.onnx``, ETDump and the ExecuTorch
Inspector for ``.pte``. ``edge-sdk bench --profile`` runs it in each target's measuring process (same threads)
and writes each row's top ops to bench.json and bench.md.

Ops are grouped by kind: ONNX Runtime's operator type (``Conv``, ``MatMul``, ``Transpose``...), or for a ``.pte``
the XNNPACK operator (``Convolution (NHWC, F32) IGEMM``, ``Fully Connected (NC, F32) GEMM``...) or portable
kernel (``native_call_...``) without its ``#n`` instance number. Times are per run (ms), from ``runs`` runs after
``warmup``; ``share`` is of the ops' total, which leaves out the runtime's own overhead between ops.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np


def profile_artifact(path: str | Path, x: np.ndarray, threads: int | None = None, runs: int = 20, warmup: int = 3,
                     top: int = 12) -> dict:
    """The top ``top`` op kinds of the artifact at ``path`` on input ``x``; a format without a profiler here says so."""
    path = Path(path)
    if path.suffix == ".onnx":
        events = _onnx(path, x, threads, runs, warmup)
        tool = "onnxruntime profiler"
    elif path.suffix == ".pte":
        events = _pte(path, x, runs, warmup)
        tool = "ETDump + executorch.devtools.Inspector"
    else:
        return {"status": "not profiled", "reason": f"no per-op profiler wired for {path.suffix} artifacts"}
    return summarize(events, runs, tool, top)


def summarize(events: list[tuple[str, str, float, bool]], runs: int, tool: str, top: int = 12) -> dict:
    """``events``: (node, kind, ms over all runs, delegated: True / False, None where the runtime has no delegates);
    per kind: ms per run, share of the ops' total, nodes; for a delegating runtime, what ran outside the delegate."""
    by_kind: dict[str, dict] = defaultdict(lambda: {"ms": 0.0, "nodes": set(), "delegated": True})
    for node, kind, ms, delegated in events:
        k = by_kind[kind]
        k["ms"] += ms / runs
        k["nodes"].add(node)
        k["delegated"] = k["delegated"] and bool(delegated)
    total = sum(k["ms"] for k in by_kind.values())
    ops = sorted(({"op": kind, "ms": round(k["ms"], 4), "share": round(100 * k["ms"] / total, 1) if total else 0.0,
                   "nodes": len(k["nodes"]), "delegated": k["delegated"]} for kind, k in by_kind.items()),
                 key=lambda o: -o["ms"])
    doc = {"status": "ok", "tool": tool, "runs": runs, "ops_ms": round(total, 3), "kinds": len(ops), "top": ops[:top]}
    if any(e[3] is not None for e in events):
        outside = [o for o in ops if not o["delegated"]]
        doc["outside_delegate"] = {"kinds": len(outside), "nodes": sum(o["nodes"] for o in outside),
                                   "ms": round(sum(o["ms"] for o in outside), 3)}
    else:
        for o in ops:
            del o["delegated"]
    return doc


def _onnx(path: Path, x: np.ndarray, threads: int | None, runs: int, warmup: int) -> list:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory(prefix="edge-sdk-profile-") as work:
        opts.enable_profiling, opts.profile_file_prefix = True, str(Path(work) / "ort")
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x}
        for _ in range(warmup + runs):  # the warm-up runs are in the trace too, and left out below
            sess.run(None, feed)
        trace = json.loads(Path(sess.end_profiling()).read_text())
    # kernel events of the timed runs only (each run's "model_run" event brackets its nodes)
    run_starts = sorted(e["ts"] for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run")
    start = run_starts[warmup] if len(run_starts) > warmup else 0
    out = []
    for e in trace:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= start:
            args = e.get("args", {})
            out.append((e["name"][:-len("_kernel_time")], args.get("op_name", "?"), e["dur"] / 1e3, None))
    return out


def _pte(path: Path, x: np.ndarray, runs: int, warmup: int) -> list:
    import warnings

    import torch
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib

    module = portable_lib._load_for_executorch(str(path), enable_etdump=True)
    t = torch.from_numpy(np.ascontiguousarray(x))
    for _ in range(warmup + runs):
        module.forward([t])
    with tempfile.TemporaryDirectory(prefix="edge-sdk-profile-") as work:
        dump = Path(work) / "run.etdp"
        module.write_etdump_result_to_file(str(dump))
        with warnings.catch_warnings():  # no debug buffer: tensor values are not asked for
            warnings.simplefilter("ignore")
            frame = Inspector(etdump_path=str(dump)).to_dataframe()
    out = []
    for i, row in frame[frame["event_block_name"] == "Execute"].iterrows():
        raw = list(row["raw"])[warmup:]  # one duration per run
        if not raw:
            continue
        name = str(row["event_name"])
        if name.startswith(("Method::", "Program::")) or name in ("DELEGATE_CALL", "OPERATOR_CALL"):
            continue  # wrappers around the ops they call, which are events of their own
        kind = re.sub(r"\s*#\d+$", "", name)
        out.append((f"{name}@{i}", kind, float(np.sum(raw)), bool(row["is_delegated_op"])))
    return out
