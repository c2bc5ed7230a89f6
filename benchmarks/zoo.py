"""Model-zoo report: input size, parameters, MACs and FLOPs, parameter split, per model.

Compute is counted with ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass at the
model's native input (one clip for video models). It counts matrix multiplies and convolutions
(including attention); element-wise ops are not counted. FLOPs = 2 x MACs: published tables
often print MACs under the name "FLOPs" (DeepGuard's 0.87 / 13.64 are MACs).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .machine import machine

DEFAULT_MODELS = ("ms_eff_gcvit_b0", "ms_eff_gcvit_b5", "repvit_m0_9_student", "repvit_m1_1_student", "clip_fcg_vit_b32",
                  "clip_fcg_vit_b16", "vit_b16_hf_deepfake", "m2tr_b4", "megatron_rgbd")


@dataclass
class ZooEntry:
    model: str
    input_shape: list[int]
    params_m: float
    trainable_m: float
    deploy_params_m: float  # after reparameterize(): what an exported artifact carries
    macs_g: float
    flops_g: float
    split_m: dict[str, float] = field(default_factory=dict)


def count_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def _millions(params) -> float:
    return round(sum(p.numel() for p in params) / 1e6, 3)


def describe(name: str) -> ZooEntry:
    from edge_sdk.models import load, reparameterize

    loaded = load(name)
    model = loaded.model
    shape = [1, *loaded.signature()["shape"]]
    deployed = reparameterize(model)
    flops = count_flops(deployed, torch.zeros(shape))
    split = {}
    if hasattr(model, "param_groups"):
        split = {k: _millions(v) for k, v in model.param_groups().items()}
    elif hasattr(model, "clip"):
        split = {"clip_frozen": _millions(model.clip.parameters()), "side_network": _millions(model.trainable_parameters())}
    return ZooEntry(
        model=name, input_shape=shape, params_m=_millions(model.parameters()),
        trainable_m=_millions(p for p in model.parameters() if p.requires_grad),
        deploy_params_m=_millions(deployed.parameters()),
        macs_g=round(flops / 2e9, 3), flops_g=round(flops / 1e9, 3), split_m=split,
    )


def to_markdown(entries: list[ZooEntry]) -> str:
    lines = [
        "| model | input | params (M) | trainable (M) | deployed params (M) | MACs (G) | FLOPs (G) | parameter split (M) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        split = ", ".join(f"{k} {v:.2f}" for k, v in e.split_m.items()) or "-"
        shape = "x".join(str(s) for s in e.input_shape[1:])
        lines.append(f"| {e.model} | {shape} | {e.params_m:.2f} | {e.trainable_m:.2f} | {e.deploy_params_m:.2f} | "
                     f"{e.macs_g:.2f} | {e.flops_g:.2f} | {split} |")
    return "\n".join(lines)


def zoo_report(models: tuple[str, ...] | list[str] = DEFAULT_MODELS, out_dir: str | Path | None = None,
               command: str = "edge-sdk zoo") -> list[ZooEntry]:
    """Describe each model; with ``out_dir``, write ``zoo.md`` and ``zoo.json`` (with ``command``) there."""
    from tqdm import tqdm

    entries = [describe(m) for m in tqdm(list(models), desc="zoo", unit="model")]
    if out_dir is not None:
        from edge_sdk.fileio import write_atomic

        out = Path(out_dir)
        note = ("Counted with torch.utils.flop_counter (matmul/conv/attention; element-wise ops not counted), "
                "one forward at the native input; FLOPs = 2 x MACs. Deployed = after reparameterize().")
        write_atomic(out / "zoo.md", to_markdown(entries) + f"\n\n{note}\n")
        write_atomic(out / "zoo.json", json.dumps({"command": command, "machine": machine(), "note": note,
                                                        "models": [asdict(e) for e in entries]}, indent=2))
    return entries
