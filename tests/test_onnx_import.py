"""ONNX import: zoo networks round-trip through ONNX graphs, operator patterns, errors.

The graphs are written with onnx.helper in the node patterns torch.onnx emits for
torchvision models (Conv + BatchNormalization + Relu, MaxPool, residual Add,
GlobalAveragePool, Flatten, Gemm, Split, Reshape/Transpose/Reshape channel shuffles ...).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hyperdrive_sim import cli  # noqa: E402
from hyperdrive_sim.errors import InputError, NetworkError  # noqa: E402
from hyperdrive_sim.simulate import simulate  # noqa: E402
from hyperdrive_sim.spec.models import NetworkRef  # noqa: E402
from hyperdrive_sim.workload import layers as L  # noqa: E402
from hyperdrive_sim.workload.network import Network  # noqa: E402
from hyperdrive_sim.workload.onnx_import import (  # noqa: E402
    OnnxImportWarning,
    load_onnx,
    network_from_model,
)
from hyperdrive_sim.workload.zoo import get_network  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRESETS = (
    REPO / "configs" / "chips" / "hyperdrive.yaml",
    REPO / "configs" / "systems" / "hyperdrive_mesh.yaml",
    REPO / "configs" / "energy" / "hyperdrive_22fdx.yaml",
)

# A stray shape-mismatch warning from the importer must fail the test that caused it.
pytestmark = pytest.mark.filterwarnings("error::UserWarning")


# --------------------------------------------------------------------------------------------
# A small graph writer


class Graph:
    """Appends ONNX nodes the way torch.onnx names and lays them out.

    ``params_as_inputs`` keeps weights as graph inputs (torch.onnx.export(...,
    export_params=False)) instead of initializers.
    """

    def __init__(
        self,
        channels: int = 3,
        size: tuple[int | str, int | str] = (224, 224),
        *,
        params_as_inputs: bool = False,
        opset: int = 17,
    ):
        self.nodes: list = []
        self.inits: list = []
        self.inputs = [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, *size])
        ]
        self.params_as_inputs = params_as_inputs
        self.opset = opset
        self.count = 0

    def _name(self, op: str, name: str | None) -> str:
        self.count += 1
        return name or f"/{op}_{self.count}"

    def node(self, op: str, inputs: list[str], name: str | None = None, outputs: int = 1, **attrs):
        name = self._name(op, name)
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def param(self, name: str, shape: tuple[int, ...]) -> str:
        """A float weight: an initializer, or a graph input when params_as_inputs."""
        if self.params_as_inputs:
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        else:
            self.inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), name))
        return name

    def const(self, values, dtype=np.int64) -> str:
        """A small constant (shapes, scales, pads): always an initializer."""
        name = f"const_{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    def conv(
        self,
        x,
        cin,
        out,
        k=3,
        stride=1,
        pads=None,
        groups=1,
        dilation=1,
        name=None,
        bn=True,
        act="Relu",
        **attrs,
    ):
        name = self._name("Conv", name)
        pads = [dilation * (k - 1) // 2] * 4 if pads is None else list(pads)
        w = self.param(f"{name}.weight", (out, cin // groups, k, k))
        if "auto_pad" in attrs:
            attrs.pop("pads", None)
        else:
            attrs["pads"] = pads
        y = self.node(
            "Conv",
            [x, w],
            name,
            kernel_shape=[k, k],
            strides=[stride] * 2,
            dilations=[dilation] * 2,
            group=groups,
            **attrs,
        )
        if bn:
            bn_params = [self.param(f"{name}.bn.{p}", (out,)) for p in ("g", "b", "m", "v")]
            y = self.node("BatchNormalization", [y, *bn_params], f"{name}/bn")
        return self.node(act, [y], f"{name}/act") if act else y

    def gemm(self, x, features: int, out: int, name: str | None = None) -> str:
        name = self._name("Gemm", name)
        w, b = self.param(f"{name}.weight", (out, features)), self.param(f"{name}.bias", (out,))
        return self.node("Gemm", [x, w, b], name, transB=1, alpha=1.0, beta=1.0)

    def shuffle(self, x, channels, groups, h, w, name=None) -> str:
        """torchvision channel_shuffle: view (N, g, C/g, H, W), transpose(1, 2), view back."""
        y = self.node("Reshape", [x, self.const([1, groups, channels // groups, h, w])])
        y = self.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
        return self.node("Reshape", [y, self.const([1, -1, h, w])], name)

    def model(self, outputs: list[str]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "test",
            self.inputs,
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        return model


def export_zoo(
    net: Network, size: int = 224, *, params_as_inputs: bool = False, ceil_pools: bool = False
) -> onnx.ModelProto:
    """Write a zoo network as a torch.onnx-style graph: every conv gets BN + Relu, every Dense
    a Flatten (when fed a map) and a Gemm. ``ceil_pools`` writes (0, 0, 1, 1)-padded pools
    as ceil_mode pools, as torchvision's SqueezeNet does."""
    shaped = net.at(size, size)
    g = Graph(net.input_channels, (size, size), params_as_inputs=params_as_inputs)
    tensor = {L.INPUT: "input"}
    rank = {L.INPUT: 4}
    splits: dict[str, dict[str, str]] = {}
    for info in shaped.infos:
        layer, ins = info.layer, info.in_shapes
        src = [tensor[i] for i in layer.inputs]
        if isinstance(layer, L.Conv):
            y = g.conv(
                src[0],
                ins[0].channels,
                layer.out_channels,
                layer.kernel[0],
                layer.stride[0],
                layer.padding,
                layer.groups,
                layer.dilation[0],
                name=layer.name,
            )
        elif isinstance(layer, L.Pool):
            op = "MaxPool" if layer.mode == "max" else "AveragePool"
            ceil = ceil_pools and layer.padding == (0, 0, 1, 1)
            y = g.node(
                op,
                src,
                layer.name,
                kernel_shape=list(layer.kernel),
                strides=list(layer.stride),
                pads=[0] * 4 if ceil else list(layer.padding),
                ceil_mode=int(ceil),
            )
        elif isinstance(layer, L.GlobalPool):
            y = g.node("GlobalAveragePool", src, layer.name)
        elif isinstance(layer, L.Dense):
            x = src[0] if rank[layer.inputs[0]] == 2 else g.node("Flatten", src, axis=1)
            y = g.gemm(x, ins[0].elements, layer.out_features, layer.name)
        elif isinstance(layer, L.Add):
            y = g.node("Add", src, layer.name)
        elif isinstance(layer, L.Concat):
            y = g.node("Concat", src, layer.name, axis=1)
        elif isinstance(layer, L.ChannelSlice):
            y = _split_output(g, shaped, layer, src[0], splits)
        elif isinstance(layer, L.ChannelShuffle):
            c = info.out_shape
            y = g.shuffle(src[0], c.channels, layer.groups, c.height, c.width, layer.name)
        elif isinstance(layer, L.Upsample):
            scales = g.const([1, 1, layer.factor, layer.factor], np.float32)
            y = g.node("Resize", [src[0], "", scales], layer.name, mode="nearest")
        else:  # pragma: no cover
            raise AssertionError(layer)
        tensor[layer.name] = y
        rank[layer.name] = 2 if isinstance(layer, L.Dense) else 4
    return g.model([tensor[name] for name in shaped.outputs])


