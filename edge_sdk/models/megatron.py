"""Megatron (seed 002): an RGB + depth temporal detector over a clip of face crops.

After valerio98-lab/Megatron_DeepFake (MIT; ``src/megatron/model.py``, ``trans_one.py``, ``preprocessing.py``):

* **depth** (:class:`DepthMap`): Depth-Anything-V2-Small (transformers' ``DepthAnythingForDepthEstimation``, 24.8M
  parameters, Apache-2.0) on each crop at ``depth_size`` (518 upstream; any multiple of 14), its relative depth
  resized back to the crop, divided by the crop's maximum as transformers 4.44's depth-estimation pipeline did for the public code
  (``depth * 255 / max``, here without the rounding to 8 bits; today's pipeline scales min-max) and repeated to 3 channels, as the public code stacks it;
* **embedder** (:class:`Embedder`): one frozen RepViT-M0.9 (``repvit_m0_9.dist_300e_in1k``) embeds the RGB crop and
  the depth map alike into its 384-d pre-logits, its input in [0, 1] (the public code divides by 255 and
  normalises no further);
* **temporal head** (:class:`TemporalHead`, the public ``TransformerFakeDetector`` with the same parameter names, so
  its checkpoints load strictly): a sinusoidal positional encoding (up to 50 frames), encoder layers *shared* by
  the two streams (pre-norm multi-head attention with no residual, then LayerNorm and a ReLU feed-forward, as
  published), a LayerNorm per stream, a bidirectional cross-attention (image queries over depth keys and values and
  the reverse, concatenated and projected), an average over time and a 2-class linear layer whose class 0 is fake.
  The SDK's one logit is ``z_fake - z_real``: its sigmoid is the public softmax's P(fake) exactly.

**Missing frames are masked, never invented.** ``valid`` (B, T), 1 for a frame with a face and a depth map, removes
the others from every attention's keys and from the average over time, so what an invalid frame holds changes
nothing. With every frame valid (or ``valid`` None) the head is the public one, number for number.

The full model (:class:`MegatronRGBD`) takes a clip ``(B, T, 3, H, W)`` in [0, 1] (and optionally ``valid``); its
three parts export on their own as a bundle (:meth:`MegatronRGBD.parts`), the head taking one packed tensor
``(B, T, 2 * 384 + 1)``: RGB embeddings, depth embeddings, validity (:class:`PackedHead`).
"""

from __future__ import annotations

import math
from pathlib import Path

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import generate_default_cfgs, register_model

from ..card import Card, Licence, Stream
from ..errors import InputError
from ._pretrained import guarded, weights_error
from ._registry import register_card

__all__ = ["MegatronRGBD", "TemporalHead", "PackedHead", "DepthMap", "Embedder", "megatron_rgbd",
           "depth_anything", "depth_anything_config", "pack", "DEPTH_HUB", "EMBEDDER"]

DEPTH_HUB = "depth-anything/Depth-Anything-V2-Small-hf"
EMBEDDER = "repvit_m0_9.dist_300e_in1k"
INT8_ROWS = ("onnx-int8", "executorch-int8", "tensorrt-int8", "openvino-int8", "litert-int8", "coreml-w8a8")
MASKED = -1e4  # added to the attention scores of invalid frames (finite, so fp16 artifacts hold it)


# Depth Anything V2 structures: ``small`` is Depth-Anything-V2-Small (DINOv2 ViT-S/14 backbone, DPT neck); ``tiny``
# a random 4-layer stand-in of the same structure for tests and smoke runs. (hidden, layers, heads, mlp, image size,
# backbone taps, neck widths, fusion width, head width)
DEPTH_CONFIGS = {"small": (384, 12, 6, 1536, 518, [3, 6, 9, 12], [48, 96, 192, 384], 64, 32),
                 "tiny": (32, 4, 2, 64, 56, [1, 2, 3, 4], [8, 16, 32, 32], 16, 8)}


