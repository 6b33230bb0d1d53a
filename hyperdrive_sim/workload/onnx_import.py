"""Import CNNs from ONNX files (torch.onnx exports and similar) as resolution-free Networks.

The graph is walked once in node order. Every tensor is either a *feature map* (a view of
one of our layers, or of the image) or a *constant* (a weight, a Constant node, or shape
arithmetic, which is folded at the model's own input size). Nodes that only touch constants
are ignored; nodes on the feature-map path are mapped by a dispatch table (``_HANDLERS``) to
our layer objects, or to nothing when they cost nothing in this model (batch norm,
activations, biases, dropout). Shapes are re-inferred by :class:`Network` at any resolution;
the model's own input size is only used where ONNX attributes depend on it (auto_pad,
ceil_mode, Resize sizes, Reshape targets). See docs/onnx.md for the operator table.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperdrive_sim.errors import InputError, NetworkError
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
    Shape,
    Upsample,
)
from hyperdrive_sim.workload.network import Network

if TYPE_CHECKING:
    import onnx

EXTRA_HINT = "reading ONNX models needs the onnx extra: pip install 'hyperdrive_sim[onnx]'"
#: Input size assumed when the model's image input has symbolic (dynamic) height or width.
DEFAULT_SIZE = 224
_RETRY = "rerun with --allow-unsupported / allow_unsupported: true to treat it as zero-cost"

# Element-wise or normalising operators: no layer, the output is the input's feature map.
_PASS_THROUGH = frozenset(
    {
        *("BatchNormalization", "InstanceNormalization", "LayerNormalization"),
        *("GroupNormalization", "LRN", "MeanVarianceNormalization"),
        *("Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu"),
        *("Elu", "Selu", "Celu", "Tanh", "Softplus", "Softsign", "Mish", "Gelu"),
        *("ThresholdedRelu", "Erf", "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal"),
        *("Floor", "Ceil", "Round", "Sign", "Identity", "Dropout", "Cast", "CastLike"),
        *("Softmax", "LogSoftmax", "QuantizeLinear", "DequantizeLinear"),
    }
)
# Element-wise operators of several inputs; the first three are sums (an Add layer).
_ADD_LIKE = frozenset({"Add", "Sub", "Sum", "Mean"})
_BINARY = _ADD_LIKE | {"Mul", "Div", "Max", "Min", "Pow"}
# Constant-only operators whose output has the shape of their first input.
_SHAPE_KEEPING = frozenset({"Identity", "Cast", "CastLike", "DequantizeLinear", "QuantizeLinear"})
# Constants are only evaluated up to this many elements: shape arithmetic is tiny, while
# weights (and weight transforms) only matter through their shapes.
_FOLD_LIMIT = 1 << 16


def _import_onnx(file: str | None) -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise InputError(EXTRA_HINT, file=file) from exc
    return onnx


def load_onnx(
    path: str | Path, *, allow_unsupported: bool = False, name: str | None = None
) -> Network:
    """Read an ONNX model file as a Network (named after the file unless ``name`` is given).

    Raises InputError for a missing or unreadable file and NetworkError for an unsupported
    operator on the feature-map path (unless ``allow_unsupported``, which skips it with one
    warning). External weight data is never loaded: only tensor shapes are needed.
    """
    file = str(path)
    onnx = _import_onnx(file)
    path = Path(path)
    if not path.is_file():
        raise InputError("ONNX model file not found", file=file)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeError, ValueError ...
        raise InputError(
            f"not a valid ONNX model ({type(exc).__name__}: {exc})", file=file
        ) from exc
    if not model.graph.node:
        raise InputError("not a valid ONNX model (the file has no graph nodes)", file=file)
    return network_from_model(
        model, file=file, allow_unsupported=allow_unsupported, name=name or path.stem
    )


def network_from_model(
    model: onnx.ModelProto,
    *,
    file: str | None = None,
    allow_unsupported: bool = False,
    name: str | None = None,
) -> Network:
    """Convert an in-memory ONNX model; ``file`` only labels error messages."""
    _import_onnx(file)
    name = name or (Path(file).stem if file else model.graph.name) or "onnx_model"
    try:
        converter = _Converter(model, file, allow_unsupported)
        layers = converter.run()
        return Network(name, layers, converter.input_channels)
    except NetworkError as exc:
        if exc.file is not None or file is None:
            raise
        raise NetworkError(exc.detail, file=file, key=exc.key) from exc


# --------------------------------------------------------------------------------------------
# Tensors


@dataclass(frozen=True)
class _FMap:
    """A feature-map tensor: a view of one layer's output (or of the image).

    ``dims`` is its ONNX shape at the model's own input size. ``view`` is ``map`` (N, C, H, W),
    ``flat`` (N, C*H*W), ``squeezed`` (N, H, W: one channel picked by Gather), or the two
    intermediate steps of a channel shuffle: ``grouped`` (N, g, C/g, H, W) and ``shuffled``
    (N, C/g, g, H, W). ``pad`` is a Pad node still waiting
    to be folded into the next convolution or pooling window (top, left, bottom, right).
    """

    layer: str
    dims: tuple[int, ...]
    view: str = "map"
    groups: int = 1
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    pad_node: str | None = None


@dataclass
class _Const:
    """A tensor independent of the image. ``value`` is None when unknown (e.g. a weight given
    as a graph input, or external data); ``shape`` may still be known."""

    value: np.ndarray | None = None
    shape: tuple[int, ...] | None = None
    proto: Any = None  # an initializer, converted to ``value`` on first use

    def array(self) -> np.ndarray | None:
        if self.value is None and self.proto is not None:
            from onnx import TensorProto, numpy_helper

            if self.proto.data_location != TensorProto.EXTERNAL:
                self.value = numpy_helper.to_array(self.proto)
            self.proto = None
        return self.value


_Tensor = _FMap | _Const


class _Unsupported(Exception):
    """Raised by a handler: this node cannot be mapped (the reason is optional)."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Node:
    proto: Any
    label: str
    ins: tuple[_Tensor | None, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def op(self) -> str:
        return self.proto.op_type

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def fmap(self, i: int = 0) -> _FMap:
        x = self.ins[i] if i < len(self.ins) else None
        if not isinstance(x, _FMap):
            raise _Unsupported(f"input {i} is not a feature map")
        return x

    def value(self, i: int) -> np.ndarray | None:
        """Input ``i`` as a constant array; None when absent or empty (an omitted input)."""
        x = self.ins[i] if i < len(self.ins) else None
        if x is None:
            return None
        if isinstance(x, _FMap):
            raise _Unsupported(f"input {i} must be a constant, got a feature map")
        v = x.array()
        if v is None:
            if x.shape is not None and 0 in x.shape:
                return None
            raise _Unsupported(f"input {i} is not a constant the importer can evaluate")
        return None if v.size == 0 else v

    def ints(self, key: str, i: int) -> list[int] | None:
        """An integer list given as attribute ``key`` (old opsets) or input ``i`` (new ones)."""
        if key in self.attrs:
            return [int(v) for v in self.attrs[key]]
        v = self.value(i)
        return None if v is None else [int(x) for x in v.reshape(-1)]


def _clean(name: str) -> str:
    name = re.sub(r"[^\w.\-/:]+", "_", name.strip().strip("/"))
    return name or "node"


# --------------------------------------------------------------------------------------------
# The converter


class _Converter:
    def __init__(self, model: Any, file: str | None, allow_unsupported: bool):
        import onnx.inliner

        if model.functions:
            model = onnx.inliner.inline_local_functions(model)
        self.graph = model.graph
        self.file = file
        self.allow = allow_unsupported
        self.opset = next(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13
        )
        self.info = _static_shapes(model)
        self.tensors: dict[str, _Tensor] = {}
        self.layers: list[Layer] = []
        self.shapes: dict[str, Shape] = {}
        self.names: set[str] = {INPUT}
        self.skipped: list[str] = []
        self._setup_inputs()

    # -- inputs ----------------------------------------------------------------------------

    def _setup_inputs(self) -> None:
        for init in self.graph.initializer:
            self.tensors[init.name] = _Const(shape=tuple(init.dims), proto=init)
        declared = {v.name: _declared_dims(v) for v in self.graph.input}
        params = _parameter_inputs(self.graph)
        candidates = [
            v.name for v in self.graph.input if v.name not in self.tensors and v.name not in params
        ]
        images = [n for n in candidates if len(declared[n] or ()) == 4] or candidates
        if len(images) != 1:
            found = ", ".join(map(repr, images)) or "none"
            raise NetworkError(
                f"expected exactly one image input (N, C, H, W), found {found}", key="inputs"
            )
        for v in self.graph.input:
            if v.name not in self.tensors and v.name != images[0]:
                dims = declared[v.name]
                static = dims if dims and None not in dims else None
                self.tensors[v.name] = _Const(shape=static)
        self._setup_image(images[0], declared[images[0]])

    def _setup_image(self, name: str, dims: tuple[int | None, ...] | None) -> None:
        if dims is None or len(dims) != 4:
            raise NetworkError(
                f"image input {name!r} must have shape (N, C, H, W), got {dims}", key="inputs"
            )
        batch, channels, height, width = dims
        if channels is None:
            raise NetworkError(f"image input {name!r} has no fixed channel count", key="inputs")
        self.input_channels = channels
        self.batch = batch or 1
        self.static_input = height is not None and width is not None
        self.input_size = (height or DEFAULT_SIZE, width or DEFAULT_SIZE)
        self.shapes[INPUT] = Shape(channels, *self.input_size)
        self.tensors[name] = self._view(INPUT)

    # -- main loop -------------------------------------------------------------------------

    def run(self) -> tuple[Layer, ...]:
        for index, proto in enumerate(self.graph.node):
            self._node(index, proto)
        if not self.layers:
            raise NetworkError("the graph has no convolution, pooling or dense layers")
        self._prune()
        self._check_shapes()
        if self.skipped:
            where = f"{self.file}: " if self.file else ""
            warnings.warn(
                f"{where}treated {len(self.skipped)} unsupported ONNX node(s) as zero-cost "
                f"pass-throughs: {'; '.join(self.skipped)}",
                UserWarning,
                stacklevel=4,
            )
        return tuple(self.layers)

    def _node(self, index: int, proto: Any) -> None:
        from onnx import helper

        label = proto.name or f"{proto.op_type}_{index}"
        ins = tuple(self._get(name, label) if name else None for name in proto.input)
        attrs = {a.name: _decode(helper.get_attribute_value(a)) for a in proto.attribute}
        node = _Node(proto, label, ins, attrs)
        if proto.op_type in ("Shape", "Size") or not any(isinstance(t, _FMap) for t in ins):
            self._fold(node)
            return
        key = (
            proto.op_type if proto.domain in ("", "ai.onnx") else f"{proto.domain}.{proto.op_type}"
        )
        handler = _HANDLERS.get(key)
        try:
            if handler is None:
                raise _Unsupported()
            handler(self, node)
        except _Unsupported as exc:
            self._skip(node, key, exc.reason)

    def _get(self, name: str, label: str) -> _Tensor:
        if name not in self.tensors:
            raise NetworkError(
                f"tensor {name!r} is not produced by an earlier node (is the graph sorted?)",
                key=f"node {label!r}",
            )
        return self.tensors[name]

    def _skip(self, node: _Node, op: str, reason: str) -> None:
        detail = f" ({reason})" if reason else ""
        if not self.allow:
            raise NetworkError(
                f"unsupported ONNX operator {op!r} at node {node.label!r}{detail}; {_RETRY}",
                key=f"node {node.label!r}",
            )
        self.skipped.append(f"{op} at {node.label!r}{detail}")
        x = next(t for t in node.ins if isinstance(t, _FMap))
        x = self._view(x.layer, "flat" if x.view == "flat" else "map")
        for out in node.proto.output:
            self.tensors[out] = x

    def _set(self, node: _Node, *values: _Tensor) -> None:
        """Bind the node's outputs; outputs beyond ``values`` become unknown constants."""
        for i, out in enumerate(node.proto.output):
            if out:
                self.tensors[out] = values[i] if i < len(values) else _Const()

    # -- layers and views ------------------------------------------------------------------

    def _view(self, layer: str, view: str = "map") -> _FMap:
        s = self.shapes[layer]
        if view == "flat":
            return _FMap(layer, (self.batch, s.elements), "flat")
        return _FMap(layer, (self.batch, s.channels, s.height, s.width))

    def _layer(self, cls: type[Layer], label: str, inputs: Sequence[str], **kw: Any) -> str:
        name = base = _clean(label)
        k = 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        layer = cls(name, tuple(inputs), **kw)
        self.shapes[name] = layer.infer(tuple(self.shapes[i] for i in inputs))
        self.layers.append(layer)
        self.names.add(name)
        return name

    def _plain(self, x: _FMap, node: _Node) -> _FMap:
        """``x`` as a plain map or flat view; a pending Pad here cannot be folded."""
        if x.view in ("grouped", "shuffled"):
            raise _Unsupported("feature map is in the middle of a channel-shuffle reshape")
        if x.pad_node is None:
            return x
        message = (
            f"cannot fold ONNX Pad at node {x.pad_node!r} into {node.op} at node "
            f"{node.label!r}: only Conv, MaxPool and AveragePool take padding"
        )
        if not self.allow:
            raise NetworkError(f"{message}; {_RETRY}", key=f"node {x.pad_node!r}")
        entry = f"Pad at {x.pad_node!r} (not followed by a Conv or pooling)"
        if entry not in self.skipped:
            self.skipped.append(entry)
        return self._view(x.layer)

    def _map(self, node: _Node, i: int = 0) -> _FMap:
        x = self._plain(node.fmap(i), node)
        if x.view != "map":
            raise _Unsupported(f"expects an (N, C, H, W) feature map, got shape {x.dims}")
        return x

    def _channels_view(self, x: _FMap, axis: int) -> bool:
        """True if ``axis`` of this view is the channel axis of the layer's map."""
        s = self.shapes[x.layer]
        flat_vector = x.view == "flat" and s.height == s.width == 1
        return axis % len(x.dims) == 1 and (x.view == "map" or flat_vector)

    # -- constants -------------------------------------------------------------------------

    def _fold(self, node: _Node) -> None:
        values = self._evaluate(node)
        outs = []
        for i, out in enumerate(node.proto.output):
            value = values[i] if values and i < len(values) else None
            shape = None if value is None else value.shape
            if shape is None and node.op in _SHAPE_KEEPING and isinstance(node.ins[0], _Const):
                shape = self._const_shape(node.ins[0])
            if shape is None and node.op == "ConstantOfShape":
                dims = node.ins[0].array() if isinstance(node.ins[0], _Const) else None
                shape = None if dims is None else tuple(int(d) for d in dims)
            if shape is None:
                dims = self.info.get(out)
                shape = dims if dims is not None and None not in dims else None
            outs.append(_Const(value, shape))
        self._set(node, *outs)

    def _evaluate(self, node: _Node) -> list[np.ndarray | None] | None:
        proto, ins = node.proto, node.ins
        if proto.op_type == "Constant":
            return [_constant_value(proto)]
        if proto.op_type in ("Shape", "Size"):
            x = ins[0]
            dims = x.dims if isinstance(x, _FMap) else self._const_shape(x)
            if dims is None:
                return None
            if proto.op_type == "Size":
                return [np.array(math.prod(dims), dtype=np.int64)]
            start, end = node.attr("start", 0), node.attr("end", len(dims))
            return [np.array(dims[start:end], dtype=np.int64)]
        if proto.domain not in ("", "ai.onnx") or any(
            a.type in (5, 10)
            for a in proto.attribute  # GRAPH / GRAPHS: control flow
        ):
            return None
        feeds = {}
        for name, x in zip(proto.input, ins, strict=True):
            if not name:
                continue
            shape = self._const_shape(x)
            value = x.array() if shape is not None and math.prod(shape) <= _FOLD_LIMIT else None
            if value is None:
                return None
            feeds[name] = value
        if proto.op_type == "ConstantOfShape" and math.prod(feeds[proto.input[0]]) > _FOLD_LIMIT:
            return None
        return _run_node(proto, feeds, self.opset)

    def _const_shape(self, x: _Tensor | None) -> tuple[int, ...] | None:
        if not isinstance(x, _Const):
            return None
        if x.shape is not None:
            return x.shape
        value = x.array()
        return None if value is None else value.shape

    def _weight_shape(self, node: _Node, i: int, rank: int) -> tuple[int, ...]:
        x = node.ins[i] if i < len(node.ins) else None
        if isinstance(x, _FMap):
            raise _Unsupported("a feature map as the weight")
        shape = self._const_shape(x)
        if shape is None:
            dims = self.info.get(node.proto.input[i])
            shape = dims if dims is not None and None not in dims else None
        if shape is None:
            raise NetworkError(
                f"cannot tell the shape of weight {node.proto.input[i]!r} of {node.op}",
                key=f"node {node.label!r}",
            )
        if len(shape) != rank:
            raise _Unsupported(f"weight of rank {len(shape)}, expected {rank}")
        return tuple(int(d) for d in shape)

    # -- window geometry -------------------------------------------------------------------

    def _window(
        self, node: _Node, x: _FMap, kernel: Sequence[int], ceil_mode: bool = False
    ) -> dict[str, Any]:
        """kernel/stride/padding/dilation of a Conv or pooling node at the model's size."""
        stride = node.attr("strides", [1, 1])
        dilation = node.attr("dilations", [1, 1])
        pads = list(node.attr("pads", [0, 0, 0, 0]))
        if len(kernel) != 2 or len(stride) != 2 or len(pads) != 4 or len(dilation) != 2:
            raise _Unsupported(f"{len(kernel)}-D window (only 2-D is supported)")
        s = self.shapes[x.layer]
        size = (s.height + x.pad[0] + x.pad[2], s.width + x.pad[1] + x.pad[3])
        auto = node.attr("auto_pad", "NOTSET")
        for axis in (0, 1):
            k, st, d, n = kernel[axis], stride[axis], dilation[axis], size[axis]
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                total = max(0, (math.ceil(n / st) - 1) * st + (k - 1) * d + 1 - n)
                small, big = total // 2, total - total // 2
                pads[axis], pads[axis + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
            elif auto == "VALID":
                pads[axis] = pads[axis + 2] = 0
            if ceil_mode:
                pads[axis + 2] += _ceil_extra(n, k, st, d, pads[axis], pads[axis + 2])
        padding = tuple(p + q for p, q in zip(pads, x.pad, strict=True))
        return dict(
            kernel=tuple(kernel), stride=tuple(stride), padding=padding, dilation=tuple(dilation)
        )

    # -- handlers --------------------------------------------------------------------------

    def _pass(self, node: _Node) -> None:
        """Element-wise operators (activations, batch norm ...): the map itself."""
        self._set(node, node.fmap(0))

    def _windowed_input(self, node: _Node) -> _FMap:
        """The (N, C, H, W) input of a Conv or pooling node; a pending Pad is kept."""
        x = node.fmap(0)
        return x if x.view == "map" else self._map(node)

    def _conv(self, node: _Node) -> None:
        x = self._windowed_input(node)
        w = self._weight_shape(node, 1, 4)
        groups = int(node.attr("group", 1))
        channels = self.shapes[x.layer].channels
        if w[1] * groups != channels:
            raise NetworkError(
                f"weight {w} with group={groups} does not fit {channels} input channels",
                key=f"node {node.label!r}",
            )
        geometry = self._window(node, x, node.attr("kernel_shape", w[2:]))
        name = self._layer(
            Conv, node.label, [x.layer], out_channels=w[0], groups=groups, **geometry
        )
        self._set(node, self._view(name))

    def _pool(self, node: _Node) -> None:
        x = self._windowed_input(node)
        mode = "max" if node.op == "MaxPool" else "avg"
        if "kernel_shape" not in node.attrs:
            raise _Unsupported("no kernel_shape")
        geometry = self._window(
            node, x, node.attr("kernel_shape"), ceil_mode=bool(node.attr("ceil_mode", 0))
        )
        name = self._layer(Pool, node.label, [x.layer], mode=mode, **geometry)
        s, (kh, kw) = self.shapes[x.layer], geometry["kernel"]
        if self.shapes[name].pixels == 1 and kh >= s.height > 1 and kw >= s.width > 1:
            # one window over the whole map (Caffe-era classifier pools): a global pooling,
            # so that the classifier keeps its size at other resolutions
            self.layers.pop()
            self.names.discard(name)
            name = self._layer(GlobalPool, node.label, [x.layer], mode=mode)
        self._set(node, self._view(name))

    def _global_pool(self, node: _Node) -> None:
        x = self._map(node)
        mode = "max" if node.op == "GlobalMaxPool" else "avg"
        self._set(node, self._view(self._layer(GlobalPool, node.label, [x.layer], mode=mode)))

    def _reduce(self, node: _Node) -> None:
        """ReduceMean / ReduceMax / ReduceSum over H and W: a global pooling."""
        x = self._map(node)
        axes = node.ints("axes", 1)
        if axes is None or {a % 4 for a in axes} != {2, 3}:
            raise _Unsupported(f"reduces axes {axes}; only (2, 3) is supported")
        mode = "max" if node.op == "ReduceMax" else "avg"
        name = self._layer(GlobalPool, node.label, [x.layer], mode=mode)
        self._set(node, self._view(name, "map" if node.attr("keepdims", 1) else "flat"))

    def _dense(self, node: _Node) -> None:
        """Gemm / MatMul of a flattened map with a constant weight matrix."""
        x = self._plain(node.fmap(0), node)
        if x.view != "flat" or node.attr("transA", 0):
            raise _Unsupported(f"expects a flattened (N, features) input, got shape {x.dims}")
        w = self._weight_shape(node, 1, 2)
        inputs, out = (w[1], w[0]) if node.attr("transB", 0) else w
        if inputs != x.dims[1]:
            raise NetworkError(
                f"weight {w} does not fit {x.dims[1]} input features", key=f"node {node.label!r}"
            )
        self._set(
            node, self._view(self._layer(Dense, node.label, [x.layer], out_features=out), "flat")
        )

    def _elementwise(self, node: _Node) -> None:
        """Add/Sub/Mul/... : a sum of equal maps is an Add layer; a bias, scale or SE gate
        (a constant or a smaller broadcast map) leaves the map unchanged."""
        maps = [self._plain(t, node) for t in node.ins if isinstance(t, _FMap)]
        consts = [self._const_shape(t) for t in node.ins if isinstance(t, _Const)]
        try:
            full = np.broadcast_shapes(*(m.dims for m in maps), *(c for c in consts if c))
        except ValueError as exc:
            raise _Unsupported("operand shapes do not broadcast") from exc
        carriers = [m for m in maps if m.dims == tuple(full)]
        if not carriers:
            raise _Unsupported(f"result {tuple(full)} is larger than every feature map")
        layers = [m.layer for m in carriers]
        if len(carriers) == 1 or (node.op not in _ADD_LIKE and len(set(layers)) == 1):
            self._set(node, carriers[0])
            return
        name = self._layer(Add, node.label, layers)
        self._set(node, self._view(name, carriers[0].view))

    def _concat(self, node: _Node) -> None:
        if any(isinstance(t, _Const) for t in node.ins):
            raise _Unsupported("concatenates a constant with a feature map")
        maps = [self._plain(t, node) for t in node.ins if t is not None]
        axis = int(node.attr("axis", 1))
        if not all(self._channels_view(m, axis) for m in maps) or len({m.view for m in maps}) > 1:
            raise _Unsupported(f"concatenation along axis {axis}; only channels are supported")
        if len(maps) == 1:
            self._set(node, maps[0])
            return
        name = self._layer(Concat, node.label, [m.layer for m in maps])
        self._set(node, self._view(name, maps[0].view))

    def _split(self, node: _Node) -> None:
        x = self._plain(node.fmap(0), node)
        axis = int(node.attr("axis", 0))
        if not self._channels_view(x, axis):
            raise _Unsupported(f"splits axis {axis}; only channels are supported")
        channels, outs = x.dims[1], len(node.proto.output)
        sizes = node.ints("split", 1)
        if sizes is None:
            chunk = math.ceil(channels / node.attr("num_outputs", outs))
            sizes = [min(chunk, channels - k * chunk) for k in range(outs)]
        if sum(sizes) != channels or len(sizes) != outs:
            raise NetworkError(
                f"split sizes {sizes} do not add up to {channels} channels",
                key=f"node {node.label!r}",
            )
        if outs == 1:
            self._set(node, x)
            return
        views, start = [], 0
        for k, size in enumerate(sizes):
            name = self._layer(
                ChannelSlice, f"{node.label}.{k}", [x.layer], start=start, stop=start + size
            )
            views.append(self._view(name, x.view))
            start += size
        self._set(node, *views)

    def _slice(self, node: _Node) -> None:
        x = self._plain(node.fmap(0), node)
        starts, ends = node.ints("starts", 1), node.ints("ends", 2)
        axes = node.ints("axes", 3) or list(range(len(starts)))
        steps = node.ints("steps", 4) or [1] * len(starts)
        channels = (0, x.dims[1])
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            size = x.dims[axis % len(x.dims)]
            lo, hi = (int(np.clip(v + size if v < 0 else v, 0, size)) for v in (start, end))
            if step != 1 and (lo, hi) != (0, size):
                raise _Unsupported(f"slice step {step}")
            if self._channels_view(x, axis):
                channels = (lo, hi)
            elif (lo, hi) != (0, size):
                raise _Unsupported(f"crops axis {axis % len(x.dims)}; only channels can be sliced")
        if channels == (0, x.dims[1]):
            self._set(node, x)
            return
        name = self._layer(ChannelSlice, node.label, [x.layer], start=channels[0], stop=channels[1])
        self._set(node, self._view(name, x.view))

    def _gather(self, node: _Node) -> None:
        """Channels picked by constant indices: x[:, k] (as torchvision's Inception-v3 input
        transform) or x[:, [k, k+1, ...]]."""
        x = self._map(node)
        index = node.value(1)
        if int(node.attr("axis", 0)) % 4 != 1 or index is None or index.ndim > 1:
            raise _Unsupported("only a constant channel index or index list is supported")
        picks = [int(i) % x.dims[1] for i in index.reshape(-1)]
        if picks != list(range(picks[0], picks[0] + len(picks))):
            raise _Unsupported(f"channels {picks} are not contiguous")
        start, stop = picks[0], picks[0] + len(picks)
        name = self._layer(ChannelSlice, node.label, [x.layer], start=start, stop=stop)
        if index.ndim == 1:
            self._set(node, self._view(name))
        else:  # a scalar index drops the channel axis: (N, H, W)
            n, _, h, w = self._view(name).dims
            self._set(node, _FMap(name, (n, h, w), "squeezed"))

    def _resize(self, node: _Node) -> None:
        """Resize / Upsample by one integer factor on H and W: an Upsample layer."""
        x = self._map(node)
        factors = self._resize_factors(node, x)
        if factors[:2] != [1.0, 1.0] or factors[2] != factors[3]:
            raise _Unsupported(f"scales {factors}; only an equal factor on H and W")
        factor = factors[2]
        if factor < 1 or not float(factor).is_integer():
            raise _Unsupported(f"scale factor {factor}; only integer upsampling")
        if factor == 1:
            self._set(node, x)
            return
        name = self._layer(Upsample, node.label, [x.layer], factor=int(factor))
        self._set(node, self._view(name))

    def _resize_factors(self, node: _Node, x: _FMap) -> list[float]:
        if "scales" in node.attrs:  # Upsample-7
            scales, sizes = node.attrs["scales"], None
        elif node.op == "Upsample" or len(node.ins) == 2:  # Upsample-9, Resize-10
            scales, sizes = node.value(1), None
        else:
            scales, sizes = node.value(2), node.value(3) if len(node.ins) > 3 else None
        axes = node.attr("axes", [0, 1, 2, 3])
        full = [1.0] * 4
        if scales is not None:
            for axis, s in zip(axes, np.asarray(scales, dtype=float).reshape(-1), strict=True):
                full[axis % 4] = float(s)
        elif sizes is not None:
            for axis, s in zip(axes, np.asarray(sizes).reshape(-1), strict=True):
                full[axis % 4] = int(s) / x.dims[axis % 4]
        else:
            raise _Unsupported("neither scales nor sizes is given")
        return full

    def _pad(self, node: _Node) -> None:
        """A Pad is kept pending and folded into the next Conv or pooling window."""
        x = self._windowed_input(node)
        pads = node.ints("pads", 1)
        axes = node.ints("axes", 3) if len(node.ins) > 3 else None
        axes = [a % 4 for a in axes] if axes else list(range(len(pads) // 2))
        full = [0] * 8
        for k, axis in enumerate(axes):
            full[axis], full[axis + 4] = pads[k], pads[k + len(axes)]
        if min(full) < 0:
            raise _Unsupported("negative pads (cropping)")
        if full[0] or full[1] or full[4] or full[5]:
            raise _Unsupported("pads the batch or channel axis")
        pad = tuple(p + q for p, q in zip(x.pad, (full[2], full[3], full[6], full[7]), strict=True))
        n, c, h, w = x.dims
        dims = (n, c, h + full[2] + full[6], w + full[3] + full[7])
        self._set(node, replace(x, dims=dims, pad=pad, pad_node=x.pad_node or node.label))

    def _flatten(self, node: _Node) -> None:
        x = node.fmap(0)
        axis = int(node.attr("axis", 1)) % len(x.dims)
        self._set(node, self._reshaped(node, (math.prod(x.dims[:axis]), math.prod(x.dims[axis:]))))

    def _reshape(self, node: _Node) -> None:
        x = node.fmap(0)
        target = node.value(1)
        if target is None:
            raise _Unsupported("the target shape is not a constant")
        self._set(
            node, self._reshaped(node, _resolve_reshape(x.dims, target, node.attr("allowzero", 0)))
        )

    def _squeeze(self, node: _Node) -> None:
        x = node.fmap(0)
        axes = node.ints("axes", 1)
        rank = len(x.dims)
        drop = {a % rank for a in axes} if axes else {i for i, d in enumerate(x.dims) if d == 1}
        self._set(
            node, self._reshaped(node, tuple(d for i, d in enumerate(x.dims) if i not in drop))
        )

    def _unsqueeze(self, node: _Node) -> None:
        x = node.fmap(0)
        axes = node.ints("axes", 1) or []
        rank = len(x.dims) + len(axes)
        dims = list(x.dims)
        for axis in sorted(a % rank for a in axes):
            dims.insert(axis, 1)
        self._set(node, self._reshaped(node, tuple(dims)))

    def _transpose(self, node: _Node) -> None:
        x = node.fmap(0)
        rank = len(x.dims)
        perm = tuple(node.attr("perm", range(rank - 1, -1, -1)))
        if perm == tuple(range(rank)):
            self._set(node, x)
            return
        swap = (0, 2, 1, *range(3, rank))
        if x.view not in ("grouped", "shuffled") or perm != swap:
            raise _Unsupported(f"permutation {perm} (only the channel-shuffle transpose)")
        dims = (x.dims[0], x.dims[2], x.dims[1], *x.dims[3:])
        view = "shuffled" if x.view == "grouped" else "grouped"
        self._set(node, replace(x, dims=dims, view=view))

    def _reshaped(self, node: _Node, dims: tuple[int, ...]) -> _FMap:
        """The view of ``node``'s input with ONNX shape ``dims`` (Reshape/Flatten/Squeeze)."""
        x = node.fmap(0)
        if x.pad_node is not None:
            x = self._plain(x, node)
        s = self.shapes[x.layer]
        plain = self._view(x.layer)
        if dims == x.dims:
            return x
        if x.view in ("grouped", "shuffled"):
            if dims != plain.dims:
                raise _Unsupported(f"reshapes a channel-group view {x.dims} to {dims}")
            if x.view == "grouped":
                return plain
            name = self._layer(ChannelShuffle, node.label, [x.layer], groups=x.groups)
            return self._view(name)
        if dims == plain.dims:
            return plain
        if dims == (self.batch, s.elements):
            return self._view(x.layer, "flat")
        if x.view == "map" and _is_grouping(dims, plain.dims):
            return _FMap(x.layer, dims, "grouped", groups=dims[1])
        raise _Unsupported(f"reshapes {x.dims} to {dims}")

    # -- clean-up and checks ---------------------------------------------------------------

    def _prune(self) -> None:
        """Drop Split outputs nobody uses (an unused chunk is not computed)."""
        used = {ref for layer in self.layers for ref in layer.inputs}
        used |= {
            t.layer for o in self.graph.output if isinstance(t := self.tensors.get(o.name), _FMap)
        }
        self.layers = [
            layer
            for layer in self.layers
            if layer.name in used or not isinstance(layer, ChannelSlice)
        ]

    def _check_shapes(self) -> None:
        """Warn where our shapes disagree with the model's own (static) shapes."""
        if not self.static_input:
            return
        bad = []
        for name, t in self.tensors.items():
            dims = self.info.get(name)
            if not isinstance(t, _FMap) or dims is None or len(dims) != len(t.dims):
                continue
            if any(
                d is not None and d != ours for d, ours in zip(dims[1:], t.dims[1:], strict=True)
            ):
                bad.append(f"{name!r}: ONNX {dims}, imported {t.dims}")
        if bad:
            warnings.warn(
                f"{self.file or 'ONNX model'}: imported shapes differ from the model's own at "
                f"{len(bad)} tensor(s), MACs may be off: {'; '.join(bad[:5])}",
                UserWarning,
                stacklevel=4,
            )


_Handler = Callable[[_Converter, _Node], None]
_HANDLERS: dict[str, _Handler] = {
    **{op: _Converter._pass for op in _PASS_THROUGH},
    **{op: _Converter._elementwise for op in _BINARY},
    "Conv": _Converter._conv,
    "MaxPool": _Converter._pool,
    "AveragePool": _Converter._pool,
    "GlobalAveragePool": _Converter._global_pool,
    "GlobalMaxPool": _Converter._global_pool,
    "ReduceMean": _Converter._reduce,
    "ReduceMax": _Converter._reduce,
    "ReduceSum": _Converter._reduce,
    "Gemm": _Converter._dense,
    "MatMul": _Converter._dense,
    "Concat": _Converter._concat,
    "Split": _Converter._split,
    "Slice": _Converter._slice,
    "Gather": _Converter._gather,
    "Resize": _Converter._resize,
    "Upsample": _Converter._resize,
    "Pad": _Converter._pad,
    "Flatten": _Converter._flatten,
    "Reshape": _Converter._reshape,
    "Squeeze": _Converter._squeeze,
    "Unsqueeze": _Converter._unsqueeze,
    "Transpose": _Converter._transpose,
}


# --------------------------------------------------------------------------------------------
# Helpers


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _declared_dims(value_info: Any) -> tuple[int | None, ...] | None:
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
        for d in t.tensor_type.shape.dim
    )


def _static_shapes(model: Any) -> dict[str, tuple[int | None, ...]]:
    """ONNX shapes of all tensors after ONNX shape inference (best effort)."""
    import onnx

    with contextlib.suppress(Exception):  # a model ONNX cannot infer keeps its declared shapes
        model = onnx.shape_inference.infer_shapes(model)
    g = model.graph
    shapes = {}
    for v in (*g.value_info, *g.input, *g.output):
        dims = _declared_dims(v)
        if dims is not None:
            shapes[v.name] = dims
    return shapes


def _parameter_inputs(graph: Any) -> set[str]:
    """Graph inputs used as weights (export_params=False): an input index >= 1 of an operator
    that is not element-wise."""
    symmetric = _BINARY | {"Concat", "Where", "Equal"}
    return {name for node in graph.node if node.op_type not in symmetric for name in node.input[1:]}


def _constant_value(proto: Any) -> np.ndarray | None:
    from onnx import numpy_helper

    for a in proto.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int"):
            return np.array(a.f if a.name == "value_float" else a.i)
        if a.name in ("value_floats", "value_ints"):
            return np.array(list(a.floats if a.name == "value_floats" else a.ints))
    return None


def _run_node(proto: Any, feeds: dict[str, np.ndarray], opset: int) -> list[Any] | None:
    """Evaluate one constant node with the ONNX reference runtime (None if it cannot)."""
    from onnx import TypeProto, helper
    from onnx.reference import ReferenceEvaluator

    graph = helper.make_graph(
        [proto],
        "fold",
        [helper.make_value_info(name, TypeProto()) for name in feeds],
        [helper.make_value_info(name, TypeProto()) for name in proto.output if name],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        values = ReferenceEvaluator(model).run(None, feeds)
    except Exception:  # anything the reference runtime cannot do stays unknown
        return None
    return [np.asarray(v) if v is not None else None for v in values]


def _ceil_extra(size: int, k: int, stride: int, dil: int, lo: int, hi: int) -> int:
    """Extra end padding so floor-mode arithmetic gives the ceil_mode output size.

    As PyTorch (and ONNX since opset 19): the last window must start inside the input or the
    leading padding.
    """
    span = size + lo + hi - dil * (k - 1) - 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + lo:
        out -= 1
    return max(0, (out - 1) * stride + dil * (k - 1) + 1 - (size + lo + hi))


def _resolve_reshape(dims: tuple[int, ...], target: np.ndarray, allowzero: int) -> tuple[int, ...]:
    out = [int(d) for d in target.reshape(-1)]
    if not allowzero:
        out = [dims[i] if d == 0 else d for i, d in enumerate(out)]
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(dims) // known if known else 0
    return tuple(out)


def _is_grouping(dims: tuple[int, ...], plain: tuple[int, ...]) -> bool:
    """(N, g, C/g, H, W) or (N, g, C/g, H*W): the first reshape of a channel shuffle."""
    n, c, h, w = plain
    return (
        len(dims) in (4, 5)
        and dims[0] == n
        and dims[1] > 1
        and dims[1] * dims[2] == c
        and tuple(dims[3:]) in ((h, w), (h * w,))
    )
