"""Hugging Face ViT deepfake detectors (seed 001): ``google/vit-base-patch16-224-in21k`` fine-tuned with a
2-class head ("Real" / "Fake") and run through ``transformers``' ``ViTForImageClassification``.

The network is timm's ``VisionTransformer`` (class token, pre-norm blocks, final LayerNorm, the class token's
output to the head), configured from the checkpoint's ``config.json``: LayerNorm eps 1e-12, exact GELU, qkv bias.
timm rather than transformers so that the runtime, the exporters and the students' code see one kind of model
and ``transformers`` stays a test / training dependency; ``tests/test_vit_hf.py`` checks it equals
``ViTForImageClassification`` within 1e-4, on a tiny config and at the full ViT-B/16 shape, for both label orders.

Weights are converted from transformers' names to timm's (q, k, v concatenated into ``qkv``). The SDK's one
logit is ``logit_fake - logit_real``, so its sigmoid is the 2-class softmax's P(fake); which class is fake is read
from ``config.json``'s ``id2label`` by name, never by position. Preprocessing is ``ViTImageProcessor``'s: the crop
stretched to 224, mean and std 0.5.

    edge_sdk.models.load("path/to/save_pretrained_folder")          # config.json + model.safetensors (or .bin)
    edge_sdk.models.load("vit_b16_hf_deepfake.celebdfv2", pretrained=True)   # from the hub (network)
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer

from ..card import Card, ExplainLayer, Licence
from ..errors import CheckpointError
from ._registry import register_card

NAME = "vit_b16_hf_deepfake"
FAKE_WORDS = ("fake", "deepfake", "deep-fake", "deep_fake", "spoof", "manipulated", "synthetic", "forged")
REAL_WORDS = ("real", "realism", "genuine", "bonafide", "bona fide", "bona-fide", "pristine", "original", "live")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# pretrained tag -> the Hugging Face repository its weights and config.json come from
HUB = {"prithivmlmods": "prithivMLmods/Deep-Fake-Detector-Model",
       "celebdfv2": "ashwin-raikar/vit-deepfake-detector-celebdfv2"}
MEAN = STD = (0.5, 0.5, 0.5)


def _cfg(tag: str | None = None, size: int = 224) -> dict:
    return {"architecture": NAME, "input_size": (3, size, size), "fixed_input_size": True, "mean": MEAN, "std": STD,
            "interpolation": "bilinear", "crop_pct": 1.0, "num_classes": 1,
            **({"hf_hub_id": HUB[tag], "tag": tag} if tag else {})}


def vit_kwargs(config: dict) -> dict:
    """timm VisionTransformer kwargs from a transformers ``ViTConfig`` (as read from config.json)."""
    if config.get("model_type", "vit") != "vit":
        raise CheckpointError(f"config.json has model_type {config.get('model_type')!r}, not a ViT")
    hidden = int(config.get("hidden_size", 768))
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        raise CheckpointError(f"config.json: hidden_act {act!r} is not supported (transformers' ViT uses 'gelu')")
    return {"img_size": int(config.get("image_size", 224)), "patch_size": int(config.get("patch_size", 16)),
            "in_chans": int(config.get("num_channels", 3)), "embed_dim": hidden,
            "depth": int(config.get("num_hidden_layers", 12)), "num_heads": int(config.get("num_attention_heads", 12)),
            "mlp_ratio": int(config.get("intermediate_size", 4 * hidden)) / hidden,
            "qkv_bias": bool(config.get("qkv_bias", True)), "ln_eps": float(config.get("layer_norm_eps", 1e-12))}


def fake_real_indices(config: dict, source: str) -> tuple[int, int]:
    """(index of the fake class, index of the real class) from ``id2label``, by name."""
    labels = {int(k): str(v) for k, v in (config.get("id2label") or {}).items()} or \
        {i: f"LABEL_{i}" for i in range(int(config.get("num_labels", 2)))}  # none saved: transformers' defaults
    fake = [i for i, v in labels.items() if v.strip().lower() in FAKE_WORDS]
    real = [i for i, v in labels.items() if v.strip().lower() in REAL_WORDS]
    if len(fake) != 1 or len(real) != 1:
        raise CheckpointError(f"{source}: id2label {labels} does not name one fake and one real class (a fake is "
                              f"one of {', '.join(FAKE_WORDS)}; a real one of {', '.join(REAL_WORDS)}): not a "
                              "real/fake detector")
    return fake[0], real[0]


# transformers 5 names its modules anew in memory (and in a plain torch.save of its state dict); save_pretrained and
# the hub keep the names above. Both are read.
_V5 = ((r"^layers\.(\d+)\.attention\.q_proj\.", r"encoder.layer.\1.attention.attention.query."),
       (r"^layers\.(\d+)\.attention\.k_proj\.", r"encoder.layer.\1.attention.attention.key."),
       (r"^layers\.(\d+)\.attention\.v_proj\.", r"encoder.layer.\1.attention.attention.value."),
       (r"^layers\.(\d+)\.attention\.o_proj\.", r"encoder.layer.\1.attention.output.dense."),
       (r"^layers\.(\d+)\.mlp\.fc1\.", r"encoder.layer.\1.intermediate.dense."),
       (r"^layers\.(\d+)\.mlp\.fc2\.", r"encoder.layer.\1.output.dense."),
       (r"^layers\.(\d+)\.", r"encoder.layer.\1."))


def _hub_names(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        k = k.removeprefix("vit.")
        for pattern, repl in _V5:
            k, n = re.subn(pattern, repl, k)
            if n:
                break
        out[k] = v
    return out


def convert_state_dict(sd: dict, config: dict, source: str = "checkpoint") -> dict:
    """transformers ``ViTForImageClassification`` names -> timm ``VisionTransformer`` with a one-logit head."""
    sd = _hub_names(sd)
    fake, real = fake_real_indices(config, source)
    depth = int(config.get("num_hidden_layers", 12))
    out = {"cls_token": sd["embeddings.cls_token"], "pos_embed": sd["embeddings.position_embeddings"],
           "patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"],
           "patch_embed.proj.bias": sd["embeddings.patch_embeddings.projection.bias"],
           "norm.weight": sd["layernorm.weight"], "norm.bias": sd["layernorm.bias"]}
    for i in range(depth):
        p, q = f"encoder.layer.{i}.", f"blocks.{i}."
        att = p + "attention.attention."
        for part in ("weight", "bias"):
            if att + f"query.{part}" in sd:
                out[q + f"attn.qkv.{part}"] = torch.cat([sd[att + f"{n}.{part}"] for n in ("query", "key", "value")])
        for src, dst in (("attention.output.dense", "attn.proj"), ("layernorm_before", "norm1"),
                         ("layernorm_after", "norm2"), ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2")):
            for part in ("weight", "bias"):
                out[q + f"{dst}.{part}"] = sd[p + f"{src}.{part}"]
    w, b = sd["classifier.weight"], sd["classifier.bias"]
    out["head.weight"] = (w[fake] - w[real]).unsqueeze(0)
    out["head.bias"] = (b[fake] - b[real]).reshape(1)
    qkv_bias = bool(config.get("qkv_bias", True))
    unknown = {k for k in sd if not k.startswith("pooler.")} - _consumed(depth, qkv_bias)
    if unknown:
        raise CheckpointError(f"{source}: keys this converter does not know: {sorted(unknown)[:8]}")
    return out


def _consumed(depth: int, qkv_bias: bool) -> set[str]:
    names = {"embeddings.cls_token", "embeddings.position_embeddings", "embeddings.patch_embeddings.projection.weight",
             "embeddings.patch_embeddings.projection.bias", "layernorm.weight", "layernorm.bias",
             "classifier.weight", "classifier.bias"}
    for i in range(depth):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            names |= {p + f"attention.attention.{n}.weight"} | ({p + f"attention.attention.{n}.bias"} if qkv_bias
                                                                 else set())
        for src in ("attention.output.dense", "layernorm_before", "layernorm_after", "intermediate.dense",
                    "output.dense"):
            names |= {p + f"{src}.weight", p + f"{src}.bias"}
    return names


def hf_checkpoint(path: Path) -> tuple[dict, Path] | None:
    """(config, weights file) when ``path`` is a transformers ViT checkpoint: a ``save_pretrained`` folder, or a
    ``model.safetensors`` / ``pytorch_model.bin`` beside its ``config.json``; None for anything else."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    config_path = folder / "config.json"
    if not config_path.is_file() or (path.is_file() and not path.name.endswith((".safetensors", ".bin"))):
        return None
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(config, dict) or config.get("model_type") != "vit":
        return None
    archs = config.get("architectures") or ["ViTForImageClassification"]
    if "ViTForImageClassification" not in archs:
        raise CheckpointError(f"{config_path}: architectures {archs}: only transformers' ViTForImageClassification "
                              "checkpoints load as the HF ViT detector")
    if path.is_file():
        return config, path
    weights = next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{folder}: config.json but neither {' nor '.join(WEIGHT_FILES)} (a sharded "
                              "checkpoint? save it with save_pretrained(..., max_shard_size='10GB'))")
    return config, weights


