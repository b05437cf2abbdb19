"""miaudit's compact U-Net denoiser eps_theta(x_t, t) for small images (Ho et al. 2020,
"Denoising Diffusion Probabilistic Models", NeurIPS, sec. 4 and appendix B: a U-Net with
residual blocks, group normalisation and a sinusoidal timestep embedding added in every
block), shrunk for 2 CPU cores: two resolutions below the input (28 -> 14 -> 7 for MNIST),
one residual block per level, no self-attention (Ho et al. use attention at 16x16; at this
size it costs more than it gives).

The network works in the diffusion's space, images in [-1, 1] (Ho et al. sec. 3.3);
:class:`~miaudit.generative.DiffusionTarget` maps records in [0, 1] there (2x - 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """The sinusoidal embedding of integer timesteps t (b,) -> (b, dim) (Vaswani et al.
    2017's positional encoding, as Ho et al. use it: sin and cos of t / 10000^(2i/dim))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def _groups(channels: int) -> int:
    for g in (8, 4, 2):
        if channels % g == 0:
            return g
    return 1


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class CompactUNet(nn.Module):
    """eps_theta: (x_t (b, C, H, W) in the [-1, 1] space, t (b,) integers) -> eps_hat
    (b, C, H, W). H and W must be divisible by 4 (28 for MNIST)."""

    def __init__(self, channels: int = 1, width: int = 32) -> None:
        super().__init__()
        w, w2 = width, 2 * width
        self.tdim = tdim = 4 * width
        self._width = width
        self.time = nn.Sequential(nn.Linear(width, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inp = nn.Conv2d(channels, w, 3, padding=1)
        self.down1 = _ResBlock(w, w, tdim)
        self.pool1 = nn.Conv2d(w, w, 3, stride=2, padding=1)
        self.down2 = _ResBlock(w, w2, tdim)
        self.pool2 = nn.Conv2d(w2, w2, 3, stride=2, padding=1)
        self.mid = _ResBlock(w2, w2, tdim)
        self.up2 = _ResBlock(w2 + w2, w2, tdim)
        self.up1 = _ResBlock(w2 + w, w, tdim)
        self.out_norm = nn.GroupNorm(_groups(w), w)
        self.out = nn.Conv2d(w, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self._width))
        h0 = self.down1(self.inp(x), temb)  # (w, H, W)
        h1 = self.down2(self.pool1(h0), temb)  # (2w, H/2, W/2)
        h = self.mid(self.pool2(h1), temb)  # (2w, H/4, W/4)
        h = F.interpolate(h, size=h1.shape[2:], mode="nearest")
        h = self.up2(torch.cat([h, h1], dim=1), temb)
        h = F.interpolate(h, size=h0.shape[2:], mode="nearest")
        h = self.up1(torch.cat([h, h0], dim=1), temb)
        return self.out(F.silu(self.out_norm(h)))
