"""A small fluent builder so zoo definitions read like the papers' layer tables."""

from __future__ import annotations

from hyperdrive_sim.workload.layers import (
    INPUT,
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
)
from hyperdrive_sim.workload.network import Network


class NetBuilder:
    """Appends layers in execution order; each method returns the new layer's name.

    ``src`` defaults to the previously added layer (or the image for the first layer).
    Convolution and pooling padding defaults to "same" for odd kernels: dilation*(k-1)//2.
    """

    def __init__(self, name: str, input_channels: int = 3):
        self.name = name
        self.input_channels = input_channels
        self.layers: list[Layer] = []
        self.last = INPUT
        self._count: dict[str, int] = {}

    def _name(self, kind: str, name: str | None) -> str:
        if name is not None:
            return name
        self._count[kind] = self._count.get(kind, 0) + 1
        return f"{kind}{self._count[kind]}"

    def _add(self, layer: Layer) -> str:
        self.layers.append(layer)
        self.last = layer.name
        return layer.name

    def conv(
        self,
        out: int,
        k: int = 3,
        stride: int = 1,
        pad: int | tuple[int, ...] | None = None,
        groups: int = 1,
        dilation: int = 1,
        src: str | None = None,
        name: str | None = None,
    ) -> str:
        pad = dilation * (k - 1) // 2 if pad is None else pad
        return self._add(
            Conv(
                self._name("conv", name),
                (src or self.last,),
                kernel=k,
                stride=stride,
                padding=pad,
                dilation=dilation,
                out_channels=out,
                groups=groups,
            )
        )

    def pool(
        self,
        k: int,
        stride: int | None = None,
        pad: int | tuple[int, ...] = 0,
        mode: str = "max",
        src: str | None = None,
        name: str | None = None,
    ) -> str:
        return self._add(
            Pool(
                self._name(f"{mode}pool", name),
                (src or self.last,),
                kernel=k,
                stride=stride or k,
                padding=pad,
                mode=mode,
            )
        )

    def global_pool(self, mode: str = "avg", src: str | None = None, name: str | None = None):
        return self._add(GlobalPool(self._name("gpool", name), (src or self.last,), mode=mode))

    def dense(self, out: int, src: str | None = None, name: str | None = None) -> str:
        return self._add(Dense(self._name("fc", name), (src or self.last,), out_features=out))

    def add(self, *srcs: str, name: str | None = None) -> str:
        return self._add(Add(self._name("add", name), tuple(srcs)))

    def scale(self, gate: str, src: str | None = None, name: str | None = None) -> str:
        """The map ``src`` multiplied channel by channel with the C x 1 x 1 ``gate``."""
        return self._add(Scale(self._name("scale", name), (gate, src or self.last)))

    def concat(self, *srcs: str, name: str | None = None) -> str:
        return self._add(Concat(self._name("concat", name), tuple(srcs)))

    def slice(self, start: int, stop: int, src: str | None = None, name: str | None = None):
        return self._add(
            ChannelSlice(self._name("slice", name), (src or self.last,), start=start, stop=stop)
        )

    def shuffle(self, groups: int = 2, src: str | None = None, name: str | None = None) -> str:
        return self._add(
            ChannelShuffle(self._name("shuffle", name), (src or self.last,), groups=groups)
        )

    def upsample(
        self,
        factor: int = 2,
        src: str | None = None,
        name: str | None = None,
        size_of: str | None = None,
    ) -> str:
        """Upsample by ``factor``, or to the height and width of tensor ``size_of``."""
        layer = Upsample(self._name("upsample", name), (src or self.last,), factor, size_of)
        return self._add(layer)

    def build(self) -> Network:
        return Network(self.name, tuple(self.layers), self.input_channels)
