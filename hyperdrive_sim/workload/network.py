"""A network is an ordered layer graph; ``Network.at(h, w)`` infers every shape once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from hyperdrive_sim.errors import NetworkError
from hyperdrive_sim.limits import MAX_MAP_ELEMENTS
from hyperdrive_sim.workload.layers import INPUT, Layer, Shape


@dataclass(frozen=True)
class Network:
    """Layers in execution order; each names its inputs (earlier layers or ``"input"``)."""

    name: str
    layers: tuple[Layer, ...]
    input_channels: int = 3
    #: (height, width) the model is made for, when it has one (an ONNX graph with a fixed
    #: input size); None for resolution-free networks (zoo, YAML)
    native_input: tuple[int, int] | None = None
    #: file the network was read from; shape errors name it (not part of its identity)
    source: str | None = field(default=None, repr=False, compare=False)
    #: input sides must be multiples of this (e.g. 32 when maps are downsampled by 32 and
    #: upsampled back to be concatenated with earlier ones, as in YOLOv3)
    input_multiple: int = 1

    def __post_init__(self) -> None:
        seen = {INPUT}
        for layer in self.layers:
            if layer.name in seen:
                raise NetworkError(f"duplicate layer name {layer.name!r}", key=self.name)
            if not layer.inputs:
                raise layer.fail("has no inputs")
            for ref in (*layer.inputs, *layer.shape_refs):
                if ref not in seen:
                    raise layer.fail(
                        f"input {ref!r} is not an earlier layer (inputs must come before use)"
                    )
            if layer.arity is not None and len(layer.inputs) != layer.arity:
                raise layer.fail(f"takes {layer.arity} input(s), got {len(layer.inputs)}")
            if layer.arity is None and len(layer.inputs) < 2:
                raise layer.fail("takes two or more inputs")
            seen.add(layer.name)
        if not self.layers:
            raise NetworkError("has no layers", key=self.name)

    def at(self, height: int, width: int) -> ShapedNetwork:
        """Infer all shapes for an input image of ``height`` x ``width`` pixels."""
        if height < 1 or width < 1:
            raise NetworkError(f"input resolution must be positive, got {height}x{width}")
        m = self.input_multiple
        if height % m or width % m:
            bad = ", ".join(f"{v} = {v / m:g} x {m}" for v in (width, height) if v % m)
            up = lambda v: -(-v // m) * m  # noqa: E731
            raise NetworkError(
                f"input sides must be multiples of {m} for {self.name}, got {width}x{height} "
                f"({bad}); try {up(width)}x{up(height)}",
                key="inputs",
            )
        shape = Shape(self.input_channels, height, width)
        if shape.elements > MAX_MAP_ELEMENTS:
            raise NetworkError(
                f"the input image {shape} has more than {MAX_MAP_ELEMENTS} values "
                "(the input limit of one feature map)",
                file=self.source,
                key="input_channels" if self.source else None,
            )
        return ShapedNetwork(self, shape)


@dataclass(frozen=True)
class LayerInfo:
    """One layer with its inferred shapes and work."""

    index: int
    layer: Layer
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    macs: int
    weights: int


@dataclass(frozen=True)
class ShapedNetwork:
    """A network at one input resolution: shapes, MACs, weights and tensor lifetimes."""

    network: Network
    input_shape: Shape
    infos: tuple[LayerInfo, ...] = field(init=False)

    def __post_init__(self) -> None:
        shapes = {INPUT: self.input_shape}
        infos = []
        source = self.network.source
        for i, layer in enumerate(self.network.layers):
            ins = tuple(shapes[ref] for ref in layer.inputs)
            try:
                out = layer.infer((*ins, *(shapes[ref] for ref in layer.shape_refs)))
                if out.elements > MAX_MAP_ELEMENTS:
                    raise layer.fail(
                        f"the output map {out} has more than {MAX_MAP_ELEMENTS} values "
                        "(the input limit of one feature map)"
                    )
            except NetworkError as exc:
                if source is None:
                    raise
                raise NetworkError(exc.detail, file=source, key=f"layers.{layer.name}") from None
            shapes[layer.name] = out
            infos.append(LayerInfo(i, layer, ins, out, layer.macs(ins, out), layer.weights(ins)))
        object.__setattr__(self, "infos", tuple(infos))

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def macs(self) -> int:
        return sum(info.macs for info in self.infos)

    @property
    def weights(self) -> int:
        return sum(info.weights for info in self.infos)

    @cached_property
    def last_use(self) -> dict[str, int]:
        """Index of the last layer reading each tensor; network outputs live to the end."""
        last = {INPUT: 0}
        for info in self.infos:
            last.setdefault(info.layer.name, len(self.infos) - 1)
            for ref in info.layer.inputs:
                last[ref] = info.index
        for name in self.outputs:
            last[name] = len(self.infos) - 1
        return last

    @cached_property
    def outputs(self) -> tuple[str, ...]:
        """Layers whose result nobody consumes: what the system reads out."""
        used = {ref for info in self.infos for ref in info.layer.inputs}
        return tuple(info.layer.name for info in self.infos if info.layer.name not in used)

    def shape_of(self, name: str) -> Shape:
        if name == INPUT:
            return self.input_shape
        return self.infos[self.index_of(name)].out_shape

    @cached_property
    def _index(self) -> dict[str, int]:
        return {info.layer.name: info.index for info in self.infos}

    def index_of(self, name: str) -> int:
        return self._index[name]
