"""Number formats of a verification run: input data, the inter-layer activation, the bound.

The zoo networks leave out batch norm and activations, so +-1 weights alone would let
values grow by about sqrt(fan-in) per layer and overflow FP16 (and FP32 exactness) within a
few layers. Every layer that grows values is therefore followed by a fixed element-wise
*verification activation* standing in for the missing normalisation:

    fp32:  a = clip(floor(y * 2**-s), -LEVEL, LEVEL)     (small integers, exact)
    fp16:  a = clip(y * 2**-s, -LEVEL, LEVEL)            (a power-of-two scale)

with 2**s the power of two nearest to sqrt(n) (ties down), s = ceil(log2(n) / 2 - 1/2), for
n terms per output (conv/dense fan-in, add inputs), and s = 0 for averages. Max pooling and
layout layers (upsample, concat, slice, shuffle) need none.
The activation is element-wise, so it moves no pixel across a chip border: the mesh and the
reference apply it identically. Comparisons are made on the layer's raw output ``y``.

In fp32 mode inputs are integers in [-LEVEL, LEVEL]; all partial sums are integers below
2**24, so FP32 results are exact in any summation order and must match bit for bit.
(Averages divide an exact integer sum once; the correctly rounded quotient is the same.)

In fp16 mode inputs are uniform in [-1, 1) rounded to half. Both computations accumulate in
FP16, term by term in the same order for every output pixel, so layers computed per pixel
must match exactly. A reduction across the mesh (global pooling or dense over a tiled map)
adds per-chip partial sums hop by hop, i.e. in another order. Output j of such a layer,
summing n exact terms t_i (then dividing by N for averages), may differ by at most

    B_j = 2 * n * u * (1 + n * u) * sum_i |t_i| / N + 2**-24,     u = 2**-11,

from Rump's bound |fl(sum) - sum| <= (n - 1) * u * sum |t_i| for recursive summation in any
order (no restriction on n), one rounded division per computation, and one FP16 subnormal
spacing of slack for underflow.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from hyperdrive_sim.workload.layers import AdaptivePool, Add, Conv, Dense, GlobalPool, Pool
from hyperdrive_sim.workload.network import LayerInfo

Precision = Literal["fp32", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16")
#: activations are clipped to [-LEVEL, LEVEL]; fp32 inputs are integers in this range
LEVEL = 15
U16 = 2.0**-11  # unit roundoff of IEEE half
ETA16 = 2.0**-24  # smallest half subnormal


def dtype_of(precision: Precision) -> type[np.floating]:
    return np.float32 if precision == "fp32" else np.float16


def terms_per_output(info: LayerInfo) -> tuple[int, int]:
    """(terms summed into each output, divisor) of a rounding layer; (0, 1) for exact ones."""
    layer, ins = info.layer, info.in_shapes
    if isinstance(layer, Conv):
        return ins[0].channels // layer.groups * layer.kernel[0] * layer.kernel[1], 1
    if isinstance(layer, Dense):
        return ins[0].elements, 1
    if isinstance(layer, Add):
        return len(ins), 1
    if isinstance(layer, Pool) and layer.mode == "avg":
        n = layer.kernel[0] * layer.kernel[1]
        return n, n
    if isinstance(layer, GlobalPool) and layer.mode == "avg":
        return ins[0].pixels, ins[0].pixels
    if isinstance(layer, AdaptivePool) and layer.mode == "avg":
        kh, kw = layer.window(ins[0])
        return kh * kw, kh * kw
    return 0, 1


def shift(info: LayerInfo) -> int | None:
    """Power-of-two down-scaling of the activation after the layer; None = no activation."""
    n, divisor = terms_per_output(info)
    if n == 0:
        return None
    return 0 if divisor > 1 else math.ceil(math.log2(n) / 2 - 0.5)


def activate(y: np.ndarray, s: int | None, precision: Precision) -> np.ndarray:
    """The verification activation (element-wise; see the module docstring)."""
    if s is None:
        return y
    scaled = y * y.dtype.type(2.0**-s)
    if precision == "fp32":
        scaled = np.floor(scaled)
    return np.clip(scaled, -LEVEL, LEVEL).astype(y.dtype, copy=False)


def make_input(shape: tuple[int, int, int], seed: int, precision: Precision) -> np.ndarray:
    """The input image: seeded, integers (fp32) or uniform [-1, 1) in half (fp16)."""
    rng = np.random.default_rng([seed, 0x1A9E])
    if precision == "fp32":
        return rng.integers(-LEVEL, LEVEL, size=shape, endpoint=True).astype(np.float32)
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float16)


def fp16_bound(n: int, abs_terms: np.ndarray) -> np.ndarray | None:
    """B per output (see the module docstring); ``abs_terms`` is sum |t_i| / N in float64."""
    if n == 0:
        return None
    nu = n * U16
    return 2.0 * nu * (1.0 + nu) * abs_terms + ETA16


def abs_error(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float64; equal values (also equal infinities) give 0, NaN gives inf."""
    a, b = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(invalid="ignore"):
        err = np.where(a == b, 0.0, np.abs(a - b))
    return np.where(np.isnan(err), np.inf, err)
