"""A learnable global frequency filter (GFNet's / M2TR's ``GlobalFilter``) that exports to every target.

The filter is ``irfft2(rfft2(x, norm="ortho") * W, s=(H, W), norm="ortho")`` over the spatial axes of an NCHW map, with
a learned complex weight ``W`` of shape ``(H, W // 2 + 1, C, 2)`` (real, imaginary), as in wdrink/PyDeepFakeDet's
``GlobalFilter``. ``torch.fft`` does not export: ExecuTorch has no FFT kernel, the dynamo ONNX exporter has no
``irfft2`` and TensorRT rejects ``fft2``. So the filter has two implementations of the same arithmetic:

* ``"fft"``: ``torch.fft``, as the public code (training may use it);
* ``"dft"``: exact real DFT matrix products: cos and sin along W for the real half-spectrum, complex along H, the
  learned weight, then the inverse along H and the Hermitian inverse along W (bins other than DC and Nyquist counted
  twice, their imaginary parts dropped as ``irfft`` does). Only MatMul, Mul, Add and Sub: every exporter keeps it.

Both agree within 1e-5 in fp32 for even and odd sizes, forward and backward (tests/test_m2tr.py). The matrices are
buffers made from the size, not saved in the state dict, so one checkpoint serves both. ``reparameterize()`` (what
export's preparation and :func:`edge_sdk.models.reparameterize` call) switches a filter to ``"dft"``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = ["SpectralFilter", "FREQ_IMPLS", "dft_matrices"]

FREQ_IMPLS = ("fft", "dft")


def dft_matrices(h: int, w: int) -> dict[str, torch.Tensor]:
    """Orthonormal DFT factors: along W to the real half-spectrum (``wc``, ``ws``: (W, W//2+1)), along H forward
    and inverse (``hc``, ``hs``: (H, H)), and the Hermitian inverse along W (``ic``, ``is_``: (W//2+1, W)).

    Computed in float64 from exact integer phases (k * n mod N), then cast to float32."""
    wf = w // 2 + 1
    kw = torch.arange(wf, dtype=torch.float64)[:, None]
    nw = torch.arange(w, dtype=torch.float64)[None, :]
    phase_w = 2 * math.pi * torch.remainder(kw * nw, w) / w               # (Wf, W)
    kh = torch.arange(h, dtype=torch.float64)
    phase_h = 2 * math.pi * torch.remainder(kh[:, None] * kh[None, :], h) / h  # (H, H)
    # irfft's weights: DC once, Nyquist (even W) once, every other bin twice (its conjugate twin is implied)
    twice = torch.full((wf, 1), 2.0, dtype=torch.float64)
    twice[0] = 1.0
    if w % 2 == 0:
        twice[-1] = 1.0
    sw, sh = math.sqrt(w), math.sqrt(h)
    out = {"wc": (torch.cos(phase_w) / sw).T, "ws": (-torch.sin(phase_w) / sw).T,
           "hc": torch.cos(phase_h) / sh, "hs": torch.sin(phase_h) / sh,
           "ic": twice * torch.cos(phase_w) / sw, "is_": twice * -torch.sin(phase_w) / sw}
    return {k: v.to(torch.float32).contiguous() for k, v in out.items()}


class SpectralFilter(nn.Module):
    """Learned complex filter of a (B, C, H, W) map in the 2-D Fourier domain; same parameter as the public
    ``GlobalFilter`` (``complex_weight``: (H, W//2+1, C, 2), init N(0, 0.02))."""

    def __init__(self, dim: int, h: int, w: int, impl: str = "fft"):
        super().__init__()
        if impl not in FREQ_IMPLS:
            raise ValueError(f"frequency filter impl={impl!r}: use one of {', '.join(FREQ_IMPLS)}")
        self.dim, self.h, self.w, self.impl = dim, h, w, impl
        self.complex_weight = nn.Parameter(torch.randn(h, w // 2 + 1, dim, 2, dtype=torch.float32) * 0.02)
        for k, v in dft_matrices(h, w).items():
            self.register_buffer(f"dft_{k}", v, persistent=False)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, h={self.h}, w={self.w}, impl={self.impl!r}"

    def reparameterize(self) -> None:
        """Deployment form: the exact DFT matrix products (exportable)."""
        self.impl = "dft"

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[1:] != (self.dim, self.h, self.w):
            raise ValueError(f"SpectralFilter built for (C, H, W) = {(self.dim, self.h, self.w)} got a map shaped "
                             f"{tuple(x.shape[1:])}: the filter's learned weight fixes the feature map's size")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        dtype = x.dtype
        x = x.float()
        y = self._fft(x) if self.impl == "fft" else self._dft(x)
        return y.to(dtype)

    def _fft(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.fft.rfft2(x.permute(0, 2, 3, 1), dim=(1, 2), norm="ortho")
        z = z * torch.view_as_complex(self.complex_weight.float())
        # irfft2 as its two steps: ifft along H, then the one-axis Hermitian inverse along W. The learned weight breaks
        # the symmetry of the DC and Nyquist columns, where a 2-D C2R is undefined (cuFFT and the CPU differ there,
        # pytorch/pytorch#154496); this order is what the CPU's irfft2 and the DFT form compute
        z = torch.fft.ifft(z, dim=1, norm="ortho")
        return torch.fft.irfft(z, n=self.w, dim=2, norm="ortho").permute(0, 3, 1, 2)

    def _dft(self, x: torch.Tensor) -> torch.Tensor:
        # forward along W (real input -> half spectrum), then along H (complex): exp(-i theta) = cos - i sin
        f = {k: getattr(self, f"dft_{k}").float() for k in ("wc", "ws", "hc", "hs", "ic", "is_")}  # fp32 always
        ar, ai = x @ f["wc"], x @ f["ws"]                             # (B, C, H, Wf)
        hc, hs = f["hc"], f["hs"]
        zr, zi = hc @ ar + hs @ ai, hc @ ai - hs @ ar
        wr, wi = self.complex_weight.float().permute(2, 0, 1, 3).unbind(-1)  # (C, H, Wf) each
        yr, yi = zr * wr - zi * wi, zr * wi + zi * wr
        # inverse along H (exp(+i theta)), then the Hermitian inverse along W (real output)
        ur, ui = hc @ yr - hs @ yi, hc @ yi + hs @ yr
        return ur @ f["ic"] + ui @ f["is_"]
