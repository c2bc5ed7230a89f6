"""ONNX export with the torch.export-based exporter, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, example: torch.Tensor, opset: int = 18,
                dynamic_batch: bool = False, input_name: str = "input", output_name: str = "logit") -> Path:
    """Export ``model`` (eval mode) for input like ``example`` to a single ONNX file at ``path``.

    The file appears only when the export succeeded: it is written beside ``path`` and renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dynamic = None
    if dynamic_batch:
        dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=256)}}
        if example.shape[0] == 1:  # torch.export specialises a size-1 dimension: trace with two
            example = example.expand(2, *example.shape[1:]).contiguous()
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent, prefix=f".{path.stem}.")
    os.close(fd)
    try:
        torch.onnx.export(model, (example,), tmp, opset_version=opset, dynamo=True, external_data=False,
                          input_names=[input_name], output_names=[output_name], dynamic_shapes=dynamic, verbose=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def max_tensor_rank(path: str | os.PathLike) -> tuple[int, str]:
    """The highest rank of any tensor in the graph after shape inference, and one tensor that has it."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    best = (0, "")
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        rank = len(vi.type.tensor_type.shape.dim)
        if rank > best[0]:
            best = (rank, vi.name)
    for init in graph.initializer:
        if len(init.dims) > best[0]:
            best = (len(init.dims), init.name)
    return best
