"""``edge-sdk verify --localize``: the first layer or op where an artifact departs from PyTorch, and by how much.

* ``.onnx``: every intermediate tensor of the artifact is exposed as an output and compared, by name, with the same
  tensor of the fp32 ONNX re-exported from the PyTorch model the same way (opset, batch, simplification). That
  reference equals PyTorch within ~1e-7 (the fp32 parity of every model here), so the first tensor that departs
  is where the artifact does. Quantized graphs keep their ops' tensor names (Q/DQ nodes are added around them).
* ``.pte``: ExecuTorch's devtools. The reference program is lowered again from the PyTorch model with an ETRecord
  (its intermediate outputs on the same input), the artifact runs with ETDump and a debug buffer, and the
  Inspector's numeric gap pairs each runtime call (a delegate call covers the ops it took; a portable op is one)
  with the reference ops it covers. The report names those ops and the modules they come from
  (``nn_module_stack``). int8 programs are not localized this way: their quantization parameters come from
  calibration, which the reference would have to repeat exactly.

The gap of a tensor is max |artifact - reference| / max |reference|; it departs when that exceeds ``tol``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edge_sdk.errors import InputError


def _rel(a: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    a, r = np.asarray(a, np.float64).reshape(-1), np.asarray(r, np.float64).reshape(-1)
    if a.shape != r.shape:
        return float("inf"), float("inf")
    d = float(np.max(np.abs(a - r))) if a.size else 0.0
    return d, d / (float(np.max(np.abs(r))) + 1e-12 if r.size else 1.0)


def localize(artifact: str | Path, prep, x: np.ndarray, manifest: dict, tol: float | None = None) -> dict:
    """Where ``artifact`` first departs from ``prep.module`` on input ``x`` (one sample, model-ready)."""
    from edge_sdk import targets

    artifact = Path(artifact)
    row = targets.get(manifest.get("target_name") or f"{manifest['target']}-{manifest['precision']}")
    tol = tol if tol is not None else (0.05 if row.compressed else 1e-3)
    x = np.ascontiguousarray(x[:1], dtype=np.float32)
    if artifact.suffix == ".onnx":
        return _onnx(artifact, prep, x, manifest, tol)
    if artifact.suffix == ".pte":
        if row.calibration:
            raise InputError(f"{artifact.name}: --localize compares an ExecuTorch program with a reference lowered "
                             "again from PyTorch; an int8 program's quantization parameters come from calibration, "
                             "which that reference cannot repeat exactly. Localize the fp32 .pte, or the int8 ONNX")
        return _pte(artifact, prep, x, manifest, tol)
    raise InputError(f"{artifact.name}: --localize works on .onnx and .pte artifacts")


# ---------------------------------------------------------------------------------------------- ONNX
def _with_all_outputs(model):
    from onnx import helper

    names = [o for n in model.graph.node for o in n.output if o]
    have = {o.name for o in model.graph.output}
    for name in names:
        if name not in have:
            model.graph.output.append(helper.make_empty_tensor_value_info(name))
    return model, names


def _run_all(model, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    model, names = _with_all_outputs(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    return {o.name: v for o, v in zip(sess.get_outputs(), outs)}


def _onnx(artifact: Path, prep, x: np.ndarray, manifest: dict, tol: float) -> dict:
    import onnx

    from .onnx import export_onnx, simplify

    opts = (manifest.get("export") or {}).get("options") or {}
    with tempfile.TemporaryDirectory() as tmp:
        ref_path = Path(tmp) / "reference.onnx"
        export_onnx(prep.module, ref_path, prep.example(), opset=int(opts.get("opset", 18)),
                    dynamic_batch=bool(opts.get("dynamic_batch", False)))
        if (manifest.get("export") or {}).get("simplify") is not None:
            simplify(ref_path)
        ref_model = onnx.load(str(ref_path))
    art_model = onnx.load(str(artifact))
    ref_vals, art_vals = _run_all(ref_model, x), _run_all(art_model, x)
    rows = []
    for node in art_model.graph.node:
        for out in node.output:
            if out in ref_vals and out in art_vals and np.issubdtype(np.asarray(art_vals[out]).dtype, np.floating):
                d, rel = _rel(art_vals[out], ref_vals[out])
                rows.append({"node": node.name, "op": node.op_type, "tensor": out, "max_abs": d, "rel": rel})
    if not rows:
        raise InputError(f"{artifact.name}: no intermediate tensor of the artifact matches the reference's by name "
                         "(was it exported by another exporter or version?)")
    first = next((r for r in rows if r["rel"] > tol), None)
    return {"method": "ONNX intermediate outputs compared by name with the fp32 ONNX re-exported from PyTorch",
            "tol": tol, "compared": len(rows), "first": first, "worst": sorted(rows, key=lambda r: -r["rel"])[:5],
            "output": rows[-1]}


# ---------------------------------------------------------------------------------------------- ExecuTorch
def _module_paths(etrecord) -> dict[str, str]:
    """Reference op name -> the module it comes from (its nn_module_stack's innermost entry)."""
    out = {}
    for ep in (getattr(etrecord, "exported_program", None), getattr(etrecord, "edge_dialect_program", None)):
        gm = getattr(ep, "graph_module", None)
        if gm is None:
            continue
        for node in gm.graph.nodes:
            stack = node.meta.get("nn_module_stack")
            if stack and node.name not in out:
                out[node.name] = list(stack.values())[-1][0]
    return out


def _pte(artifact: Path, prep, x: np.ndarray, manifest: dict, tol: float) -> dict:
    import torch
    from executorch.devtools import Inspector
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from .executorch import _partitioner

    delegate = ((manifest.get("export") or {}).get("delegation") or {}).get("delegate", "xnnpack")
    example = torch.from_numpy(x).clone(memory_format=torch.contiguous_format)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ep = torch.export.export(prep.module, (prep.example().clone(memory_format=torch.contiguous_format),))
        part = _partitioner(delegate, "fp32")
        edge = to_edge_transform_and_lower(ep, partitioner=[part] if part is not None else None, generate_etrecord=True)
        etrecord = edge.to_executorch().get_etrecord()
        etrecord.update_representative_inputs([example])
        etrecord.save(str(tmp / "reference.etrecord"))
        program = Runtime.get().load_program(str(artifact), enable_etdump=True, debug_buffer_size=int(2e8))
        program.load_method("forward").execute([example])
        program.write_etdump_result_to_file(str(tmp / "run.etdp"), str(tmp / "run.debug"))
        inspector = Inspector(etdump_path=str(tmp / "run.etdp"), etrecord=str(tmp / "reference.etrecord"),
                              debug_buffer_path=str(tmp / "run.debug"))
        gap = inspector.calculate_numeric_gap("L1")
        paths = _module_paths(etrecord)
    rows = []
    for _, r in gap.iterrows():
        a, b = r["aot_intermediate_output"], r["runtime_intermediate_output"]
        a = a[-1] if isinstance(a, (list, tuple)) else a
        b = b[-1] if isinstance(b, (list, tuple)) else b
        try:
            d, rel = _rel(np.asarray(b), np.asarray(a))
        except Exception:  # an output that is not a tensor (a shape, an int): nothing to compare
            continue
        ops = list(r["aot_ops"])
        rows.append({"runtime_op": ", ".join(map(str, r["runtime_ops"])), "ops": ops,
                     "modules": list(dict.fromkeys(paths[o] for o in ops if o in paths)), "max_abs": d, "rel": rel})
    if not rows:
        raise InputError(f"{artifact.name}: ETDump recorded no intermediate output to compare")
    first = next((r for r in rows if r["rel"] > tol), None)
    return {"method": "ExecuTorch ETDump + Inspector numeric gap against the reference lowered again from PyTorch",
            "tol": tol, "compared": len(rows), "first": first, "worst": sorted(rows, key=lambda r: -r["rel"])[:5],
            "output": rows[-1]}


__all__ = ["localize"]
