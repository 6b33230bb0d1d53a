"""A network is an ordered layer graph; ``Network.at(h, w)`` infers every shape once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from hyperdrive_sim.errors import NetworkError
from hyperdrive_sim.workload.layers import INPUT, Layer, Shape


@dataclass(frozen=True)
class Network:
    """Layers in execution order; each names its inputs (earlier layers or ``"input"``)."""

    name: str
    layers: tuple[Layer, ...]
    input_channels: int = 3

    def __post_init__(self) -> None:
        seen = {INPUT}
        for layer in self.layers:
            if layer.name in seen:
                raise NetworkError(f"duplicate layer name {layer.name!r}", key=self.name)
            if not layer.inputs:
                raise layer.fail("has no inputs")
            for ref in layer.inputs:
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
        return ShapedNetwork(self, Shape(self.input_channels, height, width))


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
        for i, layer in enumerate(self.network.layers):
            ins = tuple(shapes[ref] for ref in layer.inputs)
            out = layer.infer(ins)
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
