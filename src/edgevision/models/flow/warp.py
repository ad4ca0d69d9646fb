"""Backward (inverse) warping of feature maps by a flow field, in torch.

The torch counterpart of :func:`edgevision.data.flow.warp_backward`: with ``flow`` mapping the
*current* frame to the *keyframe* (``cur(x) ≈ key(x + flow(x))``), :func:`warp` samples the
keyframe features at ``x + flow(x)`` bilinearly (``grid_sample``, border replicate; exports to
ONNX ``GridSample``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["resize_flow", "warp"]


def warp(feat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``feat`` at ``x + flow(x)``.

    Args:
        feat: ``(N, C, h, w)`` float keyframe features.
        flow: ``(N, 2, h, w)`` float ``(dx, dy)`` in pixels of this resolution.

    Returns:
        ``(N, C, h, w)`` warped features.
    """
    n, _, h, w = feat.shape
    if flow.shape[-2:] != feat.shape[-2:]:
        raise ValueError(f"flow is {tuple(flow.shape[-2:])}, features {(h, w)}")
    ys = torch.arange(h, dtype=feat.dtype, device=feat.device).view(1, h, 1).expand(n, h, w)
    xs = torch.arange(w, dtype=feat.dtype, device=feat.device).view(1, 1, w).expand(n, h, w)
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=True)


def resize_flow(flow: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Resize ``(N, 2, h, w)`` flow to ``size`` and rescale its vectors to the new pixels.

    Written with shape tensors so an ONNX export keeps the sizes dynamic.
    """
    if not torch.jit.is_tracing() and tuple(int(v) for v in size) == tuple(flow.shape[-2:]):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    s_out = torch._shape_as_tensor(out)[-2:].to(flow.dtype)
    s_in = torch._shape_as_tensor(flow)[-2:].to(flow.dtype)
    return out * (s_out / s_in).flip(0).view(1, 2, 1, 1)
