"""The one checkpoint loader: a zoo name, a checkpoint file or an exported artifact -> the model and what it was.

    loaded = edge_sdk.models.load("runs/r09/best.pt")          # edge-sdk train / distill checkpoint
    loaded = edge_sdk.models.load("ms_eff_gcvit_b0_ff++.bin")   # a DeepGuard release file (variant inferred)
    loaded = edge_sdk.models.load("repvit_m0_9_student", weights="r.pth")
    loaded = edge_sdk.models.load("artifacts/onnx-int8/b0.onnx")  # the checkpoint its manifest records
    loaded.model, loaded.card, loaded.crop, loaded.size, loaded.threshold, loaded.trained

export, bench, explain, eval, the distillation teacher and the torch backend all go through :func:`load`, so a
model trained at a non-default size (``img_size``) or with ``model_kwargs`` is rebuilt and fed the way it was
trained. Checkpoints are read with ``torch.load(weights_only=True)`` (or safetensors): a file that needs to run
code to load is refused, and every load is strict (each key consumed, shapes and dtypes checked).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from ..card import Card
from ..errors import CheckpointError, InputError
from ..preprocess import CropSpec
from ._registry import card_for, resolve_name
from .convert import read_checkpoint
from .vit_hf import NAME as VIT_HF
from .vit_hf import convert_state_dict, hf_checkpoint, vit_kwargs

def exported_suffixes() -> set[str]:
    """Every suffix a runtime backend of the target table loads, except the eager reference's (checkpoints)."""
    from .. import targets

    eager = targets.TARGETS[targets.REFERENCE].backend
    return {s for name, row in targets.BACKENDS.items() if name != eager for s in row.suffixes}


@dataclass
class Loaded:
    model: nn.Module               # eval mode
    name: str                      # zoo (or timm) name it was built from
    card: Card
    crop: CropSpec                 # the crop spec it was trained with (size included)
    kwargs: dict = field(default_factory=dict)      # model_kwargs it was built with
    checkpoint: str | None = None  # the file its weights came from (None: random init)
    sha256: str | None = None      # of that file
    threshold: float | None = None  # decision threshold chosen on validation, where recorded
    tag: str | None = None         # pretrained tag (published weights), where known
    meta: dict = field(default_factory=dict)        # epoch, metrics, ... as the checkpoint records them

    @property
    def trained(self) -> bool:
        return self.checkpoint is not None or self.tag is not None

    @property
    def size(self) -> int:
        return self.crop.size

    @property
    def frames(self) -> int | None:
        return getattr(self.model, "num_frames", None) if self.card.kind == "clip" else None

    def signature(self) -> dict:
        return self.card.signature(self.size, self.frames)

    def example(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, *self.signature()["shape"])

    def weights_record(self) -> dict:
        """What a manifest says of the weights: trained (checkpoint and its sha256, or a published tag) or random."""
        if self.checkpoint is not None:
            return {"trained": True, "checkpoint": self.checkpoint, "sha256": self.sha256}
        if self.tag is not None:
            return {"trained": True, "pretrained": f"{self.name}.{self.tag}"}
        seed = self.meta.get("seed")
        return {"trained": False, "seed": seed, "note": "random initialisation: scores are meaningless"
                + ("" if seed is None else f" (torch seed {seed}: `edge-sdk verify` rebuilds the same weights)")}


def _build(name: str, kwargs: dict, pretrained: bool = False) -> nn.Module:
    from . import create_model

    return create_model(name, pretrained=pretrained, **kwargs)


