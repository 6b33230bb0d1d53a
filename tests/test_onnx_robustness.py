"""ONNX import of malformed or hostile files: one InputError line, never a traceback, and
constant folding that never allocates more than the documented limit."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hyperdrive_sim import limits  # noqa: E402
from hyperdrive_sim.errors import InputError, NetworkError  # noqa: E402
from hyperdrive_sim.workload.onnx_import import load_onnx, network_from_model  # noqa: E402


def small_model(extra: list | None = None, inits: list | None = None, **conv) -> onnx.ModelProto:
    """input (1, 3, 32, 32) -> Conv 3->8 3x3 -> Relu -> GlobalAveragePool, plus ``extra``."""
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], **conv}
    if "auto_pad" in attrs:
        attrs.pop("pads")
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], name="conv", **attrs),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["out"], name="pool"),
        *(extra or []),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [w, *(inits or [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_zero_strides_with_same_padding_name_the_node() -> None:
    with pytest.raises(NetworkError, match=r"strides \[0, 0\]: expected integers from 1") as err:
        network_from_model(small_model(strides=[0, 0], auto_pad="SAME_UPPER"), file="m.onnx")
    assert (err.value.file, err.value.key) == ("m.onnx", "node 'conv' (Conv)")


def test_recursive_local_function_is_an_input_error() -> None:
    model = small_model()
    call = helper.make_node("Loopy", ["r"], ["z"], name="call", domain="local")
    model.graph.node.append(call)
    body = helper.make_node("Loopy", ["x"], ["y"], domain="local")
    fn = helper.make_function("local", "Loopy", ["x"], ["y"], [body], [helper.make_opsetid("", 17)])
    model.functions.append(fn)
    model.opset_import.append(helper.make_opsetid("local", 1))
    with pytest.raises(NetworkError, match="cannot inline the model-local functions") as err:
        network_from_model(model, file="m.onnx")
    assert err.value.key == "functions"


@pytest.mark.parametrize("op", ["Range", "Expand", "ConstantOfShape", "Tile"])
def test_unused_huge_constants_are_never_computed(op: str) -> None:
    """Range(0, 2.6e8) would be 2 GB of int64, Expand/Tile/ConstantOfShape to 16500x16500
    2 GB of float64: the output size is computed from the operator before evaluating it."""
    c = lambda name, v, dt=np.int64: numpy_helper.from_array(np.asarray(v, dt), name)  # noqa: E731
    inits = [
        c("zero", 0),
        c("big", 260_000_000),
        c("one", 1),
        c("shape", [16500, 16500]),
        c("reps", [16500, 16500]),
        c("x", [[1.0]], np.float64),
    ]
    inputs = {
        "Range": ["zero", "big", "one"],
        "Expand": ["x", "shape"],
        "ConstantOfShape": ["shape"],
        "Tile": ["x", "reps"],
    }[op]
    extra = [helper.make_node(op, inputs, ["unused"], name="huge")]
    tracemalloc.start()
    try:
        net = network_from_model(small_model(extra, inits))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [layer.kind for layer in net.layers] == ["conv", "global_pool"]
    assert peak < 64 * 1024**2  # numpy allocations are traced; the folded tensor would be 2 GB


def test_folded_values_are_bounded_by_the_limit(monkeypatch) -> None:
    """A Reshape target that needs a too-large fold is refused by name, not computed."""
    monkeypatch.setattr(limits, "MAX_FOLD_ELEMENTS", 10)
    c = numpy_helper.from_array(np.arange(20, dtype=np.int64), "twenty")
    extra = [
        helper.make_node("Add", ["twenty", "twenty"], ["sum"], name="arith"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat"),
        helper.make_node("Reshape", ["f", "sum"], ["out2"], name="reshape"),
    ]
    with pytest.raises(NetworkError, match="not a constant the importer can evaluate") as err:
        network_from_model(small_model(extra, [c]))
    assert err.value.key == "node 'reshape' (Reshape)"


def test_invalid_utf8_attribute_is_an_input_error() -> None:
    model = small_model()
    model.graph.node[0].attribute.append(
        helper.make_attribute("auto_pad", b"SAME_\xff\xfe")  # not UTF-8
    )
    with pytest.raises(NetworkError, match="auto_pad 'SAME_") as err:
        network_from_model(model, file="m.onnx")
    assert err.value.key == "node 'conv' (Conv)"


def test_file_above_the_size_limit_is_refused_before_reading(monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(small_model(), path)
    monkeypatch.setattr(limits, "MAX_ONNX_BYTES", 100)
    with pytest.raises(InputError, match="larger than 100 bytes") as err:
        load_onnx(path)
    assert err.value.file == str(path)


def test_fuzzed_files_load_or_raise_input_errors(tmp_path: Path) -> None:
    """200 variants of a valid model file with 1 to 20 bytes changed (seeded): each one loads,
    or raises an InputError naming the file; never any other exception."""
    data = small_model(
        [helper.make_node("Flatten", ["out"], ["flat"], name="flatten")]
    ).SerializeToString()
    rng = np.random.default_rng(20240607)
    start, outcomes = time.perf_counter(), {"ok": 0, "error": 0}
    for k in range(200):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), size=rng.integers(1, 21)):
            buf[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"fuzz{k}.onnx"
        path.write_bytes(bytes(buf))
        try:
            load_onnx(path, allow_unsupported=bool(k % 2))
            outcomes["ok"] += 1
        except InputError as exc:
            assert exc.file == str(path) and "\n" not in str(exc)
            outcomes["error"] += 1
    assert outcomes["ok"] + outcomes["error"] == 200
    assert outcomes["error"] > 0  # the mutations do break files
    assert time.perf_counter() - start < 30
