"""The GCViT branch of MS-Eff-GCViT: local-window and global-query attention on a CNN feature map.

Module and parameter names follow the DeepGuard reference (HanMoonSub/DeepGuard), so its
checkpoints load without renaming. The arithmetic is the reference's, rewritten so that no
tensor exceeds rank 5 (Core ML's Neural Engine rejects rank 6): windows are cut with one
rank-4 reshape/permute instead of the usual rank-6 view, and the shared global query is
broadcast with a rank-5 expand instead of a repeat.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from timm.layers import DropPath, Mlp, trunc_normal_


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/ws * W/ws, ws*ws, C), windows in row-major order, rank <= 4."""
    B, H, W, C = x.shape
    x = x.reshape(B * (H // ws), ws, W // ws, ws * C)
    return x.permute(0, 2, 1, 3).reshape(-1, ws * ws, C)


def window_reverse(windows: torch.Tensor, ws: int, H: int, W: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B*nW, ws*ws, C) -> (B, H, W, C), rank <= 4."""
    C = windows.shape[-1]
    x = windows.reshape(-1, W // ws, ws, ws * C)
    return x.permute(0, 2, 1, 3).reshape(-1, H, W, C)


def relative_position_index(ws: int) -> torch.Tensor:
    """The standard Swin relative-position index of a ws x ws window, shape (ws*ws, ws*ws)."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[:, :, 0] * (2 * ws - 1) + rel[:, :, 1]


class SE(nn.Module):
    """Squeeze-excite with linear layers (GELU inside, sigmoid gate), as the reference has it."""

    def __init__(self, dim: int, rd_ratio: float = 0.25):
        super().__init__()
        rd = int(dim * rd_ratio)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(dim, rd, bias=False), nn.GELU(), nn.Linear(rd, dim, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C = x.shape[:2]
        return x * self.fc(self.pool(x).reshape(B, C)).reshape(B, C, 1, 1)


def _mb_conv(dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=False),
        nn.GELU(),
        SE(dim),
        nn.Conv2d(dim, dim, 1, 1, 0, bias=False),
    )


class MBConvBlock(nn.Module):
    """Residual depthwise-separable conv with SE, NCHW in and out."""

    def __init__(self, dim: int):
        super().__init__()
        self.mb_conv = _mb_conv(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mb_conv(x)


class FeatExtract(MBConvBlock):
    """MBConv then (unless keep_dim) a 3x3 stride-2 max-pool: one step of the global-query generator."""

    def __init__(self, dim: int, keep_dim: bool = False):
        super().__init__(dim)
        self.pool = nn.Identity() if keep_dim else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(super().forward(x))


class GlobalQueryGen(nn.Module):
    """Shrinks a stage input to one window: (B, C, H, W) -> query (B, 1, heads, ws*ws, head_dim)."""

    def __init__(self, dim: int, resolution: int, window_size: int, num_heads: int):
        super().__init__()
        self.num_heads, self.n = num_heads, window_size * window_size
        steps = int(math.log2(resolution // window_size))
        blocks = [FeatExtract(dim) for _ in range(steps)] if steps > 0 else [FeatExtract(dim, keep_dim=True)]
        self.to_q_global = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.to_q_global(x).permute(0, 2, 3, 1)
        B, C = x.shape[0], x.shape[-1]
        return x.reshape(B, 1, self.n, self.num_heads, C // self.num_heads).permute(0, 1, 3, 2, 4)


class WindowAttention(nn.Module):
    """Window attention with a relative-position bias.

    Local form: queries, keys and values from the window itself (qkv = 3*dim).
    Global form: keys and values from the window, the query shared from :class:`GlobalQueryGen`
    (qkv = 2*dim).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, use_global_query: bool,
                 qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.num_heads, self.window_size = num_heads, window_size
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.use_global_query = use_global_query
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * (2 if use_global_query else 3), bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_bias(self) -> torch.Tensor:
        """The relative-position bias per head, (1, heads, N, N), gathered from the table. (Kept as a gather: the same
        bias folded into a constant made ExecuTorch 1.5's XNNPACK program of B0 fail at run time, error 0x1.)"""
        N = self.window_size * self.window_size
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        return bias.reshape(N, N, -1).permute(2, 0, 1).unsqueeze(0)

    def forward(self, x: torch.Tensor, q_global: torch.Tensor) -> torch.Tensor:
        B_, N, C = x.shape
        h, d = self.num_heads, self.head_dim
        # q, k and v as slices of the last dimension (ExecuTorch's XNNPACK delegate takes slices, not selects)
        qkv = self.qkv(x)
        parts = [qkv[..., i * C:(i + 1) * C].reshape(B_, N, h, d).permute(0, 2, 1, 3)
                 for i in range(2 if self.use_global_query else 3)]
        if self.use_global_query:
            k, v = parts
            B = q_global.shape[0]
            q = q_global.expand(B, B_ // B, h, N, d).reshape(B_, h, N, d)
        else:
            q, k, v = parts
        # rank-3 batched matmuls: a rank-4 ``@`` lowers to expand + bmm, and ExecuTorch copies each expand outside
        # XNNPACK (two per product)
        attn = torch.bmm((q * self.scale).reshape(B_ * h, N, d), k.reshape(B_ * h, N, d).transpose(1, 2))
        attn = self.attn_drop((attn.reshape(B_, h, N, N) + self.relative_bias()).softmax(dim=-1))
        x = torch.bmm(attn.reshape(B_ * h, N, N), v.reshape(B_ * h, N, d))
        return self.proj_drop(self.proj(x.reshape(B_, h, N, d).transpose(1, 2).reshape(B_, N, C)))


class GCViTBlock(nn.Module):
    """Pre-norm transformer block over windows of a channels-last map (B, H, W, C)."""

    def __init__(self, dim: int, num_heads: int, window_size: int, use_global_query: bool,
                 mlp_ratio: float = 4.0, drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        self.window_size = window_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size, use_global_query, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)

    def forward(self, x: torch.Tensor, q_global: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        windows = self.attn(window_partition(self.norm1(x), self.window_size), q_global)
        x = x + self.drop_path(window_reverse(windows, self.window_size, H, W))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ReduceSize(nn.Module):
    """Between stages: LayerNorm, residual MBConv, 3x3 stride-2 conv to 2*dim, LayerNorm (channels-last)."""

    def __init__(self, dim: int):
        super().__init__()
        self.mb_conv = _mb_conv(dim)
        self.reduction = nn.Conv2d(dim, 2 * dim, 3, 2, 1, bias=False)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x).permute(0, 3, 1, 2)
        x = self.reduction(x + self.mb_conv(x))
        return self.norm2(x.permute(0, 2, 3, 1))


class GCViTStage(nn.Module):
    """Blocks alternating local (even index) and global-query (odd index) attention, then ReduceSize."""

    def __init__(self, dim: int, depth: int, resolution: int, num_heads: int, window_size: int,
                 downsample: bool, mlp_ratio: float, drop: float, attn_drop: float, drop_path: list[float]):
        super().__init__()
        self.blocks = nn.ModuleList(
            GCViTBlock(dim, num_heads, window_size, use_global_query=bool(i % 2), mlp_ratio=mlp_ratio,
                       drop=drop, attn_drop=attn_drop, drop_path=drop_path[i])
            for i in range(depth)
        )
        self.downsample = ReduceSize(dim) if downsample else None
        self.q_global_gen = GlobalQueryGen(dim, resolution, window_size, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q_global = self.q_global_gen(x.permute(0, 3, 1, 2))
        for block in self.blocks:
            x = block(x, q_global)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    """1x1 conv from the backbone's channels to dim, residual MBConv, LayerNorm; NCHW in, NHWC out."""

    def __init__(self, in_chs: int, dim: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(in_chs, dim, 1, 1, 0), MBConvBlock(dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class GCViTBranch(nn.Module):
    """One branch of MS-Eff-GCViT: feature map (B, in_chs, R, R) -> pooled vector (B, dim * 2**(stages-1))."""

    def __init__(self, in_chs: int, resolution: int, dim: int, depths: list[int], window_size: list[int],
                 mlp_ratio: list[float], num_heads: list[int], drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: float = 0.0):
        super().__init__()
        self.num_features = dim * 2 ** (len(depths) - 1)
        self.patch_embed = PatchEmbed(in_chs, dim)
        self.pos_drop = nn.Dropout(drop)
        dpr = torch.linspace(0, drop_path, sum(depths)).tolist()
        self.stages = nn.ModuleList(
            GCViTStage(dim * 2 ** i, depths[i], resolution // 2 ** i, num_heads[i], window_size[i],
                       downsample=i < len(depths) - 1, mlp_ratio=mlp_ratio[i], drop=drop, attn_drop=attn_drop,
                       drop_path=dpr[sum(depths[:i]):sum(depths[: i + 1])])
            for i in range(len(depths))
        )
        self.norm = nn.LayerNorm(self.num_features)
        self.apply(_init_weights)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """Token map after the last stage and norm, channels-last (B, h, w, C): what CAM methods read."""
        x = self.pos_drop(self.patch_embed(x))
        for stage in self.stages:
            x = stage(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_map(x).mean(dim=(1, 2))


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
