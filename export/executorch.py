"""ExecuTorch programs (.pte): XNNPACK fp32, XNNPACK int8 through PT2E, and a Core ML-delegated program for iOS.

    torch.export -> (int8: prepare_pt2e, calibrate, convert_pt2e, export again)
                 -> to_edge_transform_and_lower(partitioner) -> to_executorch -> .pte

The delegation report says how many nodes each delegate took and which operators stayed
outside it (those run on ExecuTorch's portable CPU kernels).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import torch

from edge_sdk.fileio import write_atomic

DELEGATES = ("xnnpack", "coreml", "none")


def _partitioner(delegate: str, precision: str):
    if delegate == "none":  # portable kernels only: every op is its own call (what --localize resolves best)
        return None
    if delegate == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return XnnpackPartitioner()
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    specs = CoreMLBackend.generate_compile_specs(
        minimum_deployment_target=ct.target.iOS17, compute_unit=ct.ComputeUnit.ALL,
        compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16)
    return CoreMLPartitioner(compile_specs=specs)


class LinearMeanLayerNorm(torch.nn.Module):
    """``nn.LayerNorm`` over the last dimension written with ops XNNPACK delegates: each mean is a ``linear`` with a
    constant 1/C row (ExecuTorch 1.5's XNNPACK partitioner has no layer norm, and its mean only pools 4-D maps over
    H and W), then subtract, square, rsqrt, scale and shift. The same values up to float rounding."""

    def __init__(self, norm: torch.nn.LayerNorm):
        super().__init__()
        (c,) = norm.normalized_shape
        self.eps = norm.eps
        self.register_buffer("mean_row", torch.full((1, c), 1.0 / c))
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - torch.nn.functional.linear(x, self.mean_row)
        var = torch.nn.functional.linear(centred * centred, self.mean_row)
        return centred * torch.rsqrt(var + self.eps) * self.weight + self.bias


def delegable_layer_norms(module: torch.nn.Module) -> tuple[torch.nn.Module, int]:
    """A copy of ``module`` with every affine, last-dimension ``nn.LayerNorm`` as :class:`LinearMeanLayerNorm`
    (fp32 XNNPACK programs: the native layer norm ran on portable kernels, 11% of MS-Eff-GCViT B0's time), and how
    many were swapped; ``module`` itself is left as it is (it is the parity reference)."""
    import copy

    norms = [n for n, m in module.named_modules() if isinstance(m, torch.nn.LayerNorm)
             and len(m.normalized_shape) == 1 and m.elementwise_affine and m.bias is not None]
    if not norms:
        return module, 0
    module = copy.deepcopy(module)
    for name in norms:
        parent, _, child = name.rpartition(".")
        owner = module.get_submodule(parent) if parent else module
        setattr(owner, child, LinearMeanLayerNorm(getattr(owner, child)))
    return module, len(norms)


def quantize_pt2e(module: torch.nn.Module, example: torch.Tensor, batches) -> torch.nn.Module:
    """int8 (per-channel symmetric weights, per-tensor activations) with the XNNPACK quantizer, calibrated."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(module, (example,)).module()
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for b in batches:
            prepared(torch.as_tensor(b))
    return convert_pt2e(prepared)


# The card's int8_float kinds as aten ops. The XNNPACK quantizer annotates convs, linears, adds, muls, pools and
# cats only, so these stay float in every int8 program; op_precisions shows it in the manifest
KIND_OPS = {"layer_norm": ("layer_norm", "native_layer_norm"), "softmax": ("softmax", "_softmax"),
            "gelu": ("gelu",)}


def op_precisions(graph_module) -> dict:
    """aten ops of a converted PT2E graph that the quantizer annotated (run int8 by XNNPACK) and those it left in
    float, with counts. An op between two quantized neighbours still sits between a dequantize and a quantize, so
    the annotation, which convert_pt2e keeps in each node's meta, is what says which ran int8."""
    from collections import Counter

    out = {"quantized": Counter(), "float": Counter()}
    for node in graph_module.graph.nodes:
        name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        if node.op != "call_function" or name.startswith(("quantize_per", "dequantize_per", "getitem")):
            continue
        annotated = getattr(node.meta.get("quantization_annotation"), "_annotated", False)
        out["quantized" if annotated else "float"][name] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def delegation_report(edge_program) -> dict:
    """Delegated subgraphs and nodes, and the operators left outside every delegate (with counts)."""
    gm = edge_program.exported_program().graph_module
    outside, delegated_calls = Counter(), 0
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if name == "executorch_call_delegate":
            delegated_calls += 1
        elif name != "getitem":
            outside[name] += 1
    report = {"delegated_subgraphs": delegated_calls, "ops_outside_delegate": dict(sorted(outside.items()))}
    try:
        from executorch.devtools.backend_debug import get_delegation_info

        info = get_delegation_info(gm)
        report.update(delegated_nodes=int(info.num_delegated_nodes), non_delegated_nodes=int(info.num_non_delegated_nodes))
    except Exception:  # the summary is a convenience; the walk above is the report
        pass
    return report


def export_executorch(module: torch.nn.Module, path: str | os.PathLike, example: torch.Tensor, precision: str = "fp32",
                      delegate: str = "xnnpack", batches=None) -> dict:
    """Write a .pte (atomically) and return step times and the delegation report.

    The program's input layout (``dim_order``) is taken from the example's strides, and ExecuTorch's runtime
    copies an input's bytes without checking its layout (pytorch/executorch#21837): a channels-last example makes
    a program that misreads ordinary NCHW input, and an NCHW program misreads channels-last photos. So the example
    is always cloned NCHW-contiguous here, the written program's input dim_order is checked, and the backend feeds
    contiguous tensors.
    """
    from executorch.exir import to_edge_transform_and_lower

    example = example.detach().clone(memory_format=torch.contiguous_format)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = {}
    t0 = time.perf_counter()
    if precision == "int8":
        if delegate != "xnnpack":
            raise ValueError("int8 ExecuTorch programs use the XNNPACK quantizer; Core ML int8 is the coreml target")
        module = quantize_pt2e(module, example, batches)
        times["quantize_s"] = round(time.perf_counter() - t0, 2)
        ops = op_precisions(module)
    swapped = 0
    if precision == "fp32" and delegate == "xnnpack":
        module, swapped = delegable_layer_norms(module)
    t1 = time.perf_counter()
    exported = torch.export.export(module, (example,))
    part = _partitioner(delegate, precision)
    edge = to_edge_transform_and_lower(exported, partitioner=[part] if part is not None else None)
    report = delegation_report(edge)
    program = edge.to_executorch()
    times["lower_s"] = round(time.perf_counter() - t1, 2)
    orders = input_dim_orders(program)
    if any(o != tuple(range(len(o))) for o in orders):
        raise RuntimeError(f"the lowered program's input dim_order is {orders}, not contiguous: its runtime would "
                           "misread NCHW inputs (pytorch/executorch#21837)")
    write_atomic(path, program.buffer)
    return {"delegate": delegate, **report, **times, "input_dim_order": [list(o) for o in orders],
            **({"layer_norms_as_linear_mean": swapped} if swapped else {}),
            **({"ops": ops} if precision == "int8" else {})}


def input_dim_orders(program) -> list[tuple[int, ...]]:
    """The dim order of each tensor input of an ExecuTorch program (contiguous NCHW: (0, 1, 2, 3))."""
    plan = program.executorch_program.execution_plan[0]
    return [tuple(plan.values[i].val.dim_order) for i in plan.inputs if hasattr(plan.values[i].val, "dim_order")]


def build(prep, path: Path, target, opts, ctx: dict) -> dict:
    """The ``executorch-*`` rows: the delegate and PT2E int8 come from the row's options."""
    quantize = target.options.get("quantize") == "pt2e"
    report = export_executorch(prep.module, path, prep.example(), precision="int8" if quantize else
                               target.options.get("compute", "fp32"), delegate=target.options.get("delegate", "xnnpack"),
                               batches=None if ctx["calib"] is None else ctx["calib"].batches(1))
    steps = {k: report.pop(k) for k in list(report) if k.endswith("_s")}
    info = {"steps": steps, "delegation": report}
    if quantize:
        from edge_sdk.card import kept_float_kinds

        ops = report.pop("ops")
        kinds = kept_float_kinds(ops, KIND_OPS, prep.card.int8_float)
        info["quantization"] = {"tool": "XNNPACKQuantizer (PT2E), per-channel symmetric weights", "ops": ops,
                                **({"kept_float_kinds": kinds} if kinds else {})}
    return info
