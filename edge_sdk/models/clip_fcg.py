"""A frozen-CLIP video detector in the style of DFD-FCG (CVPR 2025).

A timm CLIP ViT runs frozen over every frame of a clip; a small side network reads each
layer's attention queries, keys and values (captured by forward hooks, so CLIP runs once):

* spatial path: per layer, learnable facial-component queries (lips, skin, eyes, nose by
  default) attend over the patch keys by cosine similarity x 100 and gather the values; frames
  are averaged and layers summed;
* temporal path: per layer and patch, the T x T frame affinity of queries and keys, a 5x5
  conv, an MLP and a depthwise conv over the patch grid;
* three heads (spatial, temporal, both) whose probabilities are averaged into one logit;
* facial-component guidance (DFD-FCG's FFG loss): each layer's part features are the CLIP keys of real faces
  pooled over each part (:func:`part_masks`, located from the face detector's keypoints), set once before training
  (:meth:`ClipFCG.set_face_features`, which also starts the queries there, as DFD-FCG does); the loss is the
  cross-entropy of ``temperature x cos(query_i, part_j)`` over parts with target ``i`` (temperature 30, weight
  1.5 in its configs).

Input ``(B, T, 3, H, W)`` with T fixed by ``num_frames``. No weights are published for the
side network; ``pretrained=True`` loads the CLIP encoder's weights through timm.
"""

from __future__ import annotations

import math

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from timm.models import generate_default_cfgs, register_model

from ..card import Card, Licence
from ..errors import InputError
from ._pretrained import guarded
from ._registry import register_card

__all__ = ["ClipFCG", "clip_fcg_vit_b32", "clip_fcg_vit_b16", "clip_fcg_vit_l14"]

FACIAL_COMPONENTS = ("lips", "skin", "eyes", "nose")

# Where each part lies, from BlazeFace's keypoints (right eye, left eye, nose tip, mouth centre; edge_sdk.faces):
# a Gaussian around the part's points with a width in units of the distance between the eyes. Skin is a wide
# Gaussian around the four points' centre, less the other three parts.
PART_SIGMA = {"lips": 0.3, "eyes": 0.2, "nose": 0.25, "skin": 0.8}
PART_POINTS = {"lips": (3,), "eyes": (0, 1), "nose": (2,)}


def part_masks(keypoints: torch.Tensor, grid: tuple[int, int], img_size: tuple[int, int],
               parts: tuple[str, ...] = FACIAL_COMPONENTS) -> torch.Tensor:
    """Soft masks of facial parts on a patch grid: keypoints (N, >=4, 2) in input pixels (x, y) -> (N, len(parts),
    gh * gw) weights, each mask summing to 1. A width never falls below half a patch, so a coarse grid (B/32: 7 x 7)
    still gives every part its nearest patches."""
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    if kp.ndim != 3 or kp.shape[1] < 4 or kp.shape[2] != 2:
        raise InputError(f"part masks take keypoints shaped (N, >=4, 2) (eyes, nose tip, mouth), got {tuple(kp.shape)}")
    (gh, gw), (H, W) = grid, img_size
    ys, xs = torch.meshgrid((torch.arange(gh) + 0.5) * H / gh, (torch.arange(gw) + 0.5) * W / gw, indexing="ij")
    centres = torch.stack([xs, ys], -1).reshape(1, 1, -1, 2)  # (1, 1, P, 2)
    d_eyes = (kp[:, 0] - kp[:, 1]).norm(dim=-1).clamp_min(1.0)  # (N,)
    floor = 0.5 * max(H / gh, W / gw)

    def bump(points: torch.Tensor, sigma: float) -> torch.Tensor:  # points (N, k, 2) -> (N, P), peak 1
        s = (sigma * d_eyes).clamp_min(floor)[:, None, None]
        return torch.exp(-((centres - points[:, :, None]) ** 2).sum(-1) / (2 * s ** 2)).amax(1)

    found = {p: bump(kp[:, list(i)], PART_SIGMA[p]) for p, i in PART_POINTS.items()}
    found["skin"] = bump(kp[:, :4].mean(1, keepdim=True), PART_SIGMA["skin"]) * (
        1 - torch.stack(list(found.values())).amax(0))
    masks = torch.stack([found[p] for p in parts], 1)
    return masks / masks.sum(-1, keepdim=True).clamp_min(1e-12)