def depth_anything_config(name: str | dict = "small"):
    """transformers' ``DepthAnythingConfig`` of a :data:`DEPTH_CONFIGS` entry, or of a config's ``to_dict()`` (what a
    checkpoint records of a depth model that came from the hub or a folder)."""
    from transformers import DepthAnythingConfig, Dinov2Config

    if isinstance(name, dict):
        return DepthAnythingConfig.from_dict(name)
    if name not in DEPTH_CONFIGS:
        raise InputError(f"depth_config must be one of {', '.join(DEPTH_CONFIGS)}, got {name!r}")
    hidden, layers, heads, mlp, image, taps, neck, fusion, head = DEPTH_CONFIGS[name]
    backbone = Dinov2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                            intermediate_size=mlp, patch_size=14, image_size=image, out_indices=taps,
                            reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=hidden, patch_size=14,
                               neck_hidden_sizes=neck, fusion_hidden_size=fusion, head_hidden_size=head,
                               depth_estimation_type="relative")


def depth_anything(weights: str | None = None, config: str | dict = "small") -> nn.Module:
    """Depth Anything V2 through transformers: ``weights`` None is a random ``config``; ``"hub"`` fetches
    Depth-Anything-V2-Small (network); a folder is a ``save_pretrained`` copy (offline)."""
    from transformers import DepthAnythingForDepthEstimation

    if weights is None:
        return DepthAnythingForDepthEstimation(depth_anything_config(config))
    if weights == "hub":
        try:
            return DepthAnythingForDepthEstimation.from_pretrained(DEPTH_HUB)
        except Exception as err:  # offline: one error naming the local-folder way
            raise weights_error(f"{DEPTH_HUB} (depth)", err) from err
    folder = Path(weights)
    if not (folder / "config.json").is_file():
        raise InputError(f"depth_weights {weights!r}: not a save_pretrained folder (no config.json); give a folder "
                         f"holding {DEPTH_HUB}'s files, or 'hub' to fetch it")
    return DepthAnythingForDepthEstimation.from_pretrained(str(folder))


