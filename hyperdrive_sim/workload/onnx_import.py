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

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError, NetworkError
from hyperdrive_sim.readfile import open_input
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
    Shape,
    Upsample,
)
from hyperdrive_sim.workload.network import Network
from hyperdrive_sim.workload.onnx_fold import output_shape, run_node

if TYPE_CHECKING:
    import onnx

EXTRA_HINT = "reading ONNX models needs the onnx extra: pip install 'hyperdrive_sim[onnx]'"
#: Input size assumed when the model's image input has symbolic (dynamic) height or width.
DEFAULT_SIZE = 224
_RETRY = (
    "rerun with --allow-unsupported / allow_unsupported: true to treat it as zero-cost "
    "(allowed only for operators that keep the shape of their input)"
)

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
# A constant node is only evaluated when its inputs and its (predicted) output have at most
# this many elements: shape arithmetic is tiny, while weights (and weight transforms) only
# matter through their shapes. All evaluated values together are bounded by
# limits.MAX_FOLD_ELEMENTS.
_FOLD_LIMIT = 1 << 16
_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
#: Shape arithmetic whose element origins are followed (see _Converter._origin): the
#: indices of the inputs that carry data (the others are indices, axes, shapes).
_ORIGIN_DATA: dict[str, Callable[[int], range]] = {
    **dict.fromkeys(("Gather", "Slice", "Unsqueeze", "Squeeze", "Reshape"), lambda n: range(1)),
    **dict.fromkeys(("Cast", "Identity", "Flatten"), lambda n: range(1)),
    "Concat": lambda n: range(n),
}
_SMALL_CODES = 64