class SideLayer(nn.Module):
    """The side network's reading of one CLIP layer."""

    def __init__(self, dim: int, heads: int, side_dim: int, num_queries: int, grid: tuple[int, int],
                 temporal_chs: int = 8, temporal_pool: int = 4):
        super().__init__()
        self.heads, self.grid = heads, grid
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.temporal = nn.Sequential(
            nn.Conv2d(heads, temporal_chs, 5, padding=2), nn.GELU(), nn.AdaptiveAvgPool2d(temporal_pool),
            nn.Flatten(1), nn.Linear(temporal_chs * temporal_pool ** 2, side_dim), nn.GELU(),
        )
        self.grid_conv = nn.Conv2d(side_dim, side_dim, 3, padding=1, groups=side_dim)

    def forward(self, qkv: torch.Tensor, batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """qkv: (B*T, P, 3*D) patch tokens -> spatial (B, Q, D), temporal (B, side_dim)."""
        BT, P, D3 = qkv.shape
        D = D3 // 3
        q, k, v = qkv.reshape(BT, P, 3, D).unbind(2)
        # Spatial: component queries attend over the patches of each frame, then frames are averaged.
        sim = F.normalize(self.queries, dim=-1) @ F.normalize(k, dim=-1).transpose(1, 2)  # (BT, Q, P)
        spatial = (sim * 100.0).softmax(dim=-1) @ v  # (BT, Q, D)
        spatial = spatial.reshape(batch, frames, -1, D).mean(dim=1)
        # Temporal: per patch and head, how each frame's query matches every frame's key.
        hd = D // self.heads
        qh = q.reshape(batch, frames, P, self.heads, hd).permute(0, 2, 3, 1, 4)  # (B, P, h, T, hd)
        kh = k.reshape(batch, frames, P, self.heads, hd).permute(0, 2, 3, 1, 4)
        aff = ((qh @ kh.transpose(-2, -1)) / math.sqrt(hd)).softmax(dim=-1)  # (B, P, h, T, T)
        t = self.temporal(aff.reshape(batch * P, self.heads, frames, frames))  # (B*P, side)
        t = t.reshape(batch, self.grid[0], self.grid[1], -1).permute(0, 3, 1, 2)
        return spatial, F.gelu(self.grid_conv(t)).mean(dim=(2, 3))


class ClipFCG(nn.Module):
    def __init__(self, clip_model: str = "vit_base_patch16_clip_224.openai", num_frames: int = 8,
                 side_dim: int = 64, num_queries: int = len(FACIAL_COMPONENTS), clip_pretrained: bool = False,
                 clip_kwargs: dict | None = None, num_classes: int = 1, in_chans: int = 3, **kwargs):
        super().__init__()
        if num_classes != 1:
            raise ValueError("ClipFCG gives one logit (num_classes=1)")
        self.num_frames, self.num_classes = num_frames, num_classes
        self.clip = guarded(clip_model, clip_pretrained, lambda: timm.create_model(
            clip_model, pretrained=clip_pretrained, num_classes=0, **(clip_kwargs or {})))
        self.clip.requires_grad_(False)
        self.clip.eval()
        dim, heads = self.clip.embed_dim, self.clip.blocks[0].attn.num_heads
        self.prefix = self.clip.num_prefix_tokens
        self.img_size = self.clip.patch_embed.img_size
        grid = tuple(self.clip.patch_embed.grid_size)
        self.side = nn.ModuleList(SideLayer(dim, heads, side_dim, num_queries, grid) for _ in self.clip.blocks)
        self.spatial_proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, side_dim))
        spatial_dim = num_queries * side_dim
        self.num_features = self.head_hidden_size = spatial_dim + side_dim
        self.head_spatial = nn.Linear(spatial_dim, 1)
        self.head_temporal = nn.Linear(side_dim, 1)
        self.head_both = nn.Linear(self.num_features, 1)

    def train(self, mode: bool = True) -> "ClipFCG":
        super().train(mode)
        self.clip.eval()  # frozen: no dropout, no statistics updates
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @torch.no_grad()
    def _patch_qkv(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Each CLIP layer's q, k, v of the patch tokens (prefix tokens dropped): (N, P, 3 * D) per layer."""
        captured: list[torch.Tensor] = []
        hooks = [b.attn.qkv.register_forward_hook(lambda _m, _i, out: captured.append(out)) for b in self.clip.blocks]
        try:
            self.clip.forward_features(frames)
        finally:
            for h in hooks:
                h.remove()
        return [qkv[:, self.prefix:] for qkv in captured]

    @torch.no_grad()
    def part_features(self, frames: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
        """Face frames (N, 3, H, W) and their keypoints (N, >=4, 2) in input pixels -> each layer's CLIP keys
        pooled over each facial part and averaged over the frames: (layers, parts, D)."""
        masks = part_masks(keypoints, tuple(self.clip.patch_embed.grid_size), tuple(frames.shape[-2:]))
        masks = masks[:, :self.side[0].queries.shape[0]].to(frames.device, frames.dtype)
        out = []
        for qkv in self._patch_qkv(frames):
            D = qkv.shape[-1] // 3
            out.append((masks @ qkv[..., D:2 * D]).mean(0))  # (Q, D)
        return torch.stack(out)

    def set_face_features(self, features: torch.Tensor, init_queries: bool = True) -> None:
        """Fix the guidance targets (layers, parts, D) (from :meth:`part_features` of real faces); with
        ``init_queries``, each layer's queries start at them, as DFD-FCG starts its synoptic embeddings. Not saved
        with the weights: training sets them again on resume."""
        want = (len(self.side), *self.side[0].queries.shape)
        if tuple(features.shape) != want:
            raise InputError(f"face features shaped {tuple(features.shape)}; this model needs {want} (layers, parts, D)")
        self.register_buffer("face_features", features.detach().clone(), persistent=False)
        if init_queries:
            with torch.no_grad():
                for side, f in zip(self.side, features):
                    side.queries.copy_(f)

    def guidance_loss(self, temperature: float = 30.0) -> torch.Tensor:
        """DFD-FCG's facial-component guidance: mean over layers of the cross-entropy of temperature x cos(query i,
        part j) over parts j, with target i (each query closest to its own part of real faces)."""
        f = getattr(self, "face_features", None)
        if f is None:
            raise InputError("guidance loss: no face features set (set_face_features, from real faces' keypoints)")
        q = F.normalize(torch.stack([side.queries for side in self.side]), dim=-1)  # (L, Q, D)
        logits = temperature * q @ F.normalize(f.to(q), dim=-1).transpose(1, 2)  # (L, Q, Q)
        target = torch.arange(q.shape[1], device=q.device).repeat(q.shape[0])
        return F.cross_entropy(logits.flatten(0, 1), target)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.num_frames or x.shape[2] != 3:
            raise InputError(f"ClipFCG expects clips shaped (B, {self.num_frames}, 3, H, W), got {tuple(x.shape)}")
        B, T = x.shape[:2]
        spatial, temporal = 0.0, 0.0
        for side, qkv in zip(self.side, self._patch_qkv(x.flatten(0, 1))):
            s, t = side(qkv, B, T)
            spatial, temporal = spatial + s, temporal + t
        spatial = self.spatial_proj(spatial).flatten(1)  # (B, Q * side_dim)
        return torch.cat([spatial, temporal], dim=-1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return x
        n_s = self.head_spatial.in_features
        logits = torch.cat([self.head_spatial(x[:, :n_s]), self.head_temporal(x[:, n_s:]), self.head_both(x)], dim=-1)
        # Average the three heads' probabilities, returned as one logit: log(p) - log(1 - p).
        log_p = torch.logsumexp(F.logsigmoid(logits), dim=-1) - math.log(3)
        log_q = torch.logsumexp(F.logsigmoid(-logits), dim=-1) - math.log(3)
        return (log_p - log_q).unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cfg(**kwargs) -> dict:
    return {"url": "", "num_classes": 1, "input_size": (3, 224, 224), "fixed_input_size": True, "crop_pct": 1.0,
            "interpolation": "bicubic", "mean": OPENAI_CLIP_MEAN, "std": OPENAI_CLIP_STD, "license": "mit",
            "classifier": "head_both", **kwargs}


default_cfgs = generate_default_cfgs({"clip_fcg_vit_b32": _cfg(), "clip_fcg_vit_b16": _cfg(),
                                      "clip_fcg_vit_l14": _cfg()})


def _create(variant: str, clip_model: str, pretrained: bool, pretrained_file: str | None, **kwargs) -> ClipFCG:
    from .convert import load_strict, read_state_dict

    kwargs.pop("pretrained_cfg", None), kwargs.pop("pretrained_cfg_overlay", None)
    model = ClipFCG(clip_model=clip_model, clip_pretrained=pretrained and pretrained_file is None, **kwargs)
    model.pretrained_cfg = model.default_cfg = dict(default_cfgs[variant].default.to_dict())
    if pretrained_file is not None:
        load_strict(model, read_state_dict(pretrained_file), source=pretrained_file)
    return model


@register_model
def clip_fcg_vit_b32(pretrained: bool = False, pretrained_file: str | None = None, **kwargs) -> ClipFCG:
    """Frozen CLIP ViT-B/32 + FCG side network: the seed's own build (a 7 x 7 patch grid at 224 px)."""
    return _create("clip_fcg_vit_b32", "vit_base_patch32_clip_224.openai", pretrained, pretrained_file, **kwargs)


@register_model
def clip_fcg_vit_b16(pretrained: bool = False, pretrained_file: str | None = None, **kwargs) -> ClipFCG:
    """Frozen CLIP ViT-B/16 + FCG side network (~0.23M trainable parameters)."""
    return _create("clip_fcg_vit_b16", "vit_base_patch16_clip_224.openai", pretrained, pretrained_file, **kwargs)


@register_model
def clip_fcg_vit_l14(pretrained: bool = False, pretrained_file: str | None = None, **kwargs) -> ClipFCG:
    """Frozen CLIP ViT-L/14 + FCG side network, as DFD-FCG uses."""
    return _create("clip_fcg_vit_l14", "vit_large_patch14_clip_224.openai", pretrained, pretrained_file, **kwargs)


for _name, _clip in (("clip_fcg_vit_b32", "ViT-B/32"), ("clip_fcg_vit_b16", "ViT-B/16"),
                     ("clip_fcg_vit_l14", "ViT-L/14")):
    register_card(Card(
        name=_name, family="clip_fcg", role="teacher", kind="clip", size=224, frames=8, stride=4,
        summary=f"frozen CLIP {_clip} with a DFD-FCG-style side network (facial-component queries, temporal "
                "affinities) over a clip of face crops, one logit",
        licence=Licence(code="this SDK's own implementation (MIT), after DFD-FCG (aiiu-lab/DFD-FCG, research-only "
                             "licence; no weights released)",
                        weights={"openai": "CLIP encoder weights: OpenAI CLIP (MIT); the side network has none published"}),
        crop={"align": "keypoints", "pad_value": 0},  # DFD-FCG's landmark-aligned crops (edge_sdk.preprocess)
        export_limits={}, reference="DFD-FCG (CVPR 2025); side network only, see the README's zoo section"))