def _split_output(g: Graph, shaped, layer: L.ChannelSlice, x: str, splits: dict) -> str:
    """Channel slices of one map that tile it become one Split (as torch.chunk exports)."""
    if layer.inputs[0] not in splits:
        parts = sorted(
            (i.layer.start, i.layer.stop, i.layer.name)
            for i in shaped.infos
            if isinstance(i.layer, L.ChannelSlice) and i.layer.inputs == layer.inputs
        )
        sizes = [stop - start for start, stop, _ in parts]
        outs = g.node(
            "Split", [x, g.const(sizes)], f"{layer.name}/Split", outputs=len(parts), axis=1
        )
        outs = [outs] if len(parts) == 1 else outs
        splits[layer.inputs[0]] = {name: o for (_, _, name), o in zip(parts, outs, strict=True)}
    return splits[layer.inputs[0]][layer.name]


def save(model, tmp_path: Path, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, path)
    return path


def signature(net: Network, size: int = 224) -> list[tuple]:
    """Layer kinds, shapes and MACs in order: what import must reproduce (names aside)."""
    return [(i.layer.kind, i.in_shapes, i.out_shape, i.macs) for i in net.at(size, size).infos]


# --------------------------------------------------------------------------------------------
# Zoo networks through ONNX

PUBLISHED_224 = {
    "resnet18": 1.814e9,  # torchvision docs: 1.81 GFLOPS (= MACs)
    "resnet50": 4.089e9,  # torchvision docs: 4.09 GFLOPS
    "mobilenet_v2": 300e6,  # Sandler et al. 2018, Table 4: 300M multiply-adds
    "shufflenet_v2": 146e6,  # Ma et al. 2018: ShuffleNet v2 1x, 146 MFLOPs (= MACs)
}


@pytest.mark.parametrize("name", PUBLISHED_224)
def test_zoo_round_trip_matches_zoo_and_published_macs(name: str, tmp_path: Path) -> None:
    zoo = get_network(name)
    net = load_onnx(save(export_zoo(zoo, params_as_inputs=True), tmp_path))
    assert net.name == "model"
    assert net.at(224, 224).macs == zoo.at(224, 224).macs
    assert net.at(224, 224).macs == pytest.approx(PUBLISHED_224[name], rel=0.01)
    assert net.at(224, 224).weights == zoo.at(224, 224).weights
    assert signature(net) == signature(zoo)
    # shapes are re-inferred, not copied from the ONNX file: another resolution works too
    assert net.at(512, 512).macs == zoo.at(512, 512).macs
    assert signature(net, 512) == signature(zoo, 512)