def _crop(model: nn.Module, card: Card, size: int | None, align: dict | None = None) -> CropSpec:
    """The card's crop at the model's size; ``align`` (a checkpoint's record of its index's crops) overrides how
    the face is framed: a model trained on landmark-aligned crops is fed them, one trained on box crops box crops."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    base = CropSpec.for_model({"input_size": cfg.get("input_size", (3, card.size, card.size)),
                               "mean": cfg.get("mean", CropSpec.mean), "std": cfg.get("std", CropSpec.std)},
                              **card.crop)
    native = getattr(model, "img_size", None)
    if isinstance(native, (tuple, list)):
        native = native[-1]
    base = replace(base, size=int(size or native or base.size))
    if align:
        base = replace(base, align=align.get("align", "box"), template=align.get("template") or ())
    return base


def _finish(model: nn.Module, name: str, size: int | None, align: dict | None = None, **rest) -> Loaded:
    card = card_for(name, model)
    model.eval()
    return Loaded(model=model, name=name, card=card, crop=_crop(model, card, size, align), **rest)


def load(source, *, weights: str | os.PathLike | None = None, model: str | None = None,
         kwargs: dict | None = None, pretrained: bool = False, seed: int = 0) -> Loaded:
    """``source``: a zoo (or timm) name, a checkpoint file, an exported artifact with a manifest, or a module.

    ``weights``: a checkpoint for a name or an artifact (instead of the one its manifest records). ``model``: the
    zoo name of a plain state dict that does not record it. ``kwargs``: model kwargs (a checkpoint's own win).
    ``seed``: the torch seed of a random initialisation (recorded, so the same weights can be rebuilt; the
    caller's random state is left as it was).
    """
    if isinstance(source, nn.Module):
        name = model or (getattr(source, "pretrained_cfg", None) or {}).get("architecture") or type(source).__name__
        if weights is None:
            return _finish(source, name, None)
        from ..assets import sha256
        from .convert import load_strict, read_state_dict

        load_strict(source, read_state_dict(weights), source=f"checkpoint {str(weights)!r}")
        return _finish(source, name, None, checkpoint=str(weights), sha256=sha256(Path(weights)))
    text = str(source)
    path = Path(text)
    if path.suffix.lower() in exported_suffixes():
        return _from_artifact(path, weights)
    if path.is_file() or (path.is_dir() and hf_checkpoint(path) is not None):
        if weights is not None:
            raise InputError(f"{path} is a checkpoint already; --weights {weights} is for a zoo name or an artifact")
        return _from_file(path, model, kwargs or {})
    if path.suffix in (".pt", ".pth", ".bin", ".ckpt", ".safetensors") or os.sep in text:
        raise CheckpointError(f"checkpoint {text!r} does not exist or is not a file")
    name = resolve_name(text)
    if weights is not None:
        return _from_file(Path(weights), name, kwargs or {})
    return _random_or_pretrained(name, kwargs or {}, pretrained, seed)


def _random_or_pretrained(name: str, kwargs: dict, pretrained: bool, seed: int) -> Loaded:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _build(name, kwargs, pretrained=pretrained)
    tag = (name.split(".", 1)[1] if "." in name else "default") if pretrained else None
    return _finish(net, name.split(".")[0], None, kwargs=dict(kwargs), tag=tag,
                   meta={} if pretrained else {"seed": seed})


def _from_file(path: Path, name: str | None, kwargs: dict) -> Loaded:
    from ..assets import sha256
    from .convert import infer_deepguard_variant, load_strict, read_state_dict, state_dict_of

    hf = hf_checkpoint(path) if path.exists() else None
    if hf is not None:  # a transformers ViT checkpoint: config.json decides the shape and the labels
        config, weights = hf
        if name and resolve_name(name).split(".")[0] != VIT_HF:
            raise CheckpointError(f"checkpoint {str(path)!r} is a transformers ViT ({VIT_HF}), not a {name}")
        kw = vit_kwargs(config)
        net = _build(VIT_HF, kw)
        load_strict(net, convert_state_dict(read_state_dict(str(weights)), config, str(path)),
                    source=f"checkpoint {str(path)!r}")
        return _finish(net, VIT_HF, None, kwargs=kw, checkpoint=str(path), sha256=sha256(weights),
                       meta={"labels": config.get("id2label")})
    data = read_checkpoint(path)
    recorded = data.get("model_name") if isinstance(data.get("model_name"), str) else None
    sd = state_dict_of(data, f"checkpoint {str(path)!r}")
    if recorded and name and resolve_name(recorded).split(".")[0] != resolve_name(name).split(".")[0]:
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {recorded}, not a {name}")
    name = recorded or name or _manifest_model(path)
    if name is None:
        name = infer_deepguard_variant(sd)
        if name is None:
            raise InputError(f"checkpoint {str(path)!r} does not name its model (a plain state dict): give the zoo "
                             "name with --model / --arch")
    name = resolve_name(name)
    kw = {**kwargs, **(data.get("model_kwargs") or {})}
    net = _build(name, kw)
    load_strict(net, sd, source=f"checkpoint {str(path)!r}")
    size = data.get("img_size")
    meta = {k: data[k] for k in ("epoch", "metrics") if k in data}
    thr = data.get("threshold")
    align = data.get("crop_align") if isinstance(data.get("crop_align"), dict) else None
    return _finish(net, name, int(size) if size else None, align, kwargs=kw, checkpoint=str(path), sha256=sha256(path),
                   threshold=float(thr) if thr is not None else None, meta=meta)


def _manifest_model(path: Path) -> str | None:
    """The model a checkpoint's own manifest (an exported torch artifact) names, if it has one."""
    from .. import manifest

    try:
        return manifest.load(path, verify_sha256=False)["model"]["name"]
    except Exception:  # no manifest beside it: the caller says what to give
        return None


def _from_artifact(path: Path, weights) -> Loaded:
    from .. import manifest

    m = manifest.load(path, verify_sha256=False)
    recorded = m.get("weights") or {}
    ckpt = weights or recorded.get("checkpoint") or m["model"].get("checkpoint")
    kwargs = dict(m["model"].get("kwargs") or {})
    if ckpt is not None:
        return _from_file(Path(ckpt), m["model"]["name"], kwargs)
    if recorded.get("pretrained"):
        return _random_or_pretrained(recorded["pretrained"], kwargs, True, 0)
    if recorded.get("seed") is not None:
        return _random_or_pretrained(resolve_name(m["model"]["name"]), kwargs, False, int(recorded["seed"]))
    raise InputError(f"{path} is an exported {m['target']} artifact of weights its manifest cannot rebuild (a module "
                     "passed in from Python, no checkpoint recorded): pass the checkpoint it was exported from with "
                     "--weights")


__all__ = ["Loaded", "load", "read_checkpoint"]