class DepthMap(nn.Module):
    """Crops (N, 3, H, W) in [0, 1] -> relative depth (N, 3, H, W) in [0, 1], larger is nearer.

    The crop is resized to ``size`` (a multiple of 14) and ImageNet-normalised as Depth Anything's processor does;
    the prediction is resized back to the crop, divided by its maximum and repeated to three channels."""

    def __init__(self, net: nn.Module, size: int = 518):
        super().__init__()
        if size % 14 or size < 14:
            raise InputError(f"depth_size must be a positive multiple of 14 (Depth Anything's patch), got {size}")
        self.net, self.size = net, int(size)
        self.register_buffer("mean", torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        d = self.net(pixel_values=(y - self.mean) / self.std).predicted_depth  # (N, size, size)
        d = F.interpolate(d.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False)
        d = torch.relu(d)  # the head ends in a ReLU already; kept so the division below never sees a negative
        d = d / d.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        return d.expand(-1, 3, -1, -1)


class Embedder(nn.Module):
    """RepViT's pre-logits for crops (N, 3, H, W) in [0, 1] -> (N, 384)."""

    def __init__(self, name: str = EMBEDDER, pretrained: bool = False, weights: str | None = None,
                 norm: tuple | None = None):
        super().__init__()
        if weights is not None:  # a frame model trained here (any checkpoint the one loader reads) of the same arch
            self.net, norm = _frame_backbone(name, weights, norm)
        else:
            self.net = guarded(name, pretrained, lambda: timm.create_model(name, pretrained=pretrained, num_classes=0))
        self.dim = int(self.net.num_features)
        # (mean, std) the embedder's weights expect of a [0, 1] crop; None: none (the public code feeds [0, 1])
        self.norm = None if norm is None else (tuple(map(float, norm[0])), tuple(map(float, norm[1])))
        if self.norm is not None:
            self.register_buffer("mean", torch.tensor(self.norm[0]).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(self.norm[1]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x if self.norm is None else (x - self.mean) / self.std)


def _frame_backbone(name: str, weights: str, norm: tuple | None) -> tuple[nn.Module, tuple | None]:
    """The backbone of the frame model in checkpoint ``weights`` (its classifier removed: timm's reset_classifier) and
    the normalisation it was trained with (``norm`` unless given)."""
    from .loader import load

    loaded = load(str(weights))
    if loaded.name != name or not hasattr(loaded.model, "reset_classifier"):
        raise InputError(f"embedder_weights {weights}: a {loaded.name} checkpoint, but the embedder is the timm model "
                         f"{name}")
    loaded.model.reset_classifier(0)
    crop = loaded.crop
    if norm is None and not crop.normalize_in_model:
        norm = (tuple(crop.mean), tuple(crop.std))
    return loaded.model, norm


def sinusoid(max_len: int, d_model: int) -> torch.Tensor:
    """The public code's positional encoding: sin on even channels, cos on odd, base 10000."""
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


def _scores_mask(valid: torch.Tensor | None) -> torch.Tensor | None:
    """(B, T) validity -> (B, 1, T) additive mask over keys (0 valid, MASKED invalid), or None."""
    return None if valid is None else ((1.0 - valid) * MASKED).unsqueeze(1)


class CrossAttention(nn.Module):
    """Image queries over depth keys/values and depth over image, concatenated and projected (public names)."""

    def __init__(self, d_image: int, d_depth: int, d_attn: int, dropout: float = 0.1):
        super().__init__()
        self.d_attn = d_attn
        self.dropout = nn.Dropout(dropout)
        self.W_Q_image, self.W_K_depth, self.W_V_depth = (nn.Linear(d_image, d_attn), nn.Linear(d_depth, d_attn),
                                                          nn.Linear(d_depth, d_attn))
        self.W_Q_depth, self.W_K_image, self.W_V_image = (nn.Linear(d_depth, d_attn), nn.Linear(d_image, d_attn),
                                                          nn.Linear(d_image, d_attn))
        self.W_final = nn.Linear(2 * d_attn, d_attn)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.norm_image, self.norm_depth = nn.LayerNorm(d_attn), nn.LayerNorm(d_attn)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        scores = q @ k.transpose(1, 2) / self.d_attn ** 0.5
        if mask is not None:
            scores = scores + mask
        return self.dropout(scores.softmax(-1)) @ v

    def forward(self, image: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        mask = _scores_mask(valid)
        # As published, one LayerNorm per modality serves both its queries and its keys.
        to_depth = self._attend(self.norm_image(self.W_Q_image(image)), self.norm_depth(self.W_K_depth(depth)),
                                self.W_V_depth(depth), mask)
        to_image = self._attend(self.norm_depth(self.W_Q_depth(depth)), self.norm_image(self.W_K_image(image)),
                                self.W_V_image(image), mask)
        return self.W_final(torch.cat([to_depth, to_image], dim=-1))


class EncoderLayer(nn.Module):
    """The public ``TransformerEncoderLayer``: pre-norm self-attention with no residual (the public code comments
    its skip connection out), LayerNorm, ReLU feed-forward."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        kpm = None if valid is None else (1.0 - valid) * MASKED  # float key-padding mask: added to the scores
        h = self.self_attn(h, h, h, key_padding_mask=kpm, need_weights=False)[0]
        return self.linear2(self.dropout(F.relu(self.linear1(self.norm2(h)))))


class Encoder(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_layers: int, d_ff: int, dropout: float = 0.1):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(n_layers)])
        self.cross_attn = CrossAttention(d_model, d_model, d_model, dropout)
        self.norm_rgb, self.norm_depth = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:  # one set of layers serves both streams, as published
            rgb, depth = layer(rgb, valid), layer(depth, valid)
        return self.cross_attn(self.norm_rgb(rgb), self.norm_depth(depth), valid)


class TemporalHead(nn.Module):
    """Embeddings of T frames per stream (B, T, D) (+ validity (B, T)) -> one logit (B, 1): P(fake) = sigmoid.

    Parameter names are the public ``TransformerFakeDetector``'s: its ``state_dict`` loads strictly."""

    def __init__(self, d_model: int = 384, n_heads: int = 2, n_layers: int = 1, d_ff: int = 1024,
                 dropout: float = 0.1, max_len: int = 50):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("pe", sinusoid(max_len, d_model), persistent=False)
        self.encoder = Encoder(d_model, n_heads, n_layers, d_ff, dropout)
        self.classifier = nn.Linear(d_model, 2)  # class 0 = fake, as published

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        T = rgb.shape[1]
        if rgb.shape != depth.shape or rgb.ndim != 3 or rgb.shape[-1] != self.d_model or T > self.max_len:
            raise InputError(f"the temporal head takes RGB and depth embeddings shaped (B, T <= {self.max_len}, "
                             f"{self.d_model}), got {tuple(rgb.shape)} and {tuple(depth.shape)}")
        pe = self.pe[:T]
        out = self.encoder(rgb + pe, depth + pe, valid)  # (B, T, D)
        if valid is None:
            pooled = out.mean(1)
        else:
            w = valid.unsqueeze(-1)
            pooled = (out * w).sum(1) / w.sum(1).clamp_min(1.0)
        z = self.classifier(pooled)
        return z[:, :1] - z[:, 1:]


class PackedHead(nn.Module):
    """The head as one-input artifact: (B, T, 2D + 1) = [RGB embedding | depth embedding | valid] -> (B, 1)."""

    def __init__(self, head: TemporalHead):
        super().__init__()
        self.head = head

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        d = self.head.d_model
        return self.head(packed[..., :d], packed[..., d:2 * d], packed[..., 2 * d])


def pack(rgb: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The packed head input of :class:`PackedHead` from its three parts."""
    if valid is None:
        valid = rgb.new_ones(rgb.shape[:2])
    return torch.cat([rgb, depth, valid.to(rgb.dtype).unsqueeze(-1)], dim=-1)


class MegatronRGBD(nn.Module):
    """Depth Anything + a shared frozen RepViT + the temporal RGB-D head, on clips (B, T, 3, H, W) in [0, 1]."""

    def __init__(self, num_frames: int = 20, depth_size: int = 518, depth_weights: str | None = None,
                 depth_config: str | dict = "small", embedder: str = EMBEDDER, embedder_pretrained: bool = False,
                 embedder_weights: str | None = None, embedder_norm: tuple | None = None,
                 d_model: int = 384, n_heads: int = 2, n_layers: int = 1, d_ff: int = 1024, dropout: float = 0.1,
                 max_len: int = 50, freeze: bool = True, num_classes: int = 1, in_chans: int = 3):
        super().__init__()
        if num_classes != 1 or in_chans != 3:
            raise InputError(f"megatron_rgbd gives one logit from RGB crops (num_classes=1, in_chans=3), got "
                             f"num_classes={num_classes}, in_chans={in_chans}")
        if not 1 <= num_frames <= max_len:
            raise InputError(f"num_frames must be 1..{max_len} (the positional encoding's length), got {num_frames}")
        self.num_frames, self.freeze = int(num_frames), bool(freeze)
        self.weight_sources = {"depth_weights": depth_weights, "embedder_pretrained": embedder_pretrained,
                               "embedder_weights": embedder_weights}
        self.depth = DepthMap(depth_anything(depth_weights, depth_config), depth_size)
        self.embedder = Embedder(embedder, embedder_pretrained, embedder_weights, embedder_norm)
        if self.embedder.dim != d_model:
            raise InputError(f"the embedder {embedder} gives {self.embedder.dim}-d features; d_model is {d_model}")
        self.head = TemporalHead(d_model, n_heads, n_layers, d_ff, dropout, max_len)
        if self.freeze:  # the depth model and the embedder are frozen, as published: only the head trains
            for p in [*self.depth.parameters(), *self.embedder.parameters()]:
                p.requires_grad_(False)
        self.num_classes = 1
        # Training may attach a cache of the frozen parts' outputs per crop (edge_sdk.distill.embedding_cache):
        # ``cache(crops, compute) -> (rgb, depth)``, calling ``compute`` for the crops it has not seen.
        self.embedding_cache = None

    def train(self, mode: bool = True) -> "MegatronRGBD":
        super().train(mode)
        if self.freeze:  # frozen parts keep their BatchNorm statistics and drop no units
            self.depth.eval(), self.embedder.eval()
        return self

    def embed(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Crops (N, 3, H, W) in [0, 1] -> (RGB embeddings, depth embeddings), each (N, D)."""
        if self.embedding_cache is not None and self.freeze:
            return self.embedding_cache(crops, self._embed)
        return self._embed(crops)

    def _embed(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            e = self.embedder(torch.cat([crops, self.depth(crops)]))
        return e[:len(crops)], e[len(crops):]

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.num_frames or x.shape[2] != 3:
            raise InputError(f"megatron_rgbd expects clips shaped (B, {self.num_frames}, 3, H, W), got "
                             f"{tuple(x.shape)}")
        B, T = x.shape[:2]
        rgb, depth = self.embed(x.flatten(0, 1))
        return self.head(rgb.view(B, T, -1), depth.view(B, T, -1), valid)

    def rebuild_kwargs(self, kwargs: dict) -> dict:
        """``kwargs`` as a checkpoint records them: the weight sources dropped (the checkpoint holds every weight) and,
        for a depth model from the hub or a folder, its structure written out, so the model rebuilds offline exactly
        as it was trained."""
        out = {k: v for k, v in kwargs.items() if k not in self.weight_sources}
        if self.weight_sources["depth_weights"] is not None:
            out["depth_config"] = self.depth.net.config.to_dict()
        if self.embedder.norm is not None:  # a frame checkpoint's normalisation, kept when the file is not
            out["embedder_norm"] = [list(v) for v in self.embedder.norm]
        return out

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part (the zoo's split; training's optimiser takes the trainable ones)."""
        return {"depth": list(self.depth.parameters()), "embedder": list(self.embedder.parameters()),
                "head": list(self.head.parameters())}

    def frozen_parts(self) -> dict[str, nn.Module]:
        """What an embedding cache is keyed on: the frozen depth model (at its size) and embedder."""
        return {f"depth@{self.depth.size}": self.depth, "embedder": self.embedder} if self.freeze else {}

    def parts(self) -> dict[str, nn.Module]:
        """The three bundle parts: ``depth`` (crops -> depth maps), ``embedder`` (crops -> 384-d), ``head``
        (packed (B, T, 2D + 1) -> logit)."""
        return {"depth": self.depth, "embedder": self.embedder, "head": PackedHead(self.head)}

    def get_classifier(self) -> nn.Module:
        return self.head.classifier


def _cfg(**kwargs) -> dict:
    return {"url": "", "num_classes": 1, "input_size": (3, 224, 224), "fixed_input_size": False, "crop_pct": 1.0,
            "interpolation": "bilinear", "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "license": "mit",
            "classifier": "head.classifier", **kwargs}


default_cfgs = generate_default_cfgs({"megatron_rgbd": _cfg()})


@register_model
def megatron_rgbd(pretrained: bool = False, pretrained_file: str | None = None, **kwargs) -> MegatronRGBD:
    """Megatron at the seed's settings: Depth-Anything-V2-Small at 518 px, RepViT-M0.9, 1 layer (configuration.py),
    20 frames. ``pretrained=True`` fetches the depth model and RepViT's ImageNet weights (network; the head has no
    published weights); ``pretrained_file`` loads a whole edge_sdk checkpoint strictly."""
    from .convert import load_strict, read_state_dict

    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(k, None)
    if pretrained:
        kwargs.setdefault("depth_weights", "hub")
        kwargs.setdefault("embedder_pretrained", True)
    model = MegatronRGBD(**kwargs)
    model.pretrained_cfg = model.default_cfg = dict(default_cfgs["megatron_rgbd"].default.to_dict())
    if pretrained_file is not None:
        load_strict(model, read_state_dict(pretrained_file), source=pretrained_file)
    return model


register_card(Card(
    name="megatron_rgbd", family="megatron", role="detector", kind="clip", size=224, frames=20, stride=1,
    streams=(Stream("rgb", 3), Stream("depth", 3)), fixed_size=False,
    summary="Megatron (seed 002): Depth-Anything-V2-Small depth and RGB of each face crop embedded by one frozen "
            "RepViT-M0.9, a shared temporal transformer per stream, bidirectional RGB-depth cross-attention, one "
            "logit per clip; frames without a face or depth are masked",
    licence=Licence(code="this SDK's implementation (MIT) of valerio98-lab/Megatron_DeepFake (MIT)",
                    weights={"hub": "Depth-Anything-V2-Small: Apache-2.0 (Base/Large are CC-BY-NC); RepViT-M0.9 "
                                    "ImageNet weights: Apache-2.0; the temporal head has none published"}),
    # The public code keeps dlib's tight box and pads every crop of a clip to the largest (no resize); fixed-shape
    # artifacts need one size, so the crop is the box with no margin, resized isotropically and zero-padded.
    crop={"margin": 0.0, "resize": "pad", "pad_value": 0},
    bundle=("depth", "embedder", "head"), min_valid=0.5,
    export_limits={t: "int8 needs calibration data per bundle part (crops, depth maps, packed embeddings): not built "
                      "yet; export fp32 or fp16" for t in INT8_ROWS} | {
        "ncnn": "pnnx leaves Depth Anything's graph with an operator NCNN cannot express (pnnx.Expression dropped, "
                "seen on the tiny depth model 2026-12-07)"},
    reference="valerio98-lab/Megatron_DeepFake src/megatron/trans_one.py (TransformerFakeDetector)"))
