"""M2TR (Wang et al., arXiv 2104.09770): multi-modal multi-scale transformers for deepfake detection.

As wdrink/PyDeepFakeDet's ``models/m2tr.py`` (MIT) builds it, from its ``configs/m2tr.yaml``:

* an EfficientNet-B4 (timm's ``tf_efficientnet_b4``, the TF-padded network of the public code's ``efficientnet-b4``;
  ``backbone_pretrained=True`` loads its AdvProp weights, timm's ``tf_efficientnet_b4.ap_in1k``) at 320 px, cut after its second stage (``b2``:
  32 channels at stride 4, an 80 x 80 map);
* ``depth`` 4 times: multi-scale patch attention (the channels split in four, each attending over patches of side
  80, 40, 20 and 10, i.e. the grid over 1, 2, 4 and 8), a learnable global frequency filter
  (:class:`~edge_sdk.models.spectral.SpectralFilter`, rfft2 -> complex weight -> irfft2) with a dilated-conv feed
  forward, and the cross-modality fusion block: Q from the RGB map, K and V from the frequency map, over all
  80 x 80 = 6,400 positions;
* the rest of the EfficientNet, average pooling, dropout 0.5 and a linear head: one logit here (the public code's two
  classes become logit_fake - logit_real in :func:`convert_pydeepfakedet`).

The public code's layer names are kept (``layers.i.0`` patch attention, ``.1`` frequency block, ``.2`` fusion) so its
checkpoints convert key by key (:func:`convert_pydeepfakedet`); ``benchmarks/check_m2tr_reference.py`` compares the
logits with the public code's. Options beyond it: ``freq_impl`` (``"fft"`` trains as the public code,
``reparameterize()`` switches to exact DFT matrix products that export everywhere), ``kv_pool`` (the fusion
block's keys and values average-pooled by that factor: 6,400 x 400 attention instead of 6,400 x 6,400 at 4),
``patch_sizes`` and ``backbone_norm`` as for MS-Eff-GCViT. The seed's own build speaks of patch scales [1, 2, 4, 7];
7 does not divide the 80 grid, so the default follows the public code.
"""

from __future__ import annotations

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import generate_default_cfgs, register_model

from ..card import Card, ExplainLayer, Licence
from ._registry import register_card
from .spectral import SpectralFilter

__all__ = ["M2TR", "SpectralFilter", "convert_pydeepfakedet", "m2tr_b4", "m2tr_b0"]


def conv_bn_act(cin: int, cout: int, k: int = 3, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation), nn.BatchNorm2d(cout),
            nn.LeakyReLU(0.2)]


class FeedForward2D(nn.Module):
    """Dilated 3x3 conv, BN, LeakyReLU(0.2), 3x3 conv, BN, LeakyReLU (the public code's ``FeedForward2D``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Sequential(*conv_bn_act(dim, dim, dilation=2), *conv_bn_act(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def to_patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, (H/p)(W/p), C p p): one token per p x p patch, channel-major as the public code's
    rank-6 view, written with rank <= 5 tensors (Core ML's limit)."""
    b, c, h, w = x.shape
    oh, ow = h // p, w // p
    t = x.reshape(b * c, oh, p, ow, p).permute(0, 1, 3, 2, 4)          # (BC, oh, ow, p, p)
    t = t.reshape(b, c, oh * ow, p * p).permute(0, 2, 1, 3)           # (B, L, C, pp)
    return t.reshape(b, oh * ow, c * p * p)


def from_patches(t: torch.Tensor, c: int, h: int, w: int, p: int) -> torch.Tensor:
    """The inverse of :func:`to_patches`."""
    b = t.shape[0]
    oh, ow = h // p, w // p
    x = t.reshape(b, oh * ow, c, p * p).permute(0, 2, 1, 3)           # (B, C, L, pp)
    x = x.reshape(b * c, oh, ow, p, p).permute(0, 1, 3, 2, 4)          # (BC, oh, p, ow, p)
    return x.reshape(b, c, h, w)


