"""Binary (+1/-1) weights of every weighted layer: seeded, or loaded from .npz/.npy by sign.

Shapes: a conv layer's weights are (out_channels, in_channels / groups, kh, kw); a dense
layer's are (out_features, C * H * W) over its input flattened channel-major (C, H, W).
Loaded values are binarised by sign: >= 0 gives +1, < 0 gives -1.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.readfile import load_arrays
from hyperdrive_sim.workload.layers import Conv, Dense
from hyperdrive_sim.workload.network import ShapedNetwork

Weights = dict[str, np.ndarray]


def weight_shapes(net: ShapedNetwork) -> dict[str, tuple[int, ...]]:
    """Expected weight array shape per weighted layer, in execution order."""
    shapes: dict[str, tuple[int, ...]] = {}
    for info in net.infos:
        layer = info.layer
        if isinstance(layer, Conv):
            cin = info.in_shapes[0].channels // layer.groups
            shapes[layer.name] = (layer.out_channels, cin, *layer.kernel)
        elif isinstance(layer, Dense):
            shapes[layer.name] = (layer.out_features, info.in_shapes[0].elements)
    return shapes


def random_weights(net: ShapedNetwork, seed: int) -> Weights:
    """Seeded +-1 weights; each layer's draw depends only on (seed, layer name)."""
    out: Weights = {}
    for name, shape in weight_shapes(net).items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        out[name] = (2 * rng.integers(0, 2, size=shape, dtype=np.int8) - 1).astype(np.int8)
    return out


def binarize(arrays: Mapping[str, np.ndarray], net: ShapedNetwork, source: str = "") -> Weights:
    """Sign of given arrays (one per weighted layer, exact shapes), as int8 +-1."""
    shapes = weight_shapes(net)
    missing = [n for n in shapes if n not in arrays]
    unknown = [n for n in arrays if n not in shapes]
    where = source or None
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"no weights for layer(s) {', '.join(map(repr, missing[:5]))}")
        if unknown:
            parts.append(f"unknown weighted layer name(s) {', '.join(map(repr, unknown[:5]))}")
        raise InputError(
            "; ".join(parts) + f"; expected one array per layer: {', '.join(shapes)}", file=where
        )
    out: Weights = {}
    for name, shape in shapes.items():
        a = np.asarray(arrays[name])
        if a.shape != shape:
            raise InputError(
                f"weights of layer {name!r} have shape {a.shape}, expected {shape}", file=where
            )
        if not np.issubdtype(a.dtype, np.number) or np.isnan(a).any():
            raise InputError(f"weights of layer {name!r} must be finite numbers", file=where)
        out[name] = np.where(a >= 0, 1, -1).astype(np.int8)
    return out


def load_weights(path: str | Path, net: ShapedNetwork) -> Weights:
    """Weights from an .npz (one array per layer name) or an .npy (single weighted layer)."""
    path = Path(path)
    arrays = load_arrays(path)
    if "" in arrays:  # an .npy: one array
        names = list(weight_shapes(net))
        if len(names) != 1:
            raise InputError(
                f"an .npy file holds one array, but the network has {len(names)} weighted "
                "layers; use an .npz with one array per layer name",
                file=str(path),
            )
        return binarize({names[0]: arrays[""]}, net, str(path))
    return binarize(arrays, net, str(path))
