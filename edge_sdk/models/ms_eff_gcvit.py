"""MS-Eff-GCViT (DeepGuard): an EfficientNet backbone with two GCViT branches.

The low branch reads the stride-4 feature map (subtle, local artifacts), the high branch the
stride-32 map (global lighting and structure); their pooled outputs are concatenated and a
LayerNorm-MLP head gives one logit (sigmoid -> P(fake)).

Same network and parameter names as the public reference (HanMoonSub/DeepGuard, MIT), so
its published checkpoints load as they are (see :mod:`edge_sdk.models.convert`).

Two model kwargs go beyond the reference, both off by default: ``img_size`` other than the native one scales
every window with it (DeepGuard's window-to-grid ratios, so a B5 at 32 px has windows (1, 1, 2, 1) and (1,)), and
``backbone_norm="group"`` puts GroupNorm (8 groups) where the EfficientNet has BatchNorm: per-image statistics, for
training from random weights on a few identities, where BatchNorm's running statistics of the training faces
misplace unseen ones (``edge-sdk demo``'s teacher: validation AUC 0.54-0.60 with BatchNorm, 0.95 with GroupNorm).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import timm
import torch
import torch.nn as nn
from timm.layers import trunc_normal_
from timm.models import generate_default_cfgs, register_model

from ..card import Card, ExplainLayer, Licence
from ._registry import register_card
from .gcvit_branch import GCViTBranch

__all__ = ["MultiScaleEffGCViT", "BranchCfg", "ms_eff_gcvit_b0", "ms_eff_gcvit_b5"]


@dataclass(frozen=True)
class BranchCfg:
    dim: int
    depths: tuple[int, ...]
    windows: tuple[int, ...]
    heads: tuple[int, ...]
    mlp_ratio: tuple[float, ...]
    drop: float = 0.0
    attn_drop: float = 0.0
    drop_path: float = 0.0


BACKBONE_NORMS = ("batch", "group")


def batch_to_group_norm(module: nn.Module, groups: int = 8) -> nn.Module:
    """Every BatchNorm (timm's BatchNormAct2d and plain BatchNorm2d) in ``module`` becomes a GroupNorm of ``groups``
    groups (one where the channels do not divide) keeping its activation; in place, returns ``module``."""
    from timm.layers import GroupNormAct

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            c = child.num_features
            gn = GroupNormAct(c, groups if c % groups == 0 else 1, eps=child.eps, apply_act=False)
            gn.act = getattr(child, "act", nn.Identity())
            setattr(module, name, gn)
        else:
            batch_to_group_norm(child, groups)
    return module


class FeatExtractor(nn.Module):
    """The timm EfficientNet in ``features_only`` mode, under the reference's module name; ``norm`` "group" swaps
    its BatchNorms for GroupNorms (:func:`batch_to_group_norm`)."""

    def __init__(self, model_name: str, out_indices: tuple[int, int], pretrained: bool, norm: str = "batch"):
        super().__init__()
        if norm not in BACKBONE_NORMS:
            raise ValueError(f"backbone_norm={norm!r}: use one of {', '.join(BACKBONE_NORMS)}")
        self.backbone = timm.create_model(model_name, pretrained=pretrained, features_only=True, out_indices=out_indices)
        if norm == "group":
            batch_to_group_norm(self.backbone)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(x)


class MultiScaleEffGCViT(nn.Module):
    def __init__(self, backbone: str, img_size: int, low: BranchCfg, high: BranchCfg,
                 low_feature_idx: int = 1, high_feature_idx: int = 4, num_classes: int = 1,
                 in_chans: int = 3, drop_rate: float = 0.1, backbone_pretrained: bool = False,
                 backbone_norm: str = "batch", **kwargs):
        super().__init__()
        if in_chans != 3:
            raise ValueError(f"MS-Eff-GCViT takes RGB input (in_chans=3), got in_chans={in_chans}")
        self.img_size = img_size
        self.num_classes = num_classes
        self.feat_extractor = FeatExtractor(backbone, (low_feature_idx, high_feature_idx), backbone_pretrained,
                                            backbone_norm)
        info = self.feat_extractor.backbone.feature_info
        (l_chs, h_chs), (l_red, h_red) = info.channels(), info.reduction()
        self.l_gcvit = self._branch(l_chs, img_size // l_red, low)
        self.h_gcvit = self._branch(h_chs, img_size // h_red, high)
        self.num_features = self.head_hidden_size = self.l_gcvit.num_features + self.h_gcvit.num_features
        f = self.num_features
        self.head = nn.Sequential(
            nn.LayerNorm(f), nn.Linear(f, f // 2), nn.GELU(), nn.Dropout(drop_rate), nn.Linear(f // 2, num_classes)
        ) if num_classes > 0 else nn.Identity()
        for m in self.head.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _branch(in_chs: int, resolution: int, c: BranchCfg) -> GCViTBranch:
        return GCViTBranch(in_chs, resolution, c.dim, list(c.depths), list(c.windows), list(c.mlp_ratio),
                           list(c.heads), drop=c.drop, attn_drop=c.attn_drop, drop_path=c.drop_path)

    # Parameter groups as DeepGuard trains them (four learning rates), also used by the zoo report.
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "backbone": list(self.feat_extractor.parameters()),
            "low_branch": list(self.l_gcvit.parameters()),
            "high_branch": list(self.h_gcvit.parameters()),
            "head": list(self.head.parameters()),
        }

    @torch.jit.ignore
    def no_weight_decay_keywords(self) -> set[str]:
        return {"relative_position_bias_table", "bn", "norm"}

    def forward_branches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone maps (low, high), NCHW."""
        low, high = self.feat_extractor(x)
        return low, high

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Fused pre-head vector: concat(low pooled, high pooled), (B, num_features)."""
        low, high = self.forward_branches(x)
        return torch.cat([self.l_gcvit(low), self.h_gcvit(high)], dim=-1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


_RELEASES = "https://github.com/HanMoonSub/DeepGuard/releases/download"


def _cfg(size: int, url: str = "", **kwargs) -> dict:
    return {
        "url": url, "num_classes": 1, "input_size": (3, size, size), "pool_size": None, "crop_pct": 0.875,
        "interpolation": "bicubic", "fixed_input_size": True, "mean": timm.data.IMAGENET_DEFAULT_MEAN,
        "std": timm.data.IMAGENET_DEFAULT_STD, "first_conv": "feat_extractor.backbone.conv_stem",
        "classifier": "head.4", "license": "mit", **kwargs,
    }


# Tags name the dataset the published checkpoint was fine-tuned on ("ffpp" is DeepGuard's "ff++").
default_cfgs = generate_default_cfgs({
    "ms_eff_gcvit_b0.celeb_df_v2": _cfg(224, f"{_RELEASES}/v0.1.0/ms_eff_gcvit_b0_celeb_df_v2.bin"),
    "ms_eff_gcvit_b0.ffpp": _cfg(224, f"{_RELEASES}/v0.1.0/ms_eff_gcvit_b0_ff++.bin"),
    "ms_eff_gcvit_b0.kodf": _cfg(224, f"{_RELEASES}/v0.2.0/ms_eff_gcvit_b0_kodf.bin"),
    "ms_eff_gcvit_b5.celeb_df_v2": _cfg(384, f"{_RELEASES}/v0.1.0/ms_eff_gcvit_b5_celeb_df_v2.bin"),
    "ms_eff_gcvit_b5.ffpp": _cfg(384, f"{_RELEASES}/v0.1.0/ms_eff_gcvit_b5_ff++.bin"),
    "ms_eff_gcvit_b5.kodf": _cfg(384, f"{_RELEASES}/v0.2.0/ms_eff_gcvit_b5_kodf.bin"),
})

_ARCHS = {
    "ms_eff_gcvit_b0": dict(
        backbone="tf_efficientnet_b0.ns_jft_in1k", img_size=224,
        low=BranchCfg(24, (2, 2, 4, 2), (7, 7, 14, 7), (1, 2, 4, 8), (4, 4, 4, 4), attn_drop=0.05, drop_path=0.1),
        high=BranchCfg(256, (4,), (7,), (4,), (4,), drop=0.05, drop_path=0.05),
    ),
    "ms_eff_gcvit_b5": dict(
        backbone="tf_efficientnet_b5.ns_jft_in1k", img_size=384,
        low=BranchCfg(48, (2, 2, 6, 2), (12, 12, 24, 12), (2, 4, 8, 16), (3, 3, 3, 3), attn_drop=0.1, drop_path=0.15),
        high=BranchCfg(512, (6,), (12,), (16,), (3,), drop=0.1, drop_path=0.1),
    ),
}


def scaled_windows(branch: BranchCfg, native: int, size: int) -> BranchCfg:
    """``branch`` with each window scaled from the native input size to ``size`` (at least 1)."""
    return replace(branch, windows=tuple(max(1, w * size // native) for w in branch.windows))


def _branch_cfg(base: BranchCfg, value) -> BranchCfg:
    """A branch given as a BranchCfg, or as a dict of fields to change (JSON-safe, as checkpoints store kwargs)."""
    if value is None or isinstance(value, BranchCfg):
        return value or base
    return replace(base, **{k: tuple(v) if isinstance(v, list) else v for k, v in dict(value).items()})


def _create(variant: str, pretrained: bool, **kwargs) -> MultiScaleEffGCViT:
    from ._pretrained import build_with_weights

    arch = dict(_ARCHS[variant])
    native, size = arch["img_size"], int(kwargs.get("img_size") or arch["img_size"])
    for k in ("low", "high"):
        given = k in kwargs and not (isinstance(kwargs[k], dict) and "windows" not in kwargs[k])
        base = arch[k] if given or size == native else scaled_windows(arch[k], native, size)
        arch[k] = _branch_cfg(base, kwargs.pop(k, None))
    return build_with_weights(MultiScaleEffGCViT, variant, pretrained, **{**arch, **kwargs})


@register_model
def ms_eff_gcvit_b0(pretrained: bool = False, **kwargs) -> MultiScaleEffGCViT:
    """MS-Eff-GCViT B0, 224 px, 8.70M params ("Fast"). ``backbone_pretrained=True`` loads ImageNet weights."""
    return _create("ms_eff_gcvit_b0", pretrained, **kwargs)


@register_model
def ms_eff_gcvit_b5(pretrained: bool = False, **kwargs) -> MultiScaleEffGCViT:
    """MS-Eff-GCViT B5, 384 px, 50.34M params ("Pro")."""
    return _create("ms_eff_gcvit_b5", pretrained, **kwargs)


_LICENCE = Licence(
    code="MIT (HanMoonSub/DeepGuard, the reference implementation this port matches)",
    weights={"celeb_df_v2": "MIT (DeepGuard release v0.1.0); trained on Celeb-DF v2, whose terms allow research use only",
             "ffpp": "MIT (DeepGuard release v0.1.0); trained on FaceForensics++, whose terms allow research use only",
             "kodf": "MIT (DeepGuard release v0.2.0); trained on KoDF, whose terms allow research use only"},
    note="the backbone's ImageNet weights (backbone_pretrained=True) are timm's tf_efficientnet (Apache-2.0)")
_EXPLAIN = {"high": ExplainLayer("h_gcvit.norm", "nhwc", "gradcam++"), "low": ExplainLayer("l_gcvit.norm", "nhwc", "hirescam"),
            "backbone": ExplainLayer("feat_extractor.backbone.blocks.6", "nchw", "gradcam")}
for _name, _size, _role in (("ms_eff_gcvit_b0", 224, "student"), ("ms_eff_gcvit_b5", 384, "teacher")):
    register_card(Card(
        name=_name, family="ms_eff_gcvit", role=_role, size=_size, licence=_LICENCE, explain=_EXPLAIN,
        summary=f"MS-Eff-GCViT {_name[-2:].upper()} (DeepGuard): EfficientNet-{_name[-2:].upper()} with two GC-ViT "
                "branches (stride 4 and 32), one logit",
        crop={"margin": 0.2, "resize": "pad", "pad_value": 0},  # DeepGuard: 20% per side, longest side, black pad
        export_limits={"ncnn": "NCNN cannot express its window attention: the windows are a batch dimension, which "
                               "NCNN's Mat has not; pnnx writes the graph and NCNN fails on it at run time (batch size "
                               "mismatch; tests/test_export_ncnn.py checks it still does)"},
        reference="HanMoonSub/DeepGuard @1faad84: every state-dict key and the logits within 1e-4 (tests/test_models.py)"))
