"""Bounded constant folding for the ONNX importer.

Exports compute Reshape targets, Resize sizes and the like with small shape arithmetic
(Shape -> Gather -> Div -> Concat ...). The importer evaluates such nodes with the ONNX
reference runtime, but a model file is untrusted input: a single ``Range(0, 1e9)`` or
``Expand`` to a huge shape would allocate gigabytes. So the *output* shape of a node is
computed from the operator's semantics first (:func:`output_shape`), from input shapes and
a few tiny input values, and the node is only evaluated when that shape is known and small.
Operators without a rule here are never evaluated (their values stay unknown).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Element-wise operators of one input: the output has the input's shape.
_SAME_SHAPE = frozenset(
    {
        *("Identity", "Cast", "CastLike", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign"),
        *("Sqrt", "Reciprocal", "Exp", "Log", "Relu", "Sigmoid", "Tanh", "Erf", "Not", "Clip"),
        *("DequantizeLinear", "QuantizeLinear", "IsNaN", "IsInf", "CumSum", "Trilu"),
    }
)
#: Element-wise operators of several inputs: the output has the broadcast shape.
_BROADCAST = frozenset(
    {
        *("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Where"),
        *("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"),
        *("BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"),
    }
)
_REDUCE = frozenset(
    {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ArgMax", "ArgMin"}
)
#: Inputs that are read as values to predict a shape (axes, repeats, pads, ...) must be tiny.
_SMALL = 64

Shape = tuple[int, ...]
#: (input shapes, a getter of input i's value or None, attributes) -> output shape or None
_Rule = Callable[[list[Shape | None], Callable[[int], np.ndarray | None], dict[str, Any]], Any]


def _small(value: Callable[[int], np.ndarray | None], i: int) -> list[int] | None:
    v = value(i)
    if v is None or v.size > _SMALL:
        return None
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _axes(
    attrs: dict[str, Any], value: Callable[[int], np.ndarray | None], i: int
) -> list[int] | None:
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    return _small(value, i)


def _broadcast(shapes, value, attrs):
    if any(s is None for s in shapes):
        return None
    return tuple(np.broadcast_shapes(*shapes))


def _gather(shapes, value, attrs):
    data, indices = shapes[0], shapes[1]
    if data is None or indices is None or not data:
        return None
    axis = int(attrs.get("axis", 0)) % len(data)
    return (*data[:axis], *indices, *data[axis + 1 :])


def _concat(shapes, value, attrs):
    if not shapes or any(s is None for s in shapes) or not shapes[0]:
        return None
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        return None
    axis = int(attrs.get("axis", 0)) % rank
    return (*shapes[0][:axis], sum(s[axis] for s in shapes), *shapes[0][axis + 1 :])


def _unsqueeze(shapes, value, attrs):
    axes = _axes(attrs, value, 1)
    if shapes[0] is None or axes is None:
        return None
    dims, rank = list(shapes[0]), len(shapes[0]) + len(axes)
    for axis in sorted(a % rank for a in axes):
        dims.insert(axis, 1)
    return tuple(dims)


def _squeeze(shapes, value, attrs):
    axes = _axes(attrs, value, 1)
    if shapes[0] is None:
        return None
    rank = len(shapes[0])
    drop = {a % rank for a in axes} if axes else {i for i, d in enumerate(shapes[0]) if d == 1}
    return tuple(d for i, d in enumerate(shapes[0]) if i not in drop)


def _reduce(shapes, value, attrs):
    """Reductions keep the rank (keepdims) or drop axes; never more elements than the input."""
    if shapes[0] is None:
        return None
    if "axis" in attrs:  # ArgMax / ArgMin
        axes = [int(attrs["axis"])]
    else:
        axes = _axes(attrs, value, 1) or list(range(len(shapes[0])))
    rank = len(shapes[0])
    axes = {a % rank for a in axes} if rank else set()
    keep = int(attrs.get("keepdims", 1))
    return tuple(1 if i in axes else d for i, d in enumerate(shapes[0]) if keep or i not in axes)


def _transpose(shapes, value, attrs):
    if shapes[0] is None:
        return None
    perm = attrs.get("perm", range(len(shapes[0]) - 1, -1, -1))
    return tuple(shapes[0][int(p)] for p in perm)


def _same_count(shapes, value, attrs):
    """Reshape / Flatten / Slice / Split outputs: at most the input's elements. The exact shape
    is left to the evaluation; the bound is returned as a flat shape."""
    return None if shapes[0] is None else (math.prod(shapes[0]),)


def _range(shapes, value, attrs):
    vals = [value(i) for i in range(3)]
    if any(v is None or v.size != 1 for v in vals):
        return None
    start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in vals)
    if delta == 0 or not all(map(math.isfinite, (start, limit, delta))):
        return None
    return (max(0, math.ceil((limit - start) / delta)),)


def _constant_of_shape(shapes, value, attrs):
    dims = _small(value, 0)
    return None if dims is None or min(dims, default=0) < 0 else tuple(dims)


def _expand(shapes, value, attrs):
    target = _small(value, 1)
    if shapes[0] is None or target is None or min(target, default=0) < 0:
        return None
    return tuple(np.broadcast_shapes(shapes[0], tuple(target)))


def _tile(shapes, value, attrs):
    repeats = _small(value, 1)
    if shapes[0] is None or repeats is None or len(repeats) != len(shapes[0]):
        return None
    if min(repeats, default=0) < 0:
        return None
    return tuple(d * r for d, r in zip(shapes[0], repeats, strict=True))


def _pad(shapes, value, attrs):
    pads = [int(p) for p in attrs["pads"]] if "pads" in attrs else _small(value, 1)
    if shapes[0] is None or pads is None or len(pads) != 2 * len(shapes[0]):
        return None
    rank = len(shapes[0])
    return tuple(d + pads[i] + pads[i + rank] for i, d in enumerate(shapes[0]))


def _matmul(shapes, value, attrs):
    a, b = shapes[0], shapes[1]
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return None  # 1-D operands: rare in shape arithmetic
    return (*np.broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1])


def _scalar(shapes, value, attrs):
    return ()


def _shape_of_shape(shapes, value, attrs):
    return None if shapes[0] is None else (len(shapes[0]),)


_RULES: dict[str, _Rule] = {
    **{op: (lambda shapes, value, attrs: shapes[0]) for op in _SAME_SHAPE},
    **{op: _broadcast for op in _BROADCAST},
    **{op: _reduce for op in _REDUCE},
    "Gather": _gather,
    "Concat": _concat,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Transpose": _transpose,
    "Reshape": _same_count,
    "Flatten": _same_count,
    "Slice": _same_count,
    "Split": _same_count,
    "Range": _range,
    "ConstantOfShape": _constant_of_shape,
    "Expand": _expand,
    "Tile": _tile,
    "Pad": _pad,
    "MatMul": _matmul,
    "Size": _scalar,
    "Shape": _shape_of_shape,
}
#: Rules that give an upper bound (a flat shape), not the exact output shape.
_BOUND_ONLY = frozenset({"Reshape", "Flatten", "Slice", "Split", "Shape"})


def output_shape(
    op: str,
    shapes: Sequence[Shape | None],
    value: Callable[[int], np.ndarray | None],
    attrs: dict[str, Any],
) -> tuple[Shape | None, int | None]:
    """(exact output shape or None, upper bound on its elements or None) of a constant node.

    ``shapes`` are the input shapes (None when unknown); ``value(i)`` returns input i's array
    (or None), and is only asked for tiny inputs (axes, repeats, pads, Range bounds).
    A None bound means the node must not be evaluated.
    """
    rule = _RULES.get(op)
    if rule is None:
        return None, None
    try:
        shape = rule(list(shapes), value, attrs)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError):
        return None, None  # inconsistent shapes: the evaluation would fail as well
    if shape is None or min(shape, default=0) < 0:
        return None, None
    shape = tuple(int(d) for d in shape)
    return (None if op in _BOUND_ONLY else shape), math.prod(shape)


def run_node(proto: Any, feeds: dict[str, np.ndarray], opset: int) -> list[Any] | None:
    """Evaluate one constant node with the ONNX reference runtime (None if it cannot)."""
    from onnx import TypeProto, helper
    from onnx.reference import ReferenceEvaluator

    try:
        graph = helper.make_graph(
            [proto],
            "fold",
            [helper.make_value_info(name, TypeProto()) for name in feeds],
            [helper.make_value_info(name, TypeProto()) for name in proto.output if name],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        values = ReferenceEvaluator(model).run(None, feeds)
    except Exception:  # anything the reference runtime cannot do stays unknown
        return None
    return [np.asarray(v) if v is not None else None for v in values]