def read_weights(weights: Path) -> dict:
    from .convert import read_state_dict

    return read_state_dict(str(weights))


def from_hub(tag: str) -> tuple[dict, dict]:
    """config.json and the state dict of a published checkpoint (network; huggingface_hub's cache)."""
    from huggingface_hub import hf_hub_download

    repo, last = HUB[tag], None
    config = json.loads(Path(hf_hub_download(repo, "config.json")).read_text())
    for name in WEIGHT_FILES:
        try:
            return config, read_weights(Path(hf_hub_download(repo, name)))
        except Exception as err:  # the other file name; the last error is the one raised
            last = err
    raise last


def build(config: dict | None = None, **kwargs) -> VisionTransformer:
    """timm's VisionTransformer in transformers' ViT layout (``config``: a ViTConfig dict; kwargs override)."""
    kw = {**(vit_kwargs(config) if config is not None else {}), **kwargs}
    eps = kw.pop("ln_eps", 1e-12)
    kw.setdefault("num_classes", 1)
    return VisionTransformer(global_pool="token", class_token=True, norm_layer=partial(nn.LayerNorm, eps=eps), **kw)


@register_model
def vit_b16_hf_deepfake(pretrained: bool = False, pretrained_cfg=None, pretrained_cfg_overlay=None, cache_dir=None,
                        **kwargs) -> nn.Module:
    """ViT-B/16 (transformers' ViTForImageClassification layout) with one logit = logit_fake - logit_real.
    ``pretrained=True``: the tag's Hugging Face checkpoint (``vit_b16_hf_deepfake.celebdfv2``), network needed."""
    tag = getattr(pretrained_cfg, "tag", None) or (pretrained_cfg if isinstance(pretrained_cfg, str) else None)
    tag = tag or "prithivmlmods"
    if tag not in HUB:
        raise CheckpointError(f"{NAME}: unknown pretrained tag {tag!r} (one of {', '.join(HUB)})")
    config, sd = from_hub(tag) if pretrained else (None, None)
    model = build(config, **kwargs)
    model.pretrained_cfg = model.default_cfg = _cfg(tag if pretrained else None, model.patch_embed.img_size[-1])
    if pretrained:
        from .convert import load_strict

        load_strict(model, convert_state_dict(sd, config, HUB[tag]), source=HUB[tag])
    return model


