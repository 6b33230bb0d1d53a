"""Monolithic numpy kernels: every layer of the workload on a whole (C, H, W) map.

The arithmetic follows the array dtype. float32 and float64 use vectorised sums and
matrix products; float16 models the chip's FP16 accumulator: every output is summed term by
term in a fixed order (input channel, kernel row, kernel column; or pixel row-major), each
addition rounded to half precision. Products with +-1 weights are exact in every dtype.

Padding conventions: convolutions and average pooling pad with zeros (average pooling
divides by kh*kw, i.e. ``count_include_pad=True``); max pooling pads with -inf.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hyperdrive_sim.workload.layers import (
    AdaptivePool,
    Add,
    ChannelShuffle,
    ChannelSlice,
    Concat,
    Conv,
    Dense,
    GlobalPool,
    Layer,
    Pool,
    Scale,
    Upsample,
    adaptive_bounds,
)

Pads = tuple[int, int, int, int]  # top, left, bottom, right


def _fp16(x: np.ndarray) -> bool:
    return x.dtype == np.float16


def seq_sum(terms: np.ndarray) -> np.ndarray:
    """Sum over axis 0: one rounded addition per term for float16, else numpy's sum."""
    if not _fp16(terms) or len(terms) == 0:
        return terms.sum(axis=0)
    acc = terms[0].copy()
    for term in terms[1:]:
        acc += term
    return acc


def divide(x: np.ndarray, n: int) -> np.ndarray:
    """``x / n`` correctly rounded in the dtype of ``x`` (float16 goes via float32)."""
    if _fp16(x):
        return (x.astype(np.float32) / np.float32(n)).astype(np.float16)
    return x / x.dtype.type(n)


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right)), constant_values=value)