def test_zoo_layer_names_are_the_onnx_node_names(tmp_path: Path) -> None:
    zoo = get_network("resnet18")
    net = load_onnx(save(export_zoo(zoo), tmp_path))
    assert [layer.name for layer in net.layers] == [layer.name for layer in zoo.layers]
    assert net.layers == zoo.layers  # identical layer objects, not just equal MACs


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_weights_as_initializers_or_graph_inputs_give_the_same_network(
    name: str, tmp_path: Path
) -> None:
    zoo = get_network(name)
    a = load_onnx(save(export_zoo(zoo), tmp_path, "a.onnx"))
    b = load_onnx(save(export_zoo(zoo, params_as_inputs=True), tmp_path, "b.onnx"))
    assert a.layers == b.layers
    assert a.input_channels == b.input_channels == 3


def test_yolov3_multiple_outputs_and_resize(tmp_path: Path) -> None:
    zoo = get_network("yolov3")
    net = load_onnx(save(export_zoo(zoo, 416, params_as_inputs=True), tmp_path))
    assert signature(net, 416) == signature(zoo, 416)
    assert len(net.at(416, 416).outputs) == 3
    assert signature(net, 608) == signature(zoo, 608)


def test_squeezenet_ceil_mode_pools(tmp_path: Path) -> None:
    zoo = get_network("squeezenet1_1")
    net = load_onnx(save(export_zoo(zoo, ceil_pools=True), tmp_path))
    assert signature(net) == signature(zoo)


def test_external_weight_data_is_not_needed(tmp_path: Path) -> None:
    path = tmp_path / "ext.onnx"
    onnx.save(
        export_zoo(get_network("resnet18")),
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="ext.data",
        size_threshold=1024,
    )
    (tmp_path / "ext.data").unlink()
    assert load_onnx(path).at(224, 224).macs == get_network("resnet18").at(224, 224).macs


# The ONNX model zoo's classic CNNs (Caffe2 conversions, opset 9) ship with the onnx package,
# weights replaced by ConstantOfShape nodes: real exported graphs, with LRN, ceil-mode pools,
# Sum residuals, 7x7 AveragePool classifiers and Reshape-based channel shuffles.
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MACS_224 = {
    "resnet50": 4.089e9,  # = zoo resnet50 (torchvision docs: 4.09 GFLOPS)
    "squeezenet": 349e6,  # SqueezeNet 1.1 = zoo squeezenet1_1 (torchvision docs: 0.35 GFLOPS)
    "vgg19": 19.63e9,  # torchvision docs: vgg19 19.63 GFLOPS
    "densenet121": 2.83e9,  # torchvision docs: densenet121 2.83 GFLOPS
    "inception_v1": 1.43e9,  # Caffe2 GoogLeNet at 224 (its own pools give 6x6 before pool5)
    "inception_v2": 2.02e9,
    "shufflenet": 0.125e9,
    "bvlc_alexnet": 0.655e9,
    "zfnet512": 1.48e9,
}


@pytest.mark.skipif(not LIGHT.is_dir(), reason="this onnx build ships no model-zoo test data")
@pytest.mark.parametrize(("name", "macs"), LIGHT_MACS_224.items())
def test_onnx_model_zoo_exports(name: str, macs: float) -> None:
    net = load_onnx(LIGHT / f"light_{name}.onnx")  # a shape mismatch would warn -> fail
    assert net.at(224, 224).macs == pytest.approx(macs, rel=0.005)
    zoo_name = {"resnet50": "resnet50", "squeezenet": "squeezenet1_1"}.get(name)
    if zoo_name:
        zoo = get_network(zoo_name)
        assert net.at(224, 224).macs == zoo.at(224, 224).macs
        assert net.at(512, 512).macs == zoo.at(512, 512).macs  # 7x7 AveragePool -> global
    if name not in LIGHT_FIXED_CLASSIFIER:
        net.at(320, 480)  # any resolution
        return
    # Caffe's classifiers flatten the last map (no adaptive pool): they fit one size only, and
    # at another the dense layer's weight and the flattened map are named in the error
    with pytest.raises(NetworkError, match=LIGHT_FIXED_CLASSIFIER[name]):
        net.at(320, 480)


#: the error at 320x480 of the classifiers fixed to 224: VGG19 flattens 512 x 7 x 7 = 25088
#: at 224 and 512 x (320/32) x (480/32) = 76800 at 320x480; AlexNet's and ZFNet's weights take
#: 256 x 6 x 6 = 9216 and 512 x 6 x 6 = 18432 features
LIGHT_FIXED_CLASSIFIER = {
    "vgg19": r"takes 25088 input features .* 512x10x15 has 76800 ",
    "bvlc_alexnet": "takes 9216 input features",
    "zfnet512": "takes 18432 input features",
}


# --------------------------------------------------------------------------------------------
# Operator patterns


def one_layer(net: Network, kind: str) -> L.Layer:
    (layer,) = [layer for layer in net.layers if layer.kind == kind]
    return layer