class MultiScaleAttention(nn.Module):
    """The public ``MultiHeadedAttention``: 1x1 q/k/v, the channels split into one group per patch size, each group
    attending over its patches (scaled dot product), concatenated, 3x3 conv + BN + LeakyReLU."""

    def __init__(self, patch_sizes: tuple[int, ...], dim: int):
        super().__init__()
        if dim % len(patch_sizes):
            raise ValueError(f"M2TR: {dim} channels do not split into {len(patch_sizes)} patch scales")
        self.patch_sizes = tuple(patch_sizes)
        self.query_embedding = nn.Conv2d(dim, dim, 1)
        self.value_embedding = nn.Conv2d(dim, dim, 1)
        self.key_embedding = nn.Conv2d(dim, dim, 1)
        self.output_linear = nn.Sequential(*conv_bn_act(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        n = len(self.patch_sizes)
        dk = c // n
        qs, ks, vs = (torch.chunk(f(x), n, dim=1) for f in (self.query_embedding, self.key_embedding,
                                                             self.value_embedding))
        out = []
        for p, q, k, v in zip(self.patch_sizes, qs, ks, vs):
            # one head (a unit axis: exporters translate 4-D attention)
            y = F.scaled_dot_product_attention(*(to_patches(t, p).unsqueeze(1) for t in (q, k, v)))
            out.append(from_patches(y.squeeze(1), dk, h, w, p))
        return self.output_linear(torch.cat(out, dim=1))


class PatchTransformer(nn.Module):
    """x + attention(x), then + feed_forward (the public ``PatchTrans`` / ``TransformerBlock``)."""

    def __init__(self, patch_sizes: tuple[int, ...], dim: int):
        super().__init__()
        self.attention = MultiScaleAttention(patch_sizes, dim)
        self.feed_forward = FeedForward2D(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.feed_forward(x)


class FreqBlock(nn.Module):
    """x + feed_forward(filter(x))."""

    def __init__(self, dim: int, h: int, w: int, impl: str = "fft"):
        super().__init__()
        self.filter = SpectralFilter(dim, h, w, impl)
        self.feed_forward = FeedForward2D(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.feed_forward(self.filter(x))


class CrossModalityFusion(nn.Module):
    """The public ``CMA_Block``: Q from RGB, K and V from the frequency map (1x1 convs), attention over every
    position (scale hidden^-0.5), a 1x1 conv + BN + LeakyReLU, added to RGB. ``kv_pool`` > 1 average-pools the
    frequency map before K and V (fewer keys: the 6,400 x 6,400 attention of a 320 px input is ~164 MB per face)."""

    def __init__(self, dim: int, hidden: int | None = None, kv_pool: int = 1):
        super().__init__()
        hidden = hidden or dim
        self.kv_pool = int(kv_pool)
        self.conv1, self.conv2, self.conv3 = (nn.Conv2d(dim, hidden, 1) for _ in range(3))
        self.conv4 = nn.Sequential(*conv_bn_act(hidden, dim, k=1))

    def forward(self, rgb: torch.Tensor, freq: torch.Tensor) -> torch.Tensor:
        b, _, h, w = rgb.shape
        if self.kv_pool > 1:
            freq = F.avg_pool2d(freq, self.kv_pool, ceil_mode=True)
        q, k, v = (c(t).flatten(2).transpose(1, 2).unsqueeze(1)        # (B, 1, positions, hidden)
                   for c, t in ((self.conv1, rgb), (self.conv2, freq), (self.conv3, freq)))
        z = F.scaled_dot_product_attention(q, k, v).squeeze(1)        # scale 1/sqrt(hidden), as the public code
        return rgb + self.conv4(z.transpose(1, 2).reshape(b, -1, h, w))


class M2TR(nn.Module):
    def __init__(self, backbone: str = "tf_efficientnet_b4", img_size: int = 320, depth: int = 4,
                 texture_stage: int = 2, patch_sizes: tuple[int, ...] | None = None, freq_impl: str = "fft",
                 kv_pool: int = 1, drop_rate: float = 0.5, drop_path_rate: float = 0.2, num_classes: int = 1,
                 in_chans: int = 3, backbone_pretrained: bool = False, backbone_norm: str = "batch", **kwargs):
        super().__init__()
        if in_chans != 3:
            raise ValueError(f"M2TR takes RGB input (in_chans=3), got in_chans={in_chans}")
        if num_classes != 1:
            raise ValueError("M2TR here gives one logit (num_classes=1); convert_pydeepfakedet folds two classes")
        self.img_size, self.num_classes, self.texture_stage = img_size, num_classes, texture_stage
        net = timm.create_model(backbone, pretrained=backbone_pretrained, num_classes=0,
                                drop_path_rate=drop_path_rate)
        if backbone_norm == "group":
            from .ms_eff_gcvit import batch_to_group_norm

            batch_to_group_norm(net)
        elif backbone_norm != "batch":
            raise ValueError(f"backbone_norm={backbone_norm!r}: use batch or group")
        else:  # the public code's EfficientNet: BatchNorm momentum 0.01 (TF's 0.99), eps 1e-3 (timm's tf_ models: 0.1)
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = 0.01
        self.backbone = net
        with torch.no_grad():
            texture = self._texture(torch.zeros(1, 3, img_size, img_size))
        dim, gh, gw = texture.shape[1:]
        self.grid = (gh, gw)
        patch_sizes = tuple(patch_sizes or (gh, gh // 2, gh // 4, gh // 8))
        bad = [p for p in patch_sizes if p < 1 or gh % p or gw % p]
        if bad:
            raise ValueError(f"M2TR patch sizes {bad} do not divide its {gh} x {gw} texture map ({img_size} px input)")
        self.patch_sizes = patch_sizes
        self.layers = nn.ModuleList(nn.ModuleList([
            PatchTransformer(patch_sizes, dim), FreqBlock(dim, gh, gw, freq_impl),
            CrossModalityFusion(dim, dim, kv_pool)]) for _ in range(depth))
        self.num_features = self.head_hidden_size = net.num_features
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(net.num_features, num_classes)

    def _texture(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone
        x = net.bn1(net.conv_stem(x))
        for stage in net.blocks[: self.texture_stage]:
            x = stage(x)
        return x

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """backbone / m2tr (patch attention, frequency, fusion) / head, for the recipes' per-group rates."""
        return {"backbone": list(self.backbone.parameters()), "m2tr": list(self.layers.parameters()),
                "head": list(self.head.parameters())}

    def forward_texture(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-4 map after the M2TR layers (what the public code's optional decoder reads)."""
        x = self._texture(x)
        for attn, freq, fuse in self.layers:
            x = attn(x)
            x = fuse(x, freq(x))
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone
        x = self.forward_texture(x)
        for stage in net.blocks[self.texture_stage:]:
            x = stage(x)
        return net.bn2(net.conv_head(x)).mean(dim=(2, 3))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(self.head_drop(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --- the public code's checkpoints (lukemelas-style EfficientNet under ``model.``) -------------------------------
_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
          "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_se_reduce": "se.conv_reduce",
             "_se_expand": "se.conv_expand", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}


def convert_pydeepfakedet(state: dict, model: M2TR) -> dict:
    """A wdrink/PyDeepFakeDet M2TR state dict (two classes, class 1 fake) as this model's: backbone keys mapped to
    timm's names block by block, ``layers.i.0.t.*`` -> ``layers.i.0.*``, the two-class projection folded into one
    logit (fake minus real); the backbone's own unused classifier (``model._fc``) is dropped."""
    flat = [(s, j) for s, stage in enumerate(model.backbone.blocks) for j in range(len(stage))]
    out = {}
    for key, value in state.items():
        if key.startswith("model._fc."):
            continue
        if key.startswith("model._blocks."):
            _, _, idx, part, rest = key.split(".", 4)
            idx = int(idx)
            s, j = flat[idx]
            names = _BLOCK if hasattr(model.backbone.blocks[s][j], "conv_pwl") else _BLOCK_DS
            out[f"backbone.blocks.{s}.{j}.{names[part]}.{rest}"] = value
        elif key.startswith("model._"):
            part, _, rest = key[len("model."):].partition(".")
            out[f"backbone.{_TOP[part]}.{rest}"] = value
        elif key.startswith("classifier.projection."):
            out[f"head.{key.rpartition('.')[2]}"] = (value[1] - value[0]).unsqueeze(0) if value.ndim == 2 \
                else (value[1] - value[0]).reshape(1)
        else:
            out[key.replace(".0.t.", ".0.")] = value
    return out


def _cfg(size: int, **kwargs) -> dict:
    return {"url": "", "num_classes": 1, "input_size": (3, size, size), "pool_size": None, "crop_pct": 1.0,
            "interpolation": "bicubic", "fixed_input_size": True, "mean": timm.data.IMAGENET_DEFAULT_MEAN,
            "std": timm.data.IMAGENET_DEFAULT_STD, "first_conv": "backbone.conv_stem", "classifier": "head",
            "license": "mit", **kwargs}


default_cfgs = generate_default_cfgs({"m2tr_b4": _cfg(320), "m2tr_b0": _cfg(224)})


def _create(variant: str, pretrained: bool, **kwargs) -> M2TR:
    from ._pretrained import build_with_weights

    model = build_with_weights(M2TR, variant, pretrained, **kwargs)
    size = model.img_size  # the filter's weight fixes the input: training and export read it here
    model.pretrained_cfg = model.default_cfg = {**model.pretrained_cfg, "input_size": (3, size, size)}
    return model


@register_model
def m2tr_b4(pretrained: bool = False, **kwargs) -> M2TR:
    """M2TR as the public code's config: EfficientNet-B4 at 320 px, depth 4 (``backbone_pretrained=True`` loads
    the AdvProp ImageNet weights the public code loads, timm's ``tf_efficientnet_b4.ap_in1k``; network needed)."""
    return _create("m2tr_b4", pretrained, **{"backbone": "tf_efficientnet_b4.ap_in1k", "img_size": 320, **kwargs})


@register_model
def m2tr_b0(pretrained: bool = False, **kwargs) -> M2TR:
    """M2TR layers on EfficientNet-B0 at 224 px (a 56 x 56 texture map of 24 channels), a smaller variant."""
    return _create("m2tr_b0", pretrained, **{"backbone": "tf_efficientnet_b0.ap_in1k", "img_size": 224, **kwargs})


_LICENCE = Licence(code="MIT (wdrink/PyDeepFakeDet models/m2tr.py, the reference this port follows)",
                   note="no M2TR weights are published by the reference; the backbone's ImageNet weights "
                        "(backbone_pretrained=True) are timm's tf_efficientnet AdvProp ones (Apache-2.0)")
for _name, _size, _b in (("m2tr_b4", 320, "B4"), ("m2tr_b0", 224, "B0")):
    register_card(Card(
        name=_name, family="m2tr", role="teacher" if _b == "B4" else "detector", size=_size, licence=_LICENCE,
        summary=f"M2TR on EfficientNet-{_b}: multi-scale patch attention, a learnable frequency filter and "
                "RGB-frequency cross attention on the stride-4 map, one logit",
        crop={"margin": 0.2, "resize": "pad", "pad_value": 0},
        explain={"backbone": ExplainLayer("backbone.blocks.6", "nchw", "gradcam"),
                 "texture": ExplainLayer("layers.0.2", "nchw", "gradcam")},
        reference="wdrink/PyDeepFakeDet @ models/m2tr.py: converted state dict, logits within 1e-4 "
                  "(benchmarks/check_m2tr_reference.py) and parameter count (tests/test_m2tr.py)"))