def windows(x: np.ndarray, kernel, stride, dilation) -> np.ndarray:
    """View (C, Ho, Wo, kh, kw) of the (already padded) map's sliding windows."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    view = sliding_window_view(x, span, axis=(1, 2))
    return view[:, ::sh, ::sw, ::dh, ::dw]


def _matmul(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Batched (g, M, K) @ (g, K, P); float16 accumulates term by term over K."""
    if not _fp16(x):
        return np.matmul(w, x)
    acc = np.zeros((w.shape[0], w.shape[1], x.shape[2]), dtype=np.float16)
    for k in range(w.shape[2]):
        acc += w[:, :, k, None] * x[:, None, k, :]
    return acc


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    stride=(1, 1),
    pads: Pads = (0, 0, 0, 0),
    dilation=(1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Grouped 2D convolution (cross-correlation) of x (C, H, W) with w (Co, C/g, kh, kw)."""
    c_out, cin_g, kh, kw = w.shape
    cols = windows(pad(x, pads), (kh, kw), stride, dilation)
    _, ho, wo, _, _ = cols.shape
    g = groups
    cols = cols.reshape(g, cin_g, ho, wo, kh, kw).transpose(0, 1, 4, 5, 2, 3)
    cols = cols.reshape(g, cin_g * kh * kw, ho * wo)
    out = _matmul(w.astype(x.dtype).reshape(g, c_out // g, cin_g * kh * kw), cols)
    return out.reshape(c_out, ho, wo)


def pool2d(x: np.ndarray, kernel, stride, pads: Pads, dilation, mode: str) -> np.ndarray:
    """Max pooling (pads ignored) or average pooling (zero pads counted, divisor kh*kw)."""
    kh, kw = kernel
    if mode == "max":
        return windows(pad(x, pads, -np.inf), kernel, stride, dilation).max(axis=(3, 4))
    view = windows(pad(x, pads), kernel, stride, dilation)
    terms = np.moveaxis(view.reshape(*view.shape[:3], kh * kw), 3, 0)
    return divide(seq_sum(terms), kh * kw)


def upsample(x: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)


def resize_rows(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Nearest-neighbour resize: output pixel (i, j) is input pixel (rows[i], cols[j])."""
    return x[:, rows][:, :, cols]


def nearest_index(lo: int, hi: int, in_size: int, out_size: int) -> np.ndarray:
    """Input index of output pixels lo .. hi-1 (floor(o * n_in / n_out))."""
    return np.arange(lo, hi) * in_size // out_size


def adaptive_pool2d(
    x: np.ndarray, rows: tuple[int, int, int], cols: tuple[int, int, int], origin, mode: str
) -> np.ndarray:
    """Adaptive pooling of output rows/cols ``(lo, hi, out_size)`` whose input map has
    ``rows``/``cols`` sizes in ``origin`` = (in_height, in_width, row0, col0): ``x`` holds
    input rows from row0 and columns from col0. Windows summed row-major (float16: one
    rounding per addition), divided by their own size."""
    (rlo, rhi, oh), (clo, chi, ow) = rows, cols
    n_h, n_w, r0, c0 = origin
    r_start, r_stop = adaptive_bounds(np.arange(rlo, rhi), np.arange(rlo, rhi) + 1, n_h, oh)
    c_start, c_stop = adaptive_bounds(np.arange(clo, chi), np.arange(clo, chi) + 1, n_w, ow)
    out = np.zeros((x.shape[0], rhi - rlo, chi - clo), dtype=x.dtype)
    for i, (a, b) in enumerate(zip(r_start - r0, r_stop - r0, strict=True)):
        for j, (c, d) in enumerate(zip(c_start - c0, c_stop - c0, strict=True)):
            win = x[:, a:b, c:d].reshape(x.shape[0], -1)
            if mode == "max":
                out[:, i, j] = win.max(axis=1)
            else:
                out[:, i, j] = divide(seq_sum(win.T), win.shape[1])
    return out


def channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    c, h, w = x.shape
    return x.reshape(groups, c // groups, h, w).transpose(1, 0, 2, 3).reshape(c, h, w)


def add(xs: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise sum, left to right (one rounding per addition)."""
    return seq_sum(np.stack(xs))


def global_sum(x: np.ndarray, mode: str) -> np.ndarray:
    """Per-channel sum (avg) or max over all pixels, pixels in row-major order; shape (C,)."""
    flat = x.reshape(x.shape[0], -1)
    if mode == "max":
        return flat.max(axis=1, initial=-np.inf)
    return seq_sum(flat.T)


def dense_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``w @ x.ravel()`` with w (out, n): the terms of each output summed in input order."""
    flat = x.reshape(-1)
    return _matmul(w.astype(x.dtype)[None], flat[None, :, None])[0, :, 0]


def finish_global(total: np.ndarray, mode: str, pixels: int) -> np.ndarray:
    """A (C,) reduction result as the layer's (C, 1, 1) output."""
    out = divide(total, pixels) if mode == "avg" else total
    return out.reshape(-1, 1, 1)


def layer_op(
    layer: Layer,
    inputs: Sequence[np.ndarray],
    weight: np.ndarray | None,
    out_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """The layer on whole maps, with the layer's own padding (the monolithic reference).

    ``out_size`` (height, width) is the output size of an upsample to another tensor's size.
    """
    x = inputs[0]
    if isinstance(layer, Conv):
        return conv2d(x, weight, layer.stride, layer.padding, layer.dilation, layer.groups)
    if isinstance(layer, Pool):
        return pool2d(x, layer.kernel, layer.stride, layer.padding, layer.dilation, layer.mode)
    if isinstance(layer, GlobalPool):
        return finish_global(global_sum(x, layer.mode), layer.mode, x.shape[1] * x.shape[2])
    if isinstance(layer, Dense):
        return dense_sum(x, weight).reshape(-1, 1, 1)
    if isinstance(layer, Add):
        return add(inputs)
    if isinstance(layer, Scale):  # gate (C, 1, 1) times map (C, H, W), one rounding each
        return inputs[0] * inputs[1]
    if isinstance(layer, Concat):
        return np.concatenate(inputs, axis=0)
    if isinstance(layer, ChannelSlice):
        return x[layer.start : layer.stop]
    if isinstance(layer, ChannelShuffle):
        return channel_shuffle(x, layer.groups)
    if isinstance(layer, AdaptivePool):
        (oh, ow), (_, h, w) = layer.output, x.shape
        return adaptive_pool2d(x, (0, oh, oh), (0, ow, ow), (h, w, 0, 0), layer.mode)
    if isinstance(layer, Upsample):
        if layer.size_of is None:
            return upsample(x, layer.factor)
        (oh, ow), (_, h, w) = out_size, x.shape
        return resize_rows(x, nearest_index(0, oh, h, oh), nearest_index(0, ow, w, ow))
    raise NotImplementedError(f"no reference kernel for layer kind {layer.kind!r}")
