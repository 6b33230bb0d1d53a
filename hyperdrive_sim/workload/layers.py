"""Layer value objects: what each layer computes, independent of any hardware.

Every layer names its inputs (earlier layer names, or ``"input"`` for the image) and knows
how to infer its output shape from its input shapes. Spatial layers also say which input
rows a range of output rows needs, which is all the mapping needs to derive halos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hyperdrive_sim.errors import NetworkError
from hyperdrive_sim.limits import MAX_CHANNELS, MAX_KERNEL, MAX_UPSAMPLE

INPUT = "input"


@dataclass(frozen=True)
class Shape:
    """A feature map: channels x height x width (batch of one)."""

    channels: int
    height: int
    width: int

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def elements(self) -> int:
        return self.channels * self.height * self.width

    def __str__(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _pads(value: int | tuple[int, ...]) -> tuple[int, int, int, int]:
    """Padding as (top, left, bottom, right); an int or (h, w) pair is symmetric."""
    if isinstance(value, int):
        return (value, value, value, value)
    if len(value) == 2:
        return (value[0], value[1], value[0], value[1])
    if len(value) == 4:
        return tuple(int(v) for v in value)  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, (h, w) or (top, left, bottom, right), got {value}")


@dataclass(frozen=True)
class Layer:
    """Base of all layers. ``inputs`` are names of earlier layers or ``"input"``."""

    name: str
    inputs: tuple[str, ...]

    kind: ClassVar[str] = "layer"
    #: True when the output is a spatial map that can be tiled over the mesh.
    spatial: ClassVar[bool] = True
    #: Number of inputs the layer takes; None means two or more.
    arity: ClassVar[int | None] = 1

    @property
    def shape_refs(self) -> tuple[str, ...]:
        """Earlier tensors whose *shape* (never values) the output shape depends on; their
        shapes follow the inputs' in the tuple ``infer`` receives."""
        return ()

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        raise NotImplementedError

    def macs(self, shapes: tuple[Shape, ...], out: Shape) -> int:
        """Multiply-accumulates (binary MACs on Hyperdrive); 0 for weightless layers."""
        return 0

    def weights(self, shapes: tuple[Shape, ...]) -> int:
        """Number of weights (each one bit when binary)."""
        return 0

    def input_rows(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        """Input rows [lo', hi') needed for output rows [lo, hi), clipped to the map.

        ``out_size`` is the output map's height (only layers whose window depends on the
        ratio of the sizes read it). Works element-wise on integer arrays as on scalars.
        """
        return lo, hi

    def input_cols(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        """Input columns needed for output columns [lo, hi), clipped to the map."""
        return lo, hi

    def fail(self, message: str) -> NetworkError:
        return NetworkError(message, key=f"layer {self.name!r}")


def _window(lo: int, hi: int, size: int, kernel: int, stride: int, dil: int, pad: int):
    start = lo * stride - pad
    stop = (hi - 1) * stride - pad + (kernel - 1) * dil + 1
    return np.maximum(0, start), np.minimum(size, stop)


def _out_size(size: int, kernel: int, stride: int, dil: int, pad_lo: int, pad_hi: int) -> int:
    return (size + pad_lo + pad_hi - dil * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class _Windowed(Layer):
    """Shared geometry of convolutions and pooling windows."""

    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", _pair(self.kernel))
        object.__setattr__(self, "stride", _pair(self.stride))
        object.__setattr__(self, "padding", _pads(self.padding))
        object.__setattr__(self, "dilation", _pair(self.dilation))
        if min(*self.kernel, *self.stride, *self.dilation) < 1 or min(self.padding) < 0:
            raise self.fail("kernel, stride and dilation must be >= 1 and padding >= 0")
        if max(*self.kernel, *self.stride, *self.dilation, *self.padding) > MAX_KERNEL:
            raise self.fail(
                f"kernel, stride, dilation and padding must be at most {MAX_KERNEL} "
                f"(the input limit), got kernel {self.kernel}, stride {self.stride}, "
                f"dilation {self.dilation}, padding {self.padding}"
            )

    def _spatial_out(self, shape: Shape) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        top, left, bottom, right = self.padding
        h = _out_size(shape.height, kh, sh, dh, top, bottom)
        w = _out_size(shape.width, kw, sw, dw, left, right)
        if h < 1 or w < 1:
            raise self.fail(
                f"input {shape} is too small for kernel {kh}x{kw} (output would be {h}x{w})"
            )
        return h, w

    def input_rows(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        return _window(
            lo, hi, in_size, self.kernel[0], self.stride[0], self.dilation[0], self.padding[0]
        )

    def input_cols(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        return _window(
            lo, hi, in_size, self.kernel[1], self.stride[1], self.dilation[1], self.padding[1]
        )


@dataclass(frozen=True)
class Conv(_Windowed):
    """2D convolution; groups > 1 gives grouped and depthwise convolutions."""

    out_channels: int = 1
    groups: int = 1

    kind: ClassVar[str] = "conv"

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        (x,) = shapes
        _check_channels(self, self.out_channels, "output channels")
        if x.channels % self.groups or self.out_channels % self.groups:
            raise self.fail(
                f"groups={self.groups} must divide input channels {x.channels} "
                f"and output channels {self.out_channels}"
            )
        h, w = self._spatial_out(x)
        return Shape(self.out_channels, h, w)

    def macs(self, shapes: tuple[Shape, ...], out: Shape) -> int:
        return out.elements * (shapes[0].channels // self.groups) * self.kernel[0] * self.kernel[1]

    def weights(self, shapes: tuple[Shape, ...]) -> int:
        kh, kw = self.kernel
        return self.out_channels * (shapes[0].channels // self.groups) * kh * kw


@dataclass(frozen=True)
class Pool(_Windowed):
    """Max or average pooling over a window."""

    mode: str = "max"

    kind: ClassVar[str] = "pool"

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        if self.mode not in ("max", "avg"):
            raise self.fail(f"pool mode must be 'max' or 'avg', got {self.mode!r}")
        h, w = self._spatial_out(shapes[0])
        return Shape(shapes[0].channels, h, w)


@dataclass(frozen=True)
class GlobalPool(Layer):
    """Global average (or max) pooling to a 1x1 map: a reduction over the whole map."""

    mode: str = "avg"

    kind: ClassVar[str] = "global_pool"
    spatial: ClassVar[bool] = False

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        return Shape(shapes[0].channels, 1, 1)


def adaptive_bounds(lo, hi, in_size: int, out_size: int):
    """Input rows [start, stop) of adaptive-pooling output rows [lo, hi) (PyTorch's rule:
    output i pools rows floor(i*n/o) .. ceil((i+1)*n/o) - 1). Element-wise on arrays."""
    return lo * in_size // out_size, -(-hi * in_size // out_size)


@dataclass(frozen=True)
class AdaptivePool(Layer):
    """Average (or max) pooling to a fixed output size (PyTorch's AdaptiveAvgPool2d): the
    windows are re-derived from the input size, so a classifier after it keeps its inputs."""

    output: tuple[int, int] = (1, 1)
    mode: str = "avg"

    kind: ClassVar[str] = "adaptive_pool"

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", _pair(self.output))
        if min(self.output) < 1:
            raise self.fail(f"output size must be at least 1x1, got {self.output}")

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        if self.mode not in ("max", "avg"):
            raise self.fail(f"pool mode must be 'max' or 'avg', got {self.mode!r}")
        x = shapes[0]
        if x.height < self.output[0] or x.width < self.output[1]:
            raise self.fail(
                f"input {x} is smaller than the output size {self.output[0]}x{self.output[1]}"
            )
        return Shape(x.channels, *self.output)

    def window(self, shape: Shape) -> tuple[int, int]:
        """The largest window (rows, cols) on an input of ``shape``."""
        h, w = self.output
        return _largest_window(shape.height, h), _largest_window(shape.width, w)

    def input_rows(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        return adaptive_bounds(lo, hi, in_size, self.output[0])

    def input_cols(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        return adaptive_bounds(lo, hi, in_size, self.output[1])


def _largest_window(n: int, o: int) -> int:
    start, stop = adaptive_bounds(np.arange(o), np.arange(o) + 1, n, o)
    return int((stop - start).max())


@dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer over the flattened input."""

    out_features: int = 1
    #: input features the weight matrix has (an imported model's); None: whatever the
    #: flattened input holds (the zoo's VGG-16 classifier grows with the input)
    in_features: int | None = None

    kind: ClassVar[str] = "dense"
    spatial: ClassVar[bool] = False

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        _check_channels(self, self.out_features, "output features")
        got = shapes[0].elements
        if self.in_features is not None and got != self.in_features:
            raise self.fail(
                f"its weight takes {self.in_features} input features but the flattened input "
                f"{shapes[0]} has {got} at this input size (the model's flatten only fits its "
                "classifier at other sizes through an adaptive pool, and there is none here)"
            )
        return Shape(self.out_features, 1, 1)

    def macs(self, shapes: tuple[Shape, ...], out: Shape) -> int:
        return shapes[0].elements * self.out_features

    def weights(self, shapes: tuple[Shape, ...]) -> int:
        return shapes[0].elements * self.out_features


def _check_channels(layer: Layer, count: int, what: str) -> None:
    if count > MAX_CHANNELS:
        raise layer.fail(f"{what} must be at most {MAX_CHANNELS} (the input limit), got {count}")


def _same_spatial(layer: Layer, shapes: tuple[Shape, ...]) -> None:
    sizes = {(s.height, s.width) for s in shapes}
    if len(sizes) != 1:
        pairs = ", ".join(f"{ref!r} ({s})" for ref, s in zip(layer.inputs, shapes, strict=True))
        raise layer.fail(
            f"inputs have different spatial sizes: {pairs}; height x width must match (a "
            "stride-2 layer rounds an odd side, so the input sides are usually not multiples "
            "of the network's total downsampling)"
        )


@dataclass(frozen=True)
class Add(Layer):
    """Element-wise sum of two or more maps (residual connections)."""

    kind: ClassVar[str] = "add"
    arity: ClassVar[int | None] = None

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        _same_spatial(self, shapes)
        if len(set(shapes)) != 1:
            pairs = ", ".join(f"{ref!r} ({s})" for ref, s in zip(self.inputs, shapes, strict=True))
            raise self.fail(f"inputs must have equal shapes (channels too), got {pairs}")
        return shapes[0]


@dataclass(frozen=True)
class Scale(Layer):
    """A map multiplied channel by channel with a C x 1 x 1 gate (squeeze-and-excitation).
    Inputs: (gate, map), the gate first: it is the tensor that moves to the map's chips."""

    kind: ClassVar[str] = "scale"
    arity: ClassVar[int | None] = 2

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        gate, x = shapes
        if gate.pixels != 1 or gate.channels != x.channels:
            pairs = ", ".join(f"{ref!r} ({s})" for ref, s in zip(self.inputs, shapes, strict=True))
            raise self.fail(f"expects a C x 1 x 1 gate and a C x H x W map, got {pairs}")
        return x


@dataclass(frozen=True)
class Concat(Layer):
    """Channel concatenation; a memory layout, no arithmetic."""

    kind: ClassVar[str] = "concat"
    arity: ClassVar[int | None] = None

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        _same_spatial(self, shapes)
        return Shape(sum(s.channels for s in shapes), shapes[0].height, shapes[0].width)


@dataclass(frozen=True)
class ChannelSlice(Layer):
    """Channels [start, stop) of the input (the split of ShuffleNet-V2 units)."""

    start: int = 0
    stop: int = 0

    kind: ClassVar[str] = "channel_slice"

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        (x,) = shapes
        if not 0 <= self.start < self.stop <= x.channels:
            raise self.fail(f"slice [{self.start}, {self.stop}) outside {x.channels} channels")
        return Shape(self.stop - self.start, x.height, x.width)


@dataclass(frozen=True)
class ChannelShuffle(Layer):
    """Channel shuffle over ``groups``; a permutation, no arithmetic."""

    groups: int = 2

    kind: ClassVar[str] = "channel_shuffle"

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        if shapes[0].channels % self.groups:
            raise self.fail(f"groups={self.groups} must divide {shapes[0].channels} channels")
        return shapes[0]


@dataclass(frozen=True)
class Upsample(Layer):
    """Nearest-neighbour upsampling by an integer factor, or (``size_of``) to the height
    and width of an earlier tensor (``F.interpolate(x, size=other.shape[-2:])``): output
    pixel o reads input pixel floor(o * n_in / n_out)."""

    factor: int = 2
    #: the tensor (earlier layer or "input") whose height and width the output takes
    size_of: str | None = None

    kind: ClassVar[str] = "upsample"

    @property
    def shape_refs(self) -> tuple[str, ...]:
        return () if self.size_of is None else (self.size_of,)

    def infer(self, shapes: tuple[Shape, ...]) -> Shape:
        x = shapes[0]
        if self.size_of is not None:  # no larger than that tensor, which is within limits
            like = shapes[1]
            return Shape(x.channels, like.height, like.width)
        if not 1 <= self.factor <= MAX_UPSAMPLE:
            raise self.fail(
                f"factor must be between 1 and {MAX_UPSAMPLE} (the input limit), got {self.factor}"
            )
        return Shape(x.channels, x.height * self.factor, x.width * self.factor)

    def input_rows(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        if out_size is None:
            if self.size_of is not None:
                raise ValueError(f"layer {self.name!r}: the window needs the output size")
            out_size = in_size * self.factor
        return lo * in_size // out_size, np.minimum(in_size, (hi - 1) * in_size // out_size + 1)

    def input_cols(
        self, lo: int, hi: int, in_size: int, out_size: int | None = None
    ) -> tuple[int, int]:
        return self.input_rows(lo, hi, in_size, out_size)


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (
        *(Conv, Pool, GlobalPool, AdaptivePool, Dense, Add, Scale, Concat),
        *(ChannelSlice, ChannelShuffle, Upsample),
    )
}
