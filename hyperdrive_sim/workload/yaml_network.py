"""User-defined networks in YAML.

A file has a ``name``, optional ``input_channels`` (default 3) and a list of ``layers``, each
a mapping with a ``type`` (conv, pool, adaptive_pool, global_pool, dense, add, scale, concat,
channel_slice, channel_shuffle, upsample), an optional ``name`` and optional ``inputs``
(default: the previous layer, or ``input`` - the image - for the first layer)::

    name: tiny
    layers:
      - {name: c1, type: conv, out: 16, kernel: 3, stride: 1}
      - {name: c2, type: conv, out: 16, kernel: 3, groups: 16, dilation: 2}
      - {name: res, type: add, inputs: [c1, c2]}
      - {type: global_pool}
      - {type: dense, out: 10}

Schema problems raise :class:`SpecError`, layers that do not connect :class:`NetworkError`;
both carry the file and the dotted key path (``layers[2].kernel``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from hyperdrive_sim import limits
from hyperdrive_sim.errors import NetworkError, SpecError, did_you_mean
from hyperdrive_sim.spec.loader import read_yaml
from hyperdrive_sim.workload.layers import (
    INPUT,
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
)
from hyperdrive_sim.workload.network import Network

# --------------------------------------------------------------------------------------------
# Value types with one clear message each (pydantic's own union errors are hard to read).


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _in_range(value: object, low: int, high: int) -> bool:
    return _is_int(value) and low <= value <= high  # type: ignore[operator]


def _int_at_least(low: int, what: str, high: int):
    def check(value: object) -> int:
        if _is_int(value) and value > high:  # type: ignore[operator]
            raise ValueError(f"expected at most {high} (the input limit), got {value!r}")
        if not _in_range(value, low, high):
            raise ValueError(f"expected {what}, got {value!r}")
        return value  # type: ignore[return-value]

    return check


def _int_or_list(low: int, what: str, lengths: tuple[int, ...], high: int):
    counts = " or ".join(str(n) for n in lengths)
    expected = f"{what} or a list of {counts} of them (each at most {high}, the input limit)"

    def check(value: object) -> int | tuple[int, ...]:
        if _in_range(value, low, high):
            return value  # type: ignore[return-value]
        if (
            isinstance(value, list)
            and len(value) in lengths
            and all(_in_range(v, low, high) for v in value)
        ):
            return tuple(value)
        raise ValueError(f"expected {expected}, got {value!r}")

    return check


def _int_schema(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _int_or_list_schema(low: int, lengths: tuple[int, ...], high: int) -> dict[str, Any]:
    lists = {"type": "array", "items": _int_schema(low, high)}
    return {
        "anyOf": [
            _int_schema(low, high),
            {**lists, "minItems": min(lengths), "maxItems": max(lengths)},
        ]
    }


def _count(low: int, high: int, what: str) -> Any:
    """A whole number in [low, high]: one clear message, and the same bounds in the schema."""
    return Annotated[
        int, PlainValidator(_int_at_least(low, what, high)), WithJsonSchema(_int_schema(low, high))
    ]


PositiveInt = _count(1, limits.MAX_CHANNELS, "a positive integer")
NonNegativeInt = _count(0, limits.MAX_CHANNELS, "a non-negative integer")
Factor = _count(1, limits.MAX_UPSAMPLE, "a positive integer")
Size = Annotated[
    int | tuple[int, int],
    PlainValidator(_int_or_list(1, "a positive integer", (2,), limits.MAX_KERNEL)),
    WithJsonSchema(_int_or_list_schema(1, (2,), limits.MAX_KERNEL)),
]
Padding = Annotated[
    int | tuple[int, ...],
    PlainValidator(_int_or_list(0, "a non-negative integer", (2, 4), limits.MAX_KERNEL)),
    WithJsonSchema(_int_or_list_schema(0, (2, 4), limits.MAX_KERNEL)),
]
LayerName = Annotated[str, Field(min_length=1)]


# --------------------------------------------------------------------------------------------
# One model per layer type


class _LayerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: LayerName | None = Field(None, description="Unique layer name (default: automatic).")
    inputs: list[LayerName] | None = Field(
        None, description="Names of earlier layers or 'input' (default: the previous layer)."
    )

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        raise NotImplementedError


class ConvSpec(_LayerSpec):
    """2D convolution; ``groups`` = input channels gives a depthwise convolution."""

    type: Literal["conv"]
    out: PositiveInt = Field(description="Output channels.")
    kernel: Size
    stride: Size = 1
    padding: Padding | None = Field(
        None,
        description="int, [h, w] or [top, left, bottom, right]; default dilation*(k-1)//2 "
        "('same' for odd kernels).",
    )
    dilation: Size = 1
    groups: PositiveInt = 1

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        padding = self.padding
        if padding is None:
            kh, kw = _pair(self.kernel)
            dh, dw = _pair(self.dilation)
            padding = (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
        return Conv(name, inputs, kernel=self.kernel, stride=self.stride, padding=padding,
                    dilation=self.dilation, out_channels=self.out, groups=self.groups)  # fmt: skip


class PoolSpec(_LayerSpec):
    """Max or average pooling over a window."""

    type: Literal["pool"]
    mode: Literal["max", "avg"] = "max"
    kernel: Size
    stride: Size | None = Field(None, description="Default: the kernel size.")
    padding: Padding = 0

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        stride = self.kernel if self.stride is None else self.stride
        return Pool(name, inputs, kernel=self.kernel, stride=stride, padding=self.padding,
                    mode=self.mode)  # fmt: skip


class GlobalPoolSpec(_LayerSpec):
    """Global pooling to a 1x1 map."""

    type: Literal["global_pool"]
    mode: Literal["max", "avg"] = "avg"

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return GlobalPool(name, inputs, mode=self.mode)


class AdaptivePoolSpec(_LayerSpec):
    """Average or max pooling to a fixed output size, whatever the input size (PyTorch's
    AdaptiveAvgPool2d), so a dense layer after it keeps its input features."""

    type: Literal["adaptive_pool"]
    output: Size = Field(description="Output height and width: int or [h, w].")
    mode: Literal["max", "avg"] = "avg"

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return AdaptivePool(name, inputs, output=self.output, mode=self.mode)


class DenseSpec(_LayerSpec):
    """Fully connected layer over the flattened input."""

    type: Literal["dense"]
    out: PositiveInt = Field(description="Output features.")

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return Dense(name, inputs, out_features=self.out)


class AddSpec(_LayerSpec):
    """Element-wise sum of two or more equally shaped maps."""

    type: Literal["add"]
    inputs: list[LayerName] = Field(min_length=2, description="Two or more earlier layers.")

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return Add(name, inputs)


class ScaleSpec(_LayerSpec):
    """A map multiplied channel by channel with a C x 1 x 1 gate (squeeze-and-excitation)."""

    type: Literal["scale"]
    inputs: list[LayerName] = Field(
        min_length=2, max_length=2, description="[gate, map]: the C x 1 x 1 gate first."
    )

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return Scale(name, inputs)


class ConcatSpec(_LayerSpec):
    """Channel concatenation of two or more maps of equal spatial size."""

    type: Literal["concat"]
    inputs: list[LayerName] = Field(min_length=2, description="Two or more earlier layers.")

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return Concat(name, inputs)


class ChannelSliceSpec(_LayerSpec):
    """Channels [start, stop) of the input."""

    type: Literal["channel_slice"]
    start: NonNegativeInt = 0
    stop: PositiveInt

    @field_validator("stop")
    @classmethod
    def _after_start(cls, stop: int, info: ValidationInfo) -> int:
        start = info.data.get("start", 0)
        if stop <= start:
            raise ValueError(f"expected stop > start ({start}), got {stop}")
        return stop

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return ChannelSlice(name, inputs, start=self.start, stop=self.stop)


class ChannelShuffleSpec(_LayerSpec):
    """Channel shuffle over ``groups`` groups."""

    type: Literal["channel_shuffle"]
    groups: PositiveInt = 2

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        return ChannelShuffle(name, inputs, groups=self.groups)


class UpsampleSpec(_LayerSpec):
    """Nearest-neighbour upsampling by an integer factor, or to the size of an earlier map."""

    type: Literal["upsample"]
    factor: Factor | None = Field(None, description="Integer factor (default 2).")
    size_of: LayerName | None = Field(
        None,
        description="An earlier layer (or 'input') whose height and width the output takes, "
        "instead of a factor (a decoder resized to a skip connection's map).",
    )

    @field_validator("size_of")
    @classmethod
    def _one_rule(cls, size_of: str | None, info: ValidationInfo) -> str | None:
        if size_of is not None and info.data.get("factor") is not None:
            raise ValueError("give either factor or size_of, not both")
        return size_of

    def to_layer(self, name: str, inputs: tuple[str, ...]) -> Layer:
        if self.size_of is not None:
            return Upsample(name, inputs, size_of=self.size_of)
        return Upsample(name, inputs, factor=2 if self.factor is None else self.factor)


_SPECS: dict[str, type[_LayerSpec]] = {
    "conv": ConvSpec,
    "pool": PoolSpec,
    "adaptive_pool": AdaptivePoolSpec,
    "global_pool": GlobalPoolSpec,
    "dense": DenseSpec,
    "add": AddSpec,
    "scale": ScaleSpec,
    "concat": ConcatSpec,
    "channel_slice": ChannelSliceSpec,
    "channel_shuffle": ChannelShuffleSpec,
    "upsample": UpsampleSpec,
}
LayerSpec = Annotated[
    ConvSpec
    | PoolSpec
    | AdaptivePoolSpec
    | GlobalPoolSpec
    | DenseSpec
    | AddSpec
    | ScaleSpec
    | ConcatSpec
    | ChannelSliceSpec
    | ChannelShuffleSpec
    | UpsampleSpec,
    Field(discriminator="type"),
]


class NetworkSpec(BaseModel):
    """A user-defined network file."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Network")

    name: LayerName = Field(description="Network name.")
    input_channels: PositiveInt = Field(3, description="Channels of the input image.")
    layers: list[LayerSpec] = Field(
        min_length=1, max_length=limits.MAX_LAYERS, description="Layers in execution order."
    )