# SAME pads a total of dilation*(k-1) = 2 rows: floor((n + 2 - 3) / 2) + 1 = ceil(n / 2) for
# every n. The split is ONNX's at the model's 224: total (112-1)*2 + 3 - 224 = 1, UPPER puts
# 1 // 2 = 0 rows on top, LOWER 1 - 0 = 1.
@pytest.mark.parametrize(
    ("auto_pad", "padding"),
    [
        ("SAME_UPPER", (0, 0, 2, 2)),
        ("SAME_LOWER", (1, 1, 1, 1)),
        ("VALID", (0, 0, 0, 0)),
    ],
)
def test_auto_pad_gives_the_onnx_size_at_every_resolution(auto_pad: str, padding) -> None:
    g = Graph()
    y = g.conv("input", 3, 8, k=3, stride=2, auto_pad=auto_pad, name="c")
    net = network_from_model(g.model([y]))
    assert net.layers[0].padding == padding
    # SAME: ceil(224/2) = 112, ceil(225/2) = 113; VALID: floor((n-3)/2)+1 = 111, 112
    for n, same, valid in ((224, 112, 111), (225, 113, 112)):
        side = same if auto_pad != "VALID" else valid
        assert net.at(n, n).infos[0].out_shape == L.Shape(8, side, side)


def test_asymmetric_pads_and_dilation() -> None:
    g = Graph()
    y = g.conv("input", 3, 8, k=3, stride=2, pads=[0, 1, 1, 2], dilation=2, name="c")
    conv = network_from_model(g.model([y])).layers[0]
    assert (conv.padding, conv.dilation, conv.stride) == ((0, 1, 1, 2), (2, 2), (2, 2))


