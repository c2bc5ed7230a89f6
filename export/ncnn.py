"""The ``ncnn-*`` rows: NCNN graphs (``<name>.ncnn/model.param`` + ``model.bin``) for ARM phones and boards.

    torch.jit.trace(prepared module, example) -> pnnx (its command line, from the ``pnnx`` wheel) -> ncnn param/bin

fp16 stores the weights as float16 (pnnx ``fp16=1``); the backend then lets NCNN use fp16 storage and arithmetic
where the CPU has them (ARMv8.2 phones; x86 computes in fp32). There is no int8 row: NCNN's int8 needs its
``ncnn2table`` and ``ncnn2int8`` tools, which the PyPI wheels do not ship (docs/export.md).

pnnx drops operators NCNN cannot express (5-D permutes, ``unbind`` along the batch axis) with a line on its
output and writes the rest; such a graph does not load or computes something else, so those lines fail the export,
naming each operator.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import torch

from edge_sdk.fileio import atomic_path

from .errors import ExportError

# what pnnx prints for an operator it leaves out of the NCNN graph
DROPPED = re.compile(r"^(ignore .+|.+ is not supported.*|layer .+ not exists or registered)$")


def _dropped(log: str) -> list[str]:
    """One line per kind of operator pnnx dropped (``ignore torch.unbind Tensor.select_527 param dim=0`` ->
    ``torch.unbind dropped``), in the order pnnx met them."""
    seen: dict[str, None] = {}
    for line in log.splitlines():
        line = line.strip()
        if DROPPED.match(line):
            seen.setdefault(f"{line.split()[1]} dropped" if line.startswith("ignore ") else line, None)
    return list(seen)


def _op(line: str) -> str:
    """The operator a dropped-operator line names (``torch.unbind dropped``, ``unbind along batch axis ...``)."""
    return line.split()[0]


def build(prep, path: Path, target, opts, ctx: dict) -> dict:
    import pnnx

    half = bool(target.options.get("half_weights"))
    work = (Path(ctx["workdir"]) / f"{prep.name}.{target.name}.pnnx").resolve()
    work.mkdir(parents=True, exist_ok=True)
    example = prep.example()
    steps = {}
    t = time.perf_counter()
    with torch.no_grad():
        torch.jit.trace(prep.module, (example,), check_trace=False).save(str(work / "model.pt"))
    steps["trace_s"] = round(time.perf_counter() - t, 2)
    shape = ",".join(str(int(s)) for s in example.shape)
    with atomic_path(path) as tmp:
        tmp = tmp.resolve()  # pnnx runs in the work folder: every path it is given must be absolute
        tmp.mkdir(parents=True)
        t = time.perf_counter()
        done = subprocess.run([pnnx.EXEC_PATH, str(work / "model.pt"), f"inputshape=[{shape}]f32", "device=cpu",
                               f"fp16={int(half)}", f"ncnnparam={tmp / 'model.param'}", f"ncnnbin={tmp / 'model.bin'}",
                               *(f"{k}={work / v}" for k, v in (("pnnxparam", "pnnx.param"), ("pnnxbin", "pnnx.bin"),
                                                                ("pnnxpy", "pnnx.py"), ("pnnxonnx", "pnnx.onnx"),
                                                                ("ncnnpy", "ncnn.py")))],
                              capture_output=True, text=True, cwd=work)
        steps["convert_s"] = round(time.perf_counter() - t, 2)
        log = done.stdout + done.stderr
        (work / "pnnx.log").write_text(log)
        dropped = _dropped(log)
        if dropped:
            raise ExportError(target.name, prep.name, f"pnnx left {len(dropped)} kind(s) of operator out of the NCNN "
                              f"graph: {'; '.join(dropped[:6])}", op=_op(dropped[0]))
        if done.returncode != 0 or not (tmp / "model.param").is_file():
            tail = " | ".join(log.strip().splitlines()[-3:])[:400]
            raise ExportError(target.name, prep.name, f"pnnx exited {done.returncode}: {tail}")
        layers = _layers(tmp / "model.param")
    return {"steps": steps, "ncnn": {"half_weights": half, "layers": layers}}  # pnnx's version: the manifest's versions


def _layers(param: Path) -> dict[str, int]:
    """Layer counts of an NCNN param file (its lines after the magic number and the counts line)."""
    counts: dict[str, int] = {}
    for line in param.read_text().splitlines()[2:]:
        if line.strip():
            kind = line.split()[0]
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))