def layer_json_schema() -> dict[str, Any]:
    """JSON schema of the network file format."""
    return NetworkSpec.model_json_schema()


# --------------------------------------------------------------------------------------------
# Loading


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _key_path(loc: tuple[int | str, ...]) -> str:
    """``('layers', 2, 'conv', 'kernel')`` -> ``layers[2].kernel`` (drops union tags)."""
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not (previous is not None and isinstance(previous, int) and item in _SPECS):
            parts.append(f".{item}" if parts else item)
        previous = item
    return "".join(parts)


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model that owns the last key of ``loc``."""
    if len(loc) >= 3 and loc[0] == "layers" and loc[2] in _SPECS:
        return _SPECS[str(loc[2])]
    return NetworkSpec


def _allowed(model: type[BaseModel]) -> str:
    names = list(model.model_fields)
    if "type" in names:  # list 'type' right after 'name', the way files are written
        names.remove("type")
        names.insert(1, "type")
    return ", ".join(names)


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    """(key path, message) for one pydantic error."""
    loc = tuple(error["loc"])
    kind = error["type"]
    key = _key_path(loc)
    value = error.get("input")
    types = ", ".join(_SPECS)
    if kind == "extra_forbidden":
        field = str(loc[-1])
        allowed = list(_model_at(loc[:-1]).model_fields)
        hint = did_you_mean(field, allowed)
        return key, f"unknown key {field!r}{hint}; allowed: {_allowed(_model_at(loc[:-1]))}"
    if kind == "union_tag_invalid":
        tag = error["ctx"]["tag"]
        hint = did_you_mean(str(tag), _SPECS)
        return f"{key}.type", f"unknown layer type {tag!r}{hint}; allowed: {types}"
    if kind == "union_tag_not_found":
        return f"{key}.type", f"missing key 'type'; allowed types: {types}"
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return key, f"expected a mapping, got {value!r}"
    if kind == "missing":
        return key, f"missing required key {loc[-1]!r}"
    if kind == "value_error":
        return key, str(error["ctx"]["error"])
    if kind == "literal_error":
        return key, f"expected one of {error['ctx']['expected']}, got {value!r}"
    if kind == "string_type":
        return key, f"expected a string, got {value!r}"
    if kind == "list_type":
        return key, f"expected a list, got {value!r}"
    if kind == "too_short":
        return key, f"expected at least {error['ctx']['min_length']} item(s), got {value!r}"
    if kind == "too_long":
        most, got = error["ctx"]["max_length"], error["ctx"]["actual_length"]
        return key, f"expected at most {most} item(s) (the input limit), got {got}"
    return key, f"{error['msg'][0].lower()}{error['msg'][1:]}, got {value!r}"


def _parse(data: object, file: str | None) -> NetworkSpec:
    if not isinstance(data, dict):
        raise SpecError(
            f"expected a mapping with keys {_allowed(NetworkSpec)}, got {type(data).__name__}",
            file=file,
        )
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        # An unknown layer type or key usually explains the other errors: report it first.
        first = ("union_tag_invalid", "union_tag_not_found", "extra_forbidden")
        errors = sorted(
            exc.errors(include_url=False),
            key=lambda e: first.index(e["type"]) if e["type"] in first else len(first),
        )
        key, message = _describe(errors[0])  # type: ignore[arg-type]
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        raise SpecError(message, file=file, key=key) from None


def network_from_dict(data: dict, *, file: str | None = None) -> Network:
    """Build a Network from parsed YAML/JSON data; ``file`` only labels error messages."""
    spec = _parse(data, file)
    explicit = {layer.name for layer in spec.layers if layer.name is not None}
    counts: dict[str, int] = {}
    seen = {INPUT}
    previous = INPUT
    layers: list[Layer] = []
    for i, layer_spec in enumerate(spec.layers):
        at = f"layers[{i}]"
        name = layer_spec.name
        if name is None:  # auto names skip every name the file uses explicitly
            kind = layer_spec.type
            while name is None or name in explicit:
                counts[kind] = counts.get(kind, 0) + 1
                name = f"{kind}{counts[kind]}"
        elif name == INPUT:
            raise NetworkError(f"{INPUT!r} is reserved for the image", file=file, key=f"{at}.name")
        elif name in seen:
            raise NetworkError(f"duplicate layer name {name!r}", file=file, key=f"{at}.name")
        inputs = tuple(layer_spec.inputs) if layer_spec.inputs is not None else (previous,)
        for j, ref in enumerate(inputs):
            if ref not in seen:
                earlier = sorted(seen - {INPUT})
                known = ", ".join([INPUT, *earlier])
                later = " (it is defined later; inputs must come first)" if ref in explicit else ""
                raise NetworkError(
                    f"unknown input {ref!r}{later}; earlier layers: {known}",
                    file=file,
                    key=f"{at}.inputs[{j}]" if layer_spec.inputs is not None else f"{at}.inputs",
                )
        layer_cls = type(layer_spec)
        if layer_cls is UpsampleSpec and layer_spec.size_of not in (None, *seen):
            raise NetworkError(
                f"unknown size_of {layer_spec.size_of!r}; earlier layers: "
                + ", ".join([INPUT, *sorted(seen - {INPUT})]),
                file=file,
                key=f"{at}.size_of",
            )
        if layer_cls not in (AddSpec, ConcatSpec, ScaleSpec) and len(inputs) != 1:
            raise NetworkError(
                f"a {layer_spec.type} layer takes exactly 1 input, got {len(inputs)}",
                file=file,
                key=f"{at}.inputs",
            )
        try:
            layers.append(layer_spec.to_layer(name, inputs))
        except NetworkError as exc:
            raise NetworkError(exc.detail, file=file, key=at) from None
        seen.add(name)
        previous = name
    try:
        return Network(spec.name, tuple(layers), spec.input_channels, source=file)
    except NetworkError as exc:  # defensive: everything above should have caught it
        raise NetworkError(exc.detail, file=file, key=exc.key) from None


def load_network_yaml(path: str | Path) -> Network:
    """Load a network file (see the module docstring for the format)."""
    data = read_yaml(Path(path))
    if data is None:
        raise SpecError(f"file is empty; expected keys {_allowed(NetworkSpec)}", file=str(path))
    return network_from_dict(data, file=str(path))