register_card(Card(
    name=NAME, family="vit_hf", role="teacher", size=224, fixed_size=True,
    summary="ViT-B/16 (google/vit-base-patch16-224-in21k) fine-tuned as a real/fake classifier with transformers; "
            "one logit = logit_fake - logit_real (seed 001)",
    licence=Licence(code="Apache-2.0 (transformers' ViT; timm's VisionTransformer runs it)",
                    weights={"prithivmlmods": "prithivMLmods/Deep-Fake-Detector-Model: see its Hugging Face card "
                                              "(trained on Hemg/deepfake-and-real-images)",
                             "celebdfv2": "ashwin-raikar/vit-deepfake-detector-celebdfv2: see its Hugging Face card "
                                          "(Celeb-DF v2 face crops, 256x256, at most 5 frames per video)"},
                    note="the published detectors report 0.69-0.70 accuracy out of distribution (seed 001)"),
    crop={"margin": 0.2, "resize": "stretch"},
    explain={"last": ExplainLayer("blocks.11.norm1", "tokens", "gradcam")},  # the last block, before attention
    reference="transformers ViTForImageClassification (ViTImageProcessor: resize 224, mean/std 0.5); the training "
              "crops were 256x256 face images that the processor resized to 224",
    export_limits={"ncnn": "timm's attention reshapes q, k and v into one 5-D tensor and unbinds it along axis 0; "
                           "NCNN has no 5-D blobs, and pnnx drops Tensor.reshape and torch.unbind (make bench-vit)"},
    int8_float=("layer_norm", "softmax", "gelu"),  # int8 quantizes the matmuls; these stay float (Card.FLOAT_KINDS)
))