def test_ceil_mode_pool_gets_extra_bottom_right_padding() -> None:
    g = Graph(size=(112, 112))
    y = g.node("MaxPool", ["input"], "p", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    net = network_from_model(g.model([y]))
    assert net.layers[0].padding == (0, 0, 1, 1)
    assert net.at(112, 112).infos[0].out_shape == L.Shape(3, 56, 56)  # floor mode: 55


@pytest.mark.parametrize("opset", [10, 17])
def test_pad_is_folded_into_the_next_conv(opset: int) -> None:
    g = Graph(opset=opset)
    pads = [0, 0, 1, 2, 0, 0, 1, 2]
    attrs = {"pads": pads} if opset < 11 else {}
    inputs = ["input"] if opset < 11 else ["input", g.const(pads)]
    x = g.node("Pad", inputs, "pad", mode="constant", **attrs)
    y = g.conv(x, 3, 8, k=3, pads=[1, 1, 1, 1], name="c")
    net = network_from_model(g.model([y]))
    assert [layer.kind for layer in net.layers] == ["conv"]
    assert net.layers[0].padding == (2, 3, 2, 3)


def test_pad_that_cannot_be_folded_is_an_error() -> None:
    g = Graph()
    x = g.conv("input", 3, 8, name="c")
    p = g.node("Pad", [x, g.const([0, 0, 1, 1, 0, 0, 1, 1])], "pad")
    y = g.node("Add", [p, p], "add")
    with pytest.raises(NetworkError, match="cannot fold ONNX Pad at node 'pad' into Add"):
        network_from_model(g.model([y]), file="m.onnx")


@pytest.mark.parametrize("form", ["scales", "sizes", "upsample"])
def test_resize_by_two_is_an_upsample(form: str) -> None:
    g = Graph(opset=9 if form == "upsample" else 17)
    x = g.conv("input", 3, 8, name="c")
    if form == "scales":
        y = g.node("Resize", [x, "", g.const([1, 1, 2, 2], np.float32)], "up", mode="nearest")
    elif form == "sizes":
        y = g.node("Resize", [x, "", "", g.const([1, 8, 448, 448])], "up", mode="linear")
    else:
        y = g.node("Upsample", [x, g.const([1, 1, 2, 2], np.float32)], "up")
    net = network_from_model(g.model([y]))
    assert one_layer(net, "upsample").factor == 2
    assert net.at(100, 60).infos[-1].out_shape == L.Shape(8, 200, 120)


def test_split_and_channel_shuffle_pattern() -> None:
    g = Graph(size=(56, 56))
    x = g.conv("input", 3, 16, name="c")
    a, b = g.node("Split", [x, g.const([8, 8])], "split", outputs=2, axis=1)
    b = g.conv(b, 8, 8, k=1, name="branch")
    y = g.node("Concat", [a, b], "cat", axis=1)
    y = g.shuffle(y, 16, 2, 56, 56, name="shuffle")
    net = network_from_model(g.model([y]))
    assert [layer.kind for layer in net.layers] == [
        "conv",
        "channel_slice",
        "channel_slice",
        "conv",
        "concat",
        "channel_shuffle",
    ]
    assert [(s.start, s.stop) for s in net.layers[1:3]] == [(0, 8), (8, 16)]
    assert one_layer(net, "channel_shuffle").groups == 2
    assert net.at(100, 100).infos[-1].out_shape == L.Shape(16, 100, 100)


def test_dynamic_shape_arithmetic_is_folded_at_the_models_size() -> None:
    """Reshape targets computed from Shape/Gather/Div/Concat (dynamic-axes exports)."""
    g = Graph(size=(28, 28))
    x = g.conv("input", 3, 16, name="c")
    shape = g.node("Shape", [x])
    dims = [g.node("Gather", [shape, g.const(i)], axis=0) for i in range(4)]
    half = g.node("Div", [dims[1], g.const(2)])
    parts = [g.node("Unsqueeze", [d, g.const([0])]) for d in (dims[0], half, dims[2], dims[3])]
    target = g.node("Concat", [parts[0], g.const([2]), *parts[1:]], axis=0)
    y = g.node("Reshape", [x, target])
    y = g.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
    y = g.node("Reshape", [y, g.node("Shape", [x])], "shuffle")
    net = network_from_model(g.model([y]))
    assert [layer.kind for layer in net.layers] == ["conv", "channel_shuffle"]


def test_split_with_num_outputs_opset_18() -> None:
    g = Graph(opset=18)
    x = g.conv("input", 3, 10, name="c")
    a, b = g.node("Split", [x], "split", outputs=2, axis=1, num_outputs=2)
    y = g.node("Concat", [g.conv(a, 5, 4, name="ca"), g.conv(b, 5, 4, name="cb")], axis=1)
    net = network_from_model(g.model([y]))
    assert [(s.start, s.stop) for s in net.layers if s.kind == "channel_slice"] == [(0, 5), (5, 10)]


def test_model_local_functions_are_inlined() -> None:
    g = Graph()
    y = g.node("ConvRelu", ["input", g.param("w", (8, 3, 3, 3))], "block", domain="custom")
    model = g.model([y])
    fn = helper.make_function(
        "custom",
        "ConvRelu",
        ["x", "w"],
        ["y"],
        [
            helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        [helper.make_opsetid("", 17)],
    )
    model.functions.append(fn)
    model.opset_import.append(helper.make_opsetid("custom", 1))
    net = network_from_model(model)
    assert [layer.kind for layer in net.layers] == ["conv"]
    assert net.at(32, 32).macs == 8 * 27 * 32 * 32


def test_gather_of_input_channels_inception_v3_transform() -> None:
    """torchvision inception_v3(transform_input=True): x[:, k] rescaled, then re-stacked."""
    g = Graph(size=(299, 299))
    chans = []
    for k in range(3):
        c = g.node("Gather", ["input", g.const(k)], f"pick{k}", axis=1)
        c = g.node("Unsqueeze", [c, g.const([1])])
        chans.append(
            g.node("Add", [g.node("Mul", [c, g.const(0.5, np.float32)]), g.const(0.1, np.float32)])
        )
    x = g.node("Concat", chans, "stack", axis=1)
    net = network_from_model(g.model([g.conv(x, 3, 32, stride=2, pads=[0] * 4, name="c")]))
    assert [layer.kind for layer in net.layers] == ["channel_slice"] * 3 + ["concat", "conv"]
    assert net.at(299, 299).infos[-1].out_shape == L.Shape(32, 149, 149)


def test_slice_on_channels() -> None:
    g = Graph()
    x = g.conv("input", 3, 16, name="c")
    y = g.node("Slice", [x, g.const([4]), g.const([2**62]), g.const([1])], "s")
    s = one_layer(network_from_model(g.model([y])), "channel_slice")
    assert (s.start, s.stop) == (4, 16)


def test_squeeze_excitation_gate_is_a_scale_and_its_convs_follow_a_global_pool() -> None:
    g = Graph(size=(56, 56))
    x = g.conv("input", 3, 32, name="c")
    s = g.node("GlobalAveragePool", [x], "se.pool")
    s = g.conv(s, 32, 8, k=1, pads=[0] * 4, name="se.fc1", bn=False)
    s = g.conv(s, 8, 32, k=1, pads=[0] * 4, name="se.fc2", bn=False, act="HardSigmoid")
    y = g.node("Mul", [x, s], "se.mul")
    y = g.conv(y, 32, 16, k=1, pads=[0] * 4, name="next")
    net = network_from_model(g.model([y]))
    names = ["c", "se.pool", "se.fc1", "se.fc2", "se.mul", "next"]
    assert [layer.name for layer in net.layers] == names
    # the gate multiplies the map channel by channel: a scale of (gate, map), no MACs
    assert (net.layers[4].kind, net.layers[4].inputs) == ("scale", ("se.fc2", "c"))
    assert net.layers[-1].inputs == ("se.mul",)
    assert net.layers[2].inputs == ("se.pool",)
    assert net.at(56, 56).infos[3].macs == 8 * 32
    assert net.at(56, 56).infos[4].macs == 0


def test_swish_and_hardswish_decompositions_are_pass_through() -> None:
    g = Graph()
    x = g.conv("input", 3, 8, name="c", act=None)
    y = g.node("Mul", [x, g.node("Sigmoid", [x])])  # SiLU
    z = g.node(
        "Div",
        [g.node("Clip", [g.node("Add", [y, g.const(3.0, np.float32)])]), g.const(6.0, np.float32)],
    )
    y = g.node("Mul", [y, z])  # HardSwish
    net = network_from_model(g.model([g.conv(y, 8, 8, name="d")]))
    assert [layer.kind for layer in net.layers] == ["conv", "conv"]


@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean_over_hw_is_a_global_pool(opset: int) -> None:
    g = Graph(opset=opset)
    x = g.conv("input", 3, 64, name="c")
    axes = {"axes": [2, 3]} if opset < 18 else {}
    inputs = [x] if opset < 18 else [x, g.const([2, 3])]
    y = g.node("ReduceMean", inputs, "mean", keepdims=0, **axes)
    y = g.gemm(y, 64, 10, "fc")
    net = network_from_model(g.model([y]))
    assert [layer.kind for layer in net.layers] == ["conv", "global_pool", "dense"]
    assert net.at(300, 300).infos[-1].macs == 640


def test_matmul_with_bias_and_reshape_flatten_is_a_dense() -> None:
    g = Graph(size=(7, 7))
    x = g.conv("input", 3, 4, name="c")
    flat = g.node("Reshape", [x, g.const([1, -1])])
    w = g.param("fc.weight", (196, 10))
    y = g.node("Add", [g.node("MatMul", [flat, w], "fc"), g.param("fc.bias", (10,))])
    net = network_from_model(g.model([g.node("Softmax", [y], axis=1)]))
    dense = one_layer(net, "dense")
    assert (dense.name, dense.out_features) == ("fc", 10)
    assert net.at(7, 7).infos[-1].macs == 4 * 7 * 7 * 10
    # the weight takes 4 x 7 x 7 = 196 features; at 14x14 the flatten gives 4 x 14 x 14 = 784,
    # which no adaptive pool explains (PyTorch's Linear would refuse it too)
    with pytest.raises(NetworkError, match=r"takes 196 input features .* 4x14x14 has 784 "):
        net.at(14, 14)


def test_symbolic_input_size_defaults_to_224() -> None:
    g = Graph(size=("height", "width"))
    y = g.conv("input", 3, 8, k=3, stride=2, auto_pad="SAME_UPPER", name="c")
    net = network_from_model(g.model([y]))
    assert net.layers[0].padding == (0, 0, 2, 2)  # split as at 224 (see the auto_pad test)
    assert net.native_input is None  # a symbolic size is no size of its own
    assert net.at(64, 64).infos[0].out_shape == L.Shape(8, 32, 32)
    assert net.at(65, 65).infos[0].out_shape == L.Shape(8, 33, 33)  # ceil(65 / 2)


# --------------------------------------------------------------------------------------------
# Unsupported operators and bad files


def einsum_model() -> onnx.ModelProto:
    g = Graph()
    x = g.conv("input", 3, 8, name="c")
    y = g.node("Einsum", [x], "einsum_3", equation="nchw->nchw")
    y = g.node("Einsum", [y], "einsum_4", equation="nchw->nchw")
    return g.model([g.conv(y, 8, 8, name="d")])


def test_unsupported_operator_names_operator_node_and_file(tmp_path: Path) -> None:
    path = save(einsum_model(), tmp_path)
    with pytest.raises(NetworkError) as err:
        load_onnx(path)
    message = str(err.value)
    assert "unsupported ONNX operator 'Einsum' at node 'einsum_3'" in message
    assert str(path) in message and "allow_unsupported: true" in message
    assert err.value.key == "node 'einsum_3' (Einsum)"


def test_allow_unsupported_skips_shape_keeping_nodes_with_a_warning_each(tmp_path: Path) -> None:
    path = save(einsum_model(), tmp_path)
    with pytest.warns(OnnxImportWarning) as record:
        net = load_onnx(path, allow_unsupported=True)
    assert [str(r.message) for r in record] == [
        f"{path}: node 'einsum_3' (Einsum): treated as zero-cost",
        f"{path}: node 'einsum_4' (Einsum): treated as zero-cost",
    ]
    assert [layer.name for layer in net.layers] == ["c", "d"]
    assert net.layers[1].inputs == ("c",)


def test_missing_file_and_non_onnx_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(InputError, match="not found") as err:
        load_onnx(missing)
    assert str(missing) in str(err.value)
    text = tmp_path / "text.onnx"
    text.write_text("name: not a model\nlayers: []\n")
    with pytest.raises(InputError, match="not a valid ONNX model") as err:
        load_onnx(text)
    assert str(text) in str(err.value)


def test_missing_onnx_package_is_an_input_error(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")  # any file: onnx is asked for next
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(InputError, match=r"hyperdrive_sim\[onnx\]"):
        load_onnx(tmp_path / "model.onnx")


def test_a_missing_model_file_is_file_not_found_even_without_onnx(monkeypatch, tmp_path):
    """`network missing.onnx` says the file is missing, not that the onnx extra is needed
    (issue 21): the file is checked before the package is imported."""
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(InputError, match="file not found"):
        load_onnx(tmp_path / "missing.onnx")


# --------------------------------------------------------------------------------------------
# End to end


def test_simulate_an_onnx_network(tmp_path: Path) -> None:
    path = save(export_zoo(get_network("resnet18"), params_as_inputs=True), tmp_path)
    result = simulate(NetworkRef(onnx=str(path)), "224x224", *PRESETS, mesh="2x2")
    reference = simulate("resnet18", "224x224", *PRESETS, mesh="2x2")
    assert result.fits
    # the same layers as the zoo's: the same simulated frame, to the last counter
    assert {k: v for k, v in result.row.items() if k != "network"} == {
        k: v for k, v in reference.row.items() if k != "network"
    }


def test_simulate_a_squeeze_excitation_network(tmp_path: Path) -> None:
    g = Graph()
    x = g.conv("input", 3, 32, stride=2, name="c")
    s = g.node("GlobalAveragePool", [x], "se.pool")
    s = g.conv(s, 32, 8, k=1, pads=[0] * 4, name="se.fc1", bn=False)
    s = g.conv(s, 8, 32, k=1, pads=[0] * 4, name="se.fc2", bn=False, act="Sigmoid")
    y = g.conv(g.node("Mul", [x, s], "se.mul"), 32, 64, name="next")
    path = save(g.model([y]), tmp_path)
    assert simulate(NetworkRef(onnx=str(path)), "224x224", *PRESETS, mesh="2x2").fits


def test_cli_network_prints_the_layer_table(tmp_path: Path, capsys) -> None:
    path = save(export_zoo(get_network("resnet18"), params_as_inputs=True), tmp_path)
    assert cli.main(["network", str(path), "--input", "512x512"]) == 0
    out = capsys.readouterr().out
    assert "9.475 GMAC" in out and "layer4.1.conv2" in out
    unsupported = save(einsum_model(), tmp_path, "einsum.onnx")
    assert cli.main(["network", str(unsupported)]) == 2
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # shown by the CLI, not raised as this module does
        assert cli.main(["network", str(unsupported), "--allow-unsupported"]) == 0
    # one line per skipped node, without the importer's source path and line
    assert capsys.readouterr().err.splitlines() == [
        f"hyperdrive-sim: warning: {unsupported}: node 'einsum_3' (Einsum): treated as zero-cost",
        f"hyperdrive-sim: warning: {unsupported}: node 'einsum_4' (Einsum): treated as zero-cost",
    ]


def test_torchvision_export_if_torch_is_installed(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    path = tmp_path / "resnet18.onnx"
    torch.onnx.export(torchvision.models.resnet18(), torch.zeros(1, 3, 224, 224), path)
    assert load_onnx(path).at(224, 224).macs == get_network("resnet18").at(224, 224).macs


# --------------------------------------------------------------------------------------------
# Shapes away from the export size, the model's own size, channels-last blocks


def test_ceil_mode_pool_is_re_inferred_at_another_size(tmp_path: Path) -> None:
    """SqueezeNet 1.1 exported at 224, run at 225. By hand: conv1 (3x3, stride 2, no pad)
    gives floor((225-3)/2)+1 = 112, pool1 (3x3, stride 2, ceil) ceil((112-3)/2)+1 = 56 (floor
    mode would give 55). The zoo's squeezenet1_1 (pads written out) is the second method."""
    zoo = get_network("squeezenet1_1")
    net = load_onnx(save(export_zoo(zoo, ceil_pools=True), tmp_path))
    pool1 = net.at(225, 225).infos[1]
    assert (pool1.layer.kind, pool1.out_shape) == ("pool", L.Shape(64, 56, 56))
    assert net.at(225, 225).macs == zoo.at(225, 225).macs
    assert signature(net, 225) == signature(zoo, 225)


def test_googlenet_stem_ceil_pool_at_320x240() -> None:
    """torchvision GoogLeNet's stem, exported at 224: conv1 7x7/2 pad 3, maxpool1 3x3/2 ceil.
    At 320x240 by hand: conv1 floor((240+6-7)/2)+1 = 120 rows, floor((320+6-7)/2)+1 = 160
    columns; maxpool1 ceil((120-3)/2)+1 = 60, ceil((160-3)/2)+1 = 80 (floor mode: 59x79)."""
    g = Graph()
    x = g.conv("input", 3, 64, k=7, stride=2, pads=[3] * 4, name="conv1")
    y = g.node("MaxPool", [x], "maxpool1", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    pool = network_from_model(g.model([y])).at(240, 320).infos[1]
    assert pool.out_shape == L.Shape(64, 60, 80)


def test_ceil_mode_whose_rule_depends_on_the_size_is_refused() -> None:
    # kernel 2, stride 2, end pad 1: 1 + 2 > 2, so whether the last window is dropped depends
    # on the input size; there is no size-free padding for it
    g = Graph(size=(8, 8))
    y = g.node("MaxPool", ["input"], "p", kernel_shape=[2, 2], strides=[2, 2], pads=[1] * 4)
    g.nodes[-1].attribute.append(helper.make_attribute("ceil_mode", 1))
    with pytest.raises(NetworkError, match="ceil_mode with end padding 1") as err:
        network_from_model(g.model([y]))
    assert err.value.key == "node 'p' (MaxPool)"


def test_fixed_input_size_is_the_native_input_and_the_cli_default(tmp_path: Path, capsys) -> None:
    g = Graph(size=(60, 100))  # (H, W)
    path = save(g.model([g.conv("input", 3, 8, name="c")]), tmp_path)
    assert load_onnx(path).native_input == (60, 100)
    assert cli.main(["network", str(path)]) == 0
    # 3x3 conv, pad 1: 8 * 27 * 60 * 100 MACs = 1.296 MMAC (at 224x224 it would be 10.84)
    assert "model at 100x60 (WIDTHxHEIGHT): 0.001 GMAC" in capsys.readouterr().out
    assert cli.main(["network", str(path), "--input", "224x224"]) == 0
    assert "at 224x224" in capsys.readouterr().out
    assert cli.main(["network", "resnet18"]) == 0  # zoo networks: 224x224
    assert "resnet18 at 224x224" in capsys.readouterr().out


def convnext_block(layernorm: str) -> onnx.ModelProto:
    """A ConvNeXt stage-1 block as torch.onnx writes it: stem 4x4/4 conv 3->96, depthwise 7x7,
    permute to NHWC, LayerNorm, Linear 96->384 (MatMul + Add), exact GELU through Erf,
    Linear 384->96, layer scale, permute back, residual Add. ``layernorm`` is the fused op,
    its decomposition on the NHWC tensor (older opsets), or ConvNeXt's channels-first
    LayerNorm2d decomposed on the NCHW map before the permute."""
    g = Graph(size=(56, 56), opset=17)
    f32 = np.float32

    def decomposed(x, axis):
        mean = g.node("ReduceMean", [x], axes=[axis], keepdims=1)
        d = g.node("Sub", [x, mean])
        var = g.node("ReduceMean", [g.node("Pow", [d, g.const(2.0, f32)])], axes=[axis])
        std = g.node("Sqrt", [g.node("Add", [var, g.const(1e-6, f32)])])
        y = g.node("Div", [d, std])
        shape = (96,) if axis == -1 else (96, 1, 1)  # LayerNorm2d: weight[:, None, None]
        y = g.node("Mul", [y, g.param("ln.w", shape)])
        return g.node("Add", [y, g.param("ln.b", shape)])

    stem = g.conv("input", 3, 96, k=4, stride=4, pads=[0] * 4, name="stem", bn=False, act=None)
    x = g.conv(stem, 96, 96, k=7, groups=96, name="dwconv", bn=False, act=None)
    if layernorm == "nchw":
        x = decomposed(x, 1)
    x = g.node("Transpose", [x], perm=[0, 2, 3, 1])
    if layernorm == "fused":
        ln = [x, g.param("ln.w", (96,)), g.param("ln.b", (96,))]
        x = g.node("LayerNormalization", ln, "norm", axis=-1, epsilon=1e-6)
    elif layernorm == "nhwc":
        x = decomposed(x, -1)
    x = g.node(
        "Add", [g.node("MatMul", [x, g.param("w1", (96, 384))], "pwconv1"), g.param("b1", (384,))]
    )
    erf = g.node("Erf", [g.node("Div", [x, g.const(1.4142135, f32)])])
    x = g.node(
        "Mul", [g.node("Mul", [x, g.node("Add", [erf, g.const(1.0, f32)])]), g.const(0.5, f32)]
    )
    x = g.node(
        "Add", [g.node("MatMul", [x, g.param("w2", (384, 96))], "pwconv2"), g.param("b2", (96,))]
    )
    x = g.node("Mul", [x, g.param("gamma", (96,))])
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    return g.model([g.node("Add", [stem, x], "residual")])


@pytest.mark.parametrize("layernorm", ["fused", "nhwc", "nchw"])
def test_convnext_block_channels_last_mlp_is_pointwise_convs(layernorm: str) -> None:
    net = network_from_model(convnext_block(layernorm))
    assert [(layer.name, layer.kind) for layer in net.layers] == [
        ("stem", "conv"),
        ("dwconv", "conv"),
        ("pwconv1", "conv"),
        ("pwconv2", "conv"),
        ("residual", "add"),
    ]
    # by hand at 56x56 (14x14 after the stem): stem 14*14*96*3*4*4, depthwise 14*14*96*7*7,
    # the MLP 14*14*96*384 twice; LayerNorm, GELU, biases and the permutes cost nothing
    pixels = 14 * 14
    assert [i.macs for i in net.at(56, 56).infos] == [
        pixels * 96 * 48,
        pixels * 96 * 49,
        pixels * 96 * 384,
        pixels * 384 * 96,
        0,
    ]
    assert net.at(112, 112).macs == 4 * net.at(56, 56).macs  # 28x28 after the stem


def test_allow_unsupported_refuses_a_shape_changing_node() -> None:
    g = Graph(size=(16, 16))
    x = g.conv("input", 3, 8, name="c")
    w = g.param("up.weight", (8, 8, 2, 2))
    y = g.node("ConvTranspose", [x, w], "up", kernel_shape=[2, 2], strides=[2, 2])
    with pytest.raises(
        NetworkError, match=r"turns shape \(1, 8, 16, 16\) into shape \(1, 8, 32, 32\)"
    ) as err:
        network_from_model(g.model([g.conv(y, 8, 8, name="d")]), allow_unsupported=True)
    assert err.value.key == "node 'up' (ConvTranspose)"