class OnnxImportWarning(UserWarning):
    """A lossy step of an ONNX import (a node treated as zero-cost, a shape mismatch)."""


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
    path = Path(path)
    # the file is checked (exists, regular, within the size limit) before onnx is needed
    with open_input(path, limit=limits.MAX_ONNX_BYTES, what="ONNX model file") as (handle, _):
        onnx = _import_onnx(file)
        try:
            model = onnx.load_model_from_string(handle.read())
        except Exception as exc:  # protobuf raises DecodeError, UnicodeDecodeError, ValueError ...
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
    converter = _Converter(model, file, allow_unsupported)
    try:
        name = name or (Path(file).stem if file else model.graph.name) or "onnx_model"
        layers = converter.run()
        native = converter.input_size if converter.static_input else None
        return Network(name, layers, converter.input_channels, native_input=native)
    except InputError as exc:
        if exc.file is not None or file is None:
            raise
        raise NetworkError(exc.detail, file=file, key=exc.key) from exc
    except Exception as exc:
        if converter.where is None:
            raise  # the graph was read: a fault of ours, not of the file
        # A malformed file: invalid UTF-8 in a name, an attribute of the wrong type, a tensor
        # whose data does not match its dims ... One line naming the node, not a traceback.
        detail = " ".join(str(exc).split())
        raise NetworkError(
            f"malformed ONNX model ({type(exc).__name__}: {detail})", file=file, key=converter.where
        ) from exc


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
    #: shape arithmetic: per element of a 1-D value, the (layer, "h" | "w") whose height or
    #: width it is (from a Shape node; None for any other element), or None when unknown
    origin: tuple[tuple[str, str] | None, ...] | None = None

    def array(self) -> np.ndarray | None:
        """The value; an initializer is converted only when small (see _FOLD_LIMIT)."""
        if self.value is None and self.proto is not None:
            self.value = _tensor_value(self.proto)
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

    @property
    def key(self) -> str:
        """Where an error is: the node's name and operator."""
        return f"node {self.label!r} ({self.op})"

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
        self.model = model
        self.file = file
        self.allow = allow_unsupported
        #: the part of the model being read, for error messages ("node 'x' (Conv)")
        self.where: str | None = "model"
        self.tensors: dict[str, _Tensor] = {}
        self.layers: list[Layer] = []
        self.shapes: dict[str, Shape] = {}
        self.names: set[str] = {INPUT}
        self.skipped: list[str] = []
        self.folded = 0  # elements of all evaluated constants (bounded by MAX_FOLD_ELEMENTS)

    def _prepare(self) -> None:
        import onnx.inliner

        model = self.model
        if model.functions:
            self.where = "functions"
            try:
                model = onnx.inliner.inline_local_functions(model)
            except Exception as exc:  # e.g. a recursive function: onnx's ValidationError
                raise NetworkError(
                    f"cannot inline the model-local functions ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())}); expected non-recursive functions of "
                    "known operators",
                    key="functions",
                ) from exc
        self.graph = model.graph
        self.opset = next(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13
        )
        self.where = "graph"
        self.info, self.sym = _static_shapes(model)
        self.where = "inputs"
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
        self._prepare()
        for index, proto in enumerate(self.graph.node):
            self.where = f"node {index}"
            self._node(index, proto)
        self.where = None
        if not self.layers:
            raise NetworkError("the graph has no convolution, pooling or dense layers")
        self._prune()
        self._check_shapes()
        for entry in self.skipped:
            self._warn(f"{entry}: treated as zero-cost")
        return tuple(self.layers)

    def _warn(self, message: str) -> None:
        where = f"{self.file}: " if self.file else ""
        warnings.warn(f"{where}{message}", OnnxImportWarning, stacklevel=5)

    def _node(self, index: int, proto: Any) -> None:
        from onnx import helper

        label = proto.name or f"{proto.op_type}_{index}"
        self.where = f"node {label!r} ({proto.op_type})"
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
                f"tensor {name!r} is not produced by an earlier node (expected a topologically "
                "sorted graph)",
                key=self.where,
            )
        return self.tensors[name]

    def _skip(self, node: _Node, op: str, reason: str) -> None:
        """An unsupported node: an error, or (allow_unsupported) a zero-cost pass-through of
        its feature-map input, which is only sound when the node keeps that input's shape."""
        detail = f" ({reason})" if reason else ""
        if not self.allow:
            raise NetworkError(
                f"unsupported ONNX operator {op!r} at node {node.label!r}{detail}; {_RETRY}",
                key=node.key,
            )
        i, x = next((i, t) for i, t in enumerate(node.ins) if isinstance(t, _FMap))
        before = self.sym.get(node.proto.input[i], x.dims)
        after = self.sym.get(node.proto.output[0]) if node.proto.output else None
        if after is None or None in after or after != before:
            found = "an unknown shape" if after is None or None in after else f"shape {after}"
            raise NetworkError(
                f"unsupported ONNX operator {op!r} at node {node.label!r}{detail} cannot be "
                f"treated as zero-cost: it turns shape {before} into {found} (ONNX shape "
                "inference); only operators that keep the shape of their input can be skipped",
                key=node.key,
            )
        self.skipped.append(f"node {node.label!r} ({op}){detail}")
        for out in node.proto.output:
            if out:
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
        if view == "nhwc":
            return _FMap(layer, (self.batch, s.height, s.width, s.channels), "nhwc")
        return _FMap(layer, (self.batch, s.channels, s.height, s.width))

    def _layer(self, cls: type[Layer], label: str, inputs: Sequence[str], **kw: Any) -> str:
        name = base = _clean(label)
        k = 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        layer = cls(name, tuple(inputs), **kw)
        refs = (*inputs, *layer.shape_refs)
        self.shapes[name] = layer.infer(tuple(self.shapes[i] for i in refs))
        self.layers.append(layer)
        self.names.add(name)
        return name

    def _plain(self, x: _FMap, node: _Node) -> _FMap:
        """``x`` as a plain map or flat view; a pending Pad here cannot be folded."""
        if x.view in ("grouped", "shuffled"):
            raise _Unsupported("feature map is in the middle of a channel-shuffle reshape")
        if x.pad_node is None:
            return x
        # a Pad changes the shape, so it can never be skipped as zero-cost
        raise NetworkError(
            f"cannot fold ONNX Pad at node {x.pad_node!r} into {node.op} at node "
            f"{node.label!r}: expected the Pad to feed a Conv, MaxPool or AveragePool "
            "(only they take padding)",
            key=f"node {x.pad_node!r} (Pad)",
        )

    def _map(self, node: _Node, i: int = 0) -> _FMap:
        x = self._plain(node.fmap(i), node)
        if x.view != "map":
            raise _Unsupported(f"expects an (N, C, H, W) feature map, got shape {x.dims}")
        return x

    def _channel_axis(self, x: _FMap) -> int | None:
        """The axis of this view that holds the layer's channels (None: no such axis)."""
        s = self.shapes[x.layer]
        if x.view == "map" or (x.view == "flat" and s.height == s.width == 1):
            return len(x.dims) - 1 if x.view == "flat" else 1
        return 3 if x.view == "nhwc" else None

    def _channels_view(self, x: _FMap, axis: int) -> bool:
        """True if ``axis`` of this view is the channel axis of the layer's map."""
        return axis % len(x.dims) == self._channel_axis(x)

    # -- constants -------------------------------------------------------------------------

    def _fold(self, node: _Node) -> None:
        """Bind a constant-only node's outputs: its shape (from the operator's rule, else ONNX
        shape inference) and, when small enough to evaluate safely, its value."""
        values = self._evaluate(node)
        outs = []
        for i, out in enumerate(node.proto.output):
            value = values[i] if values and i < len(values) else None
            shape = None if value is None else value.shape
            if shape is None and i == 0 and node.op == "Constant":
                shape = _constant(node.proto)[1]
            elif shape is None and i == 0 and node.op not in ("Shape", "Size"):
                shape = self._predicted(node)[0]
            if shape is None:
                dims = self.info.get(out)
                shape = dims if dims is not None and None not in dims else None
            outs.append(_Const(value, shape))
        if outs and (origin := self._origin(node)) is not None:
            outs[0].origin = self._checked(origin, outs[0].value)
        self._set(node, *outs)

    def _checked(self, origin, value: np.ndarray | None):
        """``origin`` where the value really is that map's height or width at the model's
        own size (anything else, e.g. a Cast to bool, forgets the element's origin)."""
        if value is None or value.size != len(origin):
            return None
        sizes = {"h": lambda s: s.height, "w": lambda s: s.width}
        flat = value.reshape(-1)
        checked = tuple(
            o if o is not None and int(v) == sizes[o[1]](self.shapes[o[0]]) else None
            for o, v in zip(origin, flat, strict=True)
        )
        return checked if any(checked) else None

    def _origin(self, node: _Node) -> tuple[tuple[str, str] | None, ...] | None:
        """Where the elements of a shape-arithmetic result come from: a Shape node of a
        feature map gives its height and width, and Gather / Slice / Concat / Cast /
        (Un)Squeeze / Reshape move those elements around (found by evaluating the node on
        element codes instead of values). Anything else forgets them."""
        op = node.op
        if op == "Shape" and node.ins and isinstance(x := node.ins[0], _FMap):
            if x.pad_node is not None:  # a padded size is no layer's size
                return None
            axes = {"map": {2: "h", 3: "w"}, "nhwc": {1: "h", 2: "w"}}.get(x.view, {})
            rank = len(x.dims)
            start, end = node.attr("start", 0), node.attr("end", rank)
            picked = range(rank)[slice(start, end)]
            found = tuple((x.layer, axes[a]) if a in axes else None for a in picked)
            return found if any(found) else None
        data = _ORIGIN_DATA.get(op)
        if data is None:
            return None
        sources = [node.ins[i] if i < len(node.ins) else None for i in data(len(node.ins))]
        if not any(isinstance(t, _Const) and t.origin for t in sources):
            return None
        codes, table, feeds = 0, [], {}
        for i, t in enumerate(node.ins):
            name = node.proto.input[i]
            if not name or not isinstance(t, _Const):
                return None
            value = t.array()
            if value is None or value.size > _SMALL_CODES:
                return None
            if any(t is u for u in sources):
                origin = t.origin if t.origin and len(t.origin) == value.size else None
                table.extend(origin or [None] * value.size)
                value = np.arange(codes, codes + value.size, dtype=np.int64).reshape(value.shape)
                codes += value.size
            feeds[name] = value
        out = run_node(node.proto, feeds, self.opset)
        if not out or out[0] is None or out[0].size > _SMALL_CODES:
            return None
        picked = [table[int(c)] if 0 <= int(c) < len(table) else None for c in out[0].ravel()]
        return tuple(picked) if any(picked) else None

    def _predicted(self, node: _Node) -> tuple[tuple[int, ...] | None, int | None]:
        """Output shape and element bound of a constant node, before evaluating it."""
        shapes = [self._const_shape(x) if x is not None else None for x in node.ins]

        def value(i: int) -> np.ndarray | None:
            x = node.ins[i] if i < len(node.ins) else None
            shape = self._const_shape(x)
            if shape is None or math.prod(shape) > _FOLD_LIMIT:
                return None
            return x.array()  # type: ignore[union-attr]

        return output_shape(node.op, shapes, value, node.attrs)

    def _evaluate(self, node: _Node) -> list[np.ndarray | None] | None:
        proto, ins = node.proto, node.ins
        if proto.op_type == "Constant":
            return [_constant(proto)[0]]
        if proto.op_type in ("Shape", "Size"):
            x = ins[0] if ins else None
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
        # The output size is bounded from the operator's semantics *before* evaluating: an
        # unused Range(0, 1e9) or a huge Expand is never computed.
        bound = self._predicted(node)[1]
        if bound is None or bound > _FOLD_LIMIT:
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
        if self.folded + bound > limits.MAX_FOLD_ELEMENTS:
            return None  # the budget of all folded constants is spent; values stay unknown
        values = run_node(proto, feeds, self.opset)
        if values is not None:
            got = sum(v.size for v in values if v is not None)
            self.folded += got
            if any(v is not None and v.size > bound for v in values):
                return None  # not what the operator's rule says: do not trust it
        return values

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
                key=node.key,
            )
        if len(shape) != rank:
            raise _Unsupported(f"weight of rank {len(shape)}, expected {rank}")
        return tuple(int(d) for d in shape)

    # -- window geometry -------------------------------------------------------------------

    def _window(
        self, node: _Node, x: _FMap, kernel: Sequence[int], ceil_mode: bool = False
    ) -> dict[str, Any]:
        """kernel/stride/padding/dilation of a Conv or pooling node, valid at every input size.

        ``auto_pad`` SAME_* becomes a total padding of dilation*(kernel-1) per axis: with it the
        floor-mode output is ceil(n/stride) for every n, as SAME requires; the split between
        top and bottom is ONNX's at the model's own size. ``ceil_mode`` becomes stride-1 extra
        bottom/right padding, which gives the ceil-mode size for every n as long as the last
        window can never start in the end padding (checked below).
        """
        kernel = _ints(node, "kernel_shape", kernel)
        stride = _ints(node, "strides", node.attr("strides", [1, 1]))
        dilation = _ints(node, "dilations", node.attr("dilations", [1, 1]))
        pads = _ints(node, "pads", node.attr("pads", [0, 0, 0, 0]))
        if len(kernel) != 2 or len(stride) != 2 or len(pads) != 4 or len(dilation) != 2:
            raise _Unsupported(f"{len(kernel)}-D window (only 2-D is supported)")
        for key, values, low in (
            ("kernel_shape", kernel, 1),
            ("strides", stride, 1),
            ("dilations", dilation, 1),
            ("pads", pads, 0),
        ):
            if not all(low <= v <= limits.MAX_KERNEL for v in values):
                raise NetworkError(
                    f"{key} {values}: expected integers from {low} to {limits.MAX_KERNEL}",
                    key=node.key,
                )
        auto = node.attr("auto_pad", "NOTSET")
        if auto not in _AUTO_PADS:
            raise NetworkError(
                f"auto_pad {auto!r}: expected one of {', '.join(_AUTO_PADS)}", key=node.key
            )
        s = self.shapes[x.layer]
        size = (s.height + x.pad[0] + x.pad[2], s.width + x.pad[1] + x.pad[3])
        for axis in (0, 1):
            k, st, d, n = kernel[axis], stride[axis], dilation[axis], size[axis]
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                total = d * (k - 1)
                here = max(0, (math.ceil(n / st) - 1) * st + (k - 1) * d + 1 - n)
                lead = here // 2 if auto == "SAME_UPPER" else here - here // 2
                pads[axis], pads[axis + 2] = lead, total - lead
            elif auto == "VALID":
                pads[axis] = pads[axis + 2] = 0
            elif ceil_mode:
                # PyTorch's rule (ONNX's too since opset 19): a window starting in the end
                # padding is dropped. It never applies when end_pad + stride <= d*(k-1)+1;
                # otherwise whether it applies depends on the input size.
                if pads[axis + 2] + st > d * (k - 1) + 1:
                    raise _Unsupported(
                        f"ceil_mode with end padding {pads[axis + 2]}, stride {st} and kernel "
                        f"{k}: the output size rule depends on the input size"
                    )
                pads[axis + 2] += st - 1
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
                key=node.key,
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
        """ReduceMean / ReduceMax / ReduceSum over H and W: a global pooling. Over the channel
        axis with keepdims (the mean and variance of a decomposed LayerNorm): a per-pixel
        statistic that only normalises the map, zero-cost like LayerNormalization itself."""
        x = self._plain(node.fmap(0), node)
        axes = node.ints("axes", 1)
        spatial = {"map": {2, 3}, "nhwc": {1, 2}}.get(x.view)
        found = None if axes is None else {a % len(x.dims) for a in axes}
        keep = node.attr("keepdims", 1)
        if spatial is not None and found == spatial:
            mode = "max" if node.op == "ReduceMax" else "avg"
            name = self._layer(GlobalPool, node.label, [x.layer], mode=mode)
            self._set(node, self._view(name, x.view if keep else "flat"))
        elif spatial is not None and keep and found == {self._channel_axis(x)}:
            dims = tuple(1 if i == self._channel_axis(x) else d for i, d in enumerate(x.dims))
            self._set(node, replace(x, dims=dims, view="stat"))
        else:
            raise _Unsupported(
                f"reduces axes {axes} of shape {x.dims}; only the spatial axes, or the channel "
                "axis with keepdims=1, are supported"
            )

    def _dense(self, node: _Node) -> None:
        """Gemm / MatMul of a flattened map with a constant weight matrix: a dense layer.
        MatMul of a channels-last map (N, H, W, C) with a constant (C, C'): a 1x1 convolution
        C -> C' on every pixel (the MLP of ConvNeXt blocks)."""
        x = self._plain(node.fmap(0), node)
        if x.view == "nhwc" and node.op == "MatMul":
            w = self._weight_shape(node, 1, 2)
            if w[0] != x.dims[3]:
                raise NetworkError(
                    f"weight {w} does not fit {x.dims[3]} channels (expected ({x.dims[3]}, C))",
                    key=node.key,
                )
            name = self._layer(Conv, node.label, [x.layer], out_channels=w[1], kernel=1)
            self._set(node, self._view(name, "nhwc"))
            return
        if x.view != "flat" or node.attr("transA", 0):
            raise _Unsupported(f"expects a flattened (N, features) input, got shape {x.dims}")
        w = self._weight_shape(node, 1, 2)
        inputs, out = (w[1], w[0]) if node.attr("transB", 0) else w
        if inputs != x.dims[-1]:
            raise NetworkError(
                f"weight {w} takes {inputs} input features, the flattened input "
                f"{self.shapes[x.layer]} has {x.dims[-1]}",
                key=node.key,
            )
        self._thaw_adaptive_pool(x.layer)
        # after a global pool or another dense layer the size cannot change: no check needed
        fixed = x.layer != INPUT and not self._layer_named(x.layer).spatial
        name = self._layer(
            Dense, node.label, [x.layer], out_features=out, in_features=None if fixed else inputs
        )
        self._set(node, _FMap(name, (*x.dims[:-1], out), "flat"))

    def _layer_named(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def _thaw_adaptive_pool(self, name: str) -> None:
        """An adaptive pool the exporter froze at the model's own size (AdaptiveAvgPool2d
        written as AveragePool with kernel = stride = input / output, 1 when they are equal)
        feeding a flatten and a dense layer: pooling to that output size again, so that the
        flattened size fits the dense layer's weight at every input size."""
        layer = next((lay for lay in self.layers if lay.name == name), None)
        if not isinstance(layer, Pool) or any(layer.padding) or layer.dilation != (1, 1):
            return
        if layer.kernel != layer.stride or (layer.mode != "avg" and layer.kernel != (1, 1)):
            return
        s = self.shapes[name]
        thawed = AdaptivePool(name, layer.inputs, output=(s.height, s.width), mode=layer.mode)
        self.layers[self.layers.index(layer)] = thawed

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
        gate = self._gate(node, maps, carriers)
        if gate is not None:  # a squeeze-and-excitation gate: the map times a C-vector
            name = self._layer(Scale, node.label, [gate.layer, carriers[0].layer])
            self._set(node, self._view(name, carriers[0].view))
            return
        same = len(set(layers)) == 1
        if len(carriers) == 1 or (
            same and (node.op not in _ADD_LIKE or carriers[0].view == "stat")
        ):
            # one map, a product of a map with itself (x * erf(x)), or normalisation statistics
            self._set(node, carriers[0])
            return
        name = self._layer(Add, node.label, layers)
        self._set(node, self._view(name, carriers[0].view))

    def _gate(self, node: _Node, maps: list[_FMap], carriers: list[_FMap]) -> _FMap | None:
        """The gate of ``map * gate``: a C x 1 x 1 map of another layer with the carrier's
        C channels (squeeze-and-excitation), else None."""
        if node.op != "Mul" or len(maps) != 2 or len(carriers) != 1:
            return None
        (x,) = carriers
        (g,) = [m for m in maps if m is not x]
        s, gs = self.shapes[x.layer], self.shapes[g.layer]
        ok = x.view in ("map", "nhwc") and g.view == x.view and g.layer != x.layer
        return g if ok and gs.pixels == 1 and s.pixels > 1 and gs.channels == s.channels else None

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
        channels, outs = x.dims[self._channel_axis(x)], len(node.proto.output)
        sizes = node.ints("split", 1)
        if sizes is None:
            chunk = math.ceil(channels / node.attr("num_outputs", outs))
            sizes = [min(chunk, channels - k * chunk) for k in range(outs)]
        if sum(sizes) != channels or len(sizes) != outs:
            raise NetworkError(
                f"split sizes {sizes} do not add up to {channels} channels",
                key=node.key,
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
        axis_c = self._channel_axis(x)
        all_channels = (0, x.dims[axis_c] if axis_c is not None else 0)
        channels = all_channels
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            size = x.dims[axis % len(x.dims)]
            lo, hi = (int(np.clip(v + size if v < 0 else v, 0, size)) for v in (start, end))
            if step != 1 and (lo, hi) != (0, size):
                raise _Unsupported(f"slice step {step}")
            if self._channels_view(x, axis):
                channels = (lo, hi)
            elif (lo, hi) != (0, size):
                raise _Unsupported(f"crops axis {axis % len(x.dims)}; only channels can be sliced")
        if channels == all_channels:
            self._set(node, x)
            return
        name = self._layer(ChannelSlice, node.label, [x.layer], start=channels[0], stop=channels[1])
        self._set(node, self._view(name, x.view))

    def _gather(self, node: _Node) -> None:
        """Channels picked by constant indices: x[:, k] (as torchvision's Inception-v3 input
        transform) or x[:, [k, k+1, ...]]; or the one image of the batch, x[0] (the dynamo
        export of a classifier on a pooled vector)."""
        x = self._plain(node.fmap(0), node)
        index = node.value(1)
        if int(node.attr("axis", 0)) % len(x.dims) == 0 and self.batch == 1 and x.dims[0] == 1:
            if index is None or index.size != 1 or int(index.reshape(-1)[0]) not in (0, -1):
                raise _Unsupported("picks images of the batch other than the first")
            dims = x.dims[1:] if index.ndim == 0 else x.dims
            if x.view in ("flat", "map") and dims and dims[-1] == self.shapes[x.layer].elements:
                self._set(node, _FMap(x.layer, dims, "flat"))
                return
            raise _Unsupported(f"picks the first image of shape {x.dims}")
        x = self._map(node)
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
        """Resize / Upsample: to the height and width of another tensor when the target
        size is that tensor's shape (``F.interpolate(x, size=y.shape[-2:])``), or when it
        is the image's size; else by one integer factor on H and W. Either is an Upsample
        layer, re-derived at every input size."""
        x = self._map(node)
        like = self._size_source(node, x)
        if like is not None:
            name = self._layer(Upsample, node.label, [x.layer], size_of=like)
            self._set(node, self._view(name))
            return
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

    def _size_source(self, node: _Node, x: _FMap) -> str | None:
        """The tensor whose height and width a Resize's ``sizes`` are, or None.

        Found from where the sizes come from (a Shape node of that tensor, through Slice /
        Gather / Concat ...). Sizes written as plain numbers (a static export) are taken as
        the image's size when they equal it, and as the latest earlier map of that size when
        they are no integer multiple of the input's."""
        if "scales" in node.attrs or node.op == "Upsample" or len(node.ins) < 4:
            return None
        sizes = node.ins[3]
        if not isinstance(sizes, _Const):
            return None
        axes = [a % 4 for a in node.attr("axes", [0, 1, 2, 3])]
        origin = sizes.origin
        if origin is not None and len(origin) == len(axes) and {2, 3} <= set(axes):
            h, w = origin[axes.index(2)], origin[axes.index(3)]
            if h is not None and w is not None and h[0] == w[0] and (h[1], w[1]) == ("h", "w"):
                return h[0]
        value = node.value(3)
        if value is None or len(value.reshape(-1)) != len(axes) or not {2, 3} <= set(axes):
            return None
        size = tuple(int(value.reshape(-1)[axes.index(a)]) for a in (2, 3))
        if size == (x.dims[2], x.dims[3]):
            return None
        if not self.static_input and size == self.input_size:
            return None  # a dynamic graph's sizes are a guess at 224: keep the old rule
        if size == self.input_size:
            return INPUT
        pooled = x.dims[2:] == (1, 1)  # a 1x1 map is stretched to a map's size, never scaled
        if (
            not pooled
            and all(n % d == 0 for n, d in zip(size, x.dims[2:], strict=True))
            and (size[0] // x.dims[2] == size[1] // x.dims[3])
        ):
            return None  # one integer factor: an upsample by it
        same = [
            layer.name
            for layer in self.layers
            if (self.shapes[layer.name].height, self.shapes[layer.name].width) == size
        ]
        return same[-1] if same else None

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
        # NCHW <-> NHWC: a layout change, no cost; the view remembers where the channels are
        if x.view == "map" and perm == (0, 2, 3, 1):
            self._set(node, self._view(self._plain(x, node).layer, "nhwc"))
            return
        if x.view == "nhwc" and perm == (0, 3, 1, 2):
            self._set(node, self._view(x.layer))
            return
        swap = (0, 2, 1, *range(3, rank))
        if x.view not in ("grouped", "shuffled") or perm != swap:
            raise _Unsupported(
                f"permutation {perm} of shape {x.dims} (only NCHW <-> NHWC and the "
                "channel-shuffle transpose)"
            )
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
        if (  # (1, C, 1, 1) or (1, C) -> (C,): a 1-D flat view
            self.batch == 1
            and dims == (s.elements,)
            and (x.view == "flat" or (x.view in ("map", "nhwc") and s.pixels == 1))
        ):
            return _FMap(x.layer, dims, "flat")
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


def _ints(node: _Node, key: str, values: Any) -> list[int]:
    """An attribute that must be a list of integers."""
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise NetworkError(f"{key} {values!r}: expected a list of integers", key=node.key) from None


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
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


def _symbolic_dims(value_info: Any) -> tuple[int | str | None, ...] | None:
    """Like _declared_dims, but a named symbolic dimension keeps its name."""
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return tuple(
        d.dim_value
        if d.HasField("dim_value") and d.dim_value > 0
        else (d.dim_param or None)
        if d.HasField("dim_param")
        else None
        for d in t.tensor_type.shape.dim
    )


def _static_shapes(
    model: Any,
) -> tuple[dict[str, tuple[int | None, ...]], dict[str, tuple[int | str | None, ...]]]:
    """ONNX shapes of all tensors after ONNX shape inference (best effort): fixed dimensions
    only, and with symbolic dimensions kept by name."""
    import onnx

    with contextlib.suppress(Exception):  # a model ONNX cannot infer keeps its declared shapes
        model = onnx.shape_inference.infer_shapes(model)
    g = model.graph
    shapes, symbolic = {}, {}
    for v in (*g.value_info, *g.input, *g.output):
        dims = _declared_dims(v)
        if dims is not None:
            shapes[v.name] = dims
            symbolic[v.name] = _symbolic_dims(v)
    return shapes, symbolic


def _parameter_inputs(graph: Any) -> set[str]:
    """Graph inputs used as weights (export_params=False): an input index >= 1 of an operator
    that is not element-wise."""
    symmetric = _BINARY | {"Concat", "Where", "Equal"}
    return {name for node in graph.node if node.op_type not in symmetric for name in node.input[1:]}


def _tensor_value(proto: Any) -> np.ndarray | None:
    """A TensorProto's array, or None when its data is external or it is too large to be
    worth converting (only its shape matters then)."""
    from onnx import TensorProto, numpy_helper

    if proto.data_location == TensorProto.EXTERNAL or math.prod(proto.dims) > _FOLD_LIMIT:
        return None
    return numpy_helper.to_array(proto)


def _constant(proto: Any) -> tuple[np.ndarray | None, tuple[int, ...] | None]:
    """Value (None when large) and shape of a Constant node."""
    for a in proto.attribute:
        if a.name == "value":
            return _tensor_value(a.t), tuple(int(d) for d in a.t.dims)
        if a.name in ("value_float", "value_int"):
            return np.array(a.f if a.name == "value_float" else a.i), ()
        if a.name in ("value_floats", "value_ints"):
            v = np.array(list(a.floats if a.name == "value_floats" else a.ints))
            return v, v.shape
    return None, None


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
