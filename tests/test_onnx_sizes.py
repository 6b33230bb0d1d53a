"""Shapes that depend on the input size are re-derived at every resolution.

The graphs follow what torch.onnx writes for torchvision models (node patterns as in
tests/test_onnx_import.py): an AdaptiveAvgPool2d frozen as a fixed AveragePool before the
classifier (VGG), ``F.interpolate(x, size=y.shape[-2:])`` as Shape -> Slice -> Concat ->
Resize(sizes) (LRASPP, DeepLabV3), the dynamo export's Reshape (1, C, 1, 1) -> (C,) and
Gather after a global pool (ConvNeXt), and DeepLabV3's ASPP pooling branch, a tensor reduced
to 1x1 on one chip and broadcast back onto the tiled maps. Every case is checked at three
input sizes against MACs worked out by hand from the model's definition.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto  # noqa: E402
from test_des_properties import EXACT, HUGE_GBPS, hardware  # noqa: E402
from test_onnx_import import Graph, one_layer  # noqa: E402

from hyperdrive_sim.errors import NetworkError  # noqa: E402
from hyperdrive_sim.evaluators import analytic, des  # noqa: E402
from hyperdrive_sim.planner import build_plan  # noqa: E402
from hyperdrive_sim.verify.run import verify  # noqa: E402
from hyperdrive_sim.workload import layers as L  # noqa: E402
from hyperdrive_sim.workload.builder import NetBuilder  # noqa: E402
from hyperdrive_sim.workload.onnx_import import network_from_model  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::UserWarning")

SIZES = [(224, 224), (240, 320), (512, 512)]  # (height, width)


def conv_macs(cout: int, cin: int, k: int, h: int, w: int) -> int:
    return cout * cin * k * k * h * w


# --------------------------------------------------------------------------------------------
# 1. adaptive pooling frozen at the export size


VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def vgg11_bn(export: int = 224, frozen_kernel: int = 1, fc_in: int = 25088) -> onnx.ModelProto:
    """torchvision vgg11_bn as torch.onnx writes it at ``export`` x ``export``: the
    AdaptiveAvgPool2d((7, 7)) becomes AveragePool(kernel = stride = map / 7). Weights are
    graph inputs (shapes only)."""
    g = Graph(size=(export, export), params_as_inputs=True)
    x, cin = "input", 3
    for i, v in enumerate(VGG11):
        if v == "M":
            x = g.node("MaxPool", [x], f"features.{i}", kernel_shape=[2, 2], strides=[2, 2])
        else:
            x, cin = g.conv(x, cin, v, name=f"features.{i}"), v
    k = [frozen_kernel] * 2
    x = g.node("AveragePool", [x], "avgpool", kernel_shape=k, strides=k, pads=[0] * 4)
    x = g.node("Flatten", [x], axis=1)
    x = g.node("Relu", [g.gemm(x, fc_in, 4096, "classifier.0")])
    x = g.node("Relu", [g.gemm(x, 4096, 4096, "classifier.3")])
    return g.model([g.gemm(x, 4096, 1000, "classifier.6")])


def vgg11_feature_macs(h: int, w: int) -> int:
    """The convolutions of VGG11 (3x3, pad 1; 2x2 max pools halve with floor)."""
    total, cin = 0, 3
    for v in VGG11:
        if v == "M":
            h, w = h // 2, w // 2
        else:
            total, cin = total + conv_macs(v, cin, 3, h, w), v
    return total


@pytest.mark.parametrize(("export", "kernel"), [(224, 1), (448, 2)])
@pytest.mark.parametrize(("h", "w"), SIZES)
def test_vgg11_frozen_adaptive_pool_keeps_the_classifier(export, kernel, h, w) -> None:
    net = network_from_model(vgg11_bn(export, kernel))
    pool = one_layer(net, "adaptive_pool")
    assert (pool.name, pool.output, pool.mode) == ("avgpool", (7, 7), "avg")
    shaped = net.at(h, w)
    fc = {i.layer.name: i for i in shaped.infos}
    # torchvision: Linear(512 * 7 * 7, 4096) after AdaptiveAvgPool2d((7, 7)), at every size:
    # 25088 x 4096 = 102,760,448 MACs (before: at 240x320 the map is 7x10 and the frozen 1x1
    # pool gave 35840 x 4096 = 146,800,640)
    assert fc["classifier.0"].macs == fc["classifier.0"].weights == 102_760_448
    assert fc["avgpool"].out_shape == L.Shape(512, 7, 7)
    classifier = 102_760_448 + 4096 * 4096 + 4096 * 1000  # = 123,633,664
    assert shaped.macs == vgg11_feature_macs(h, w) + classifier


def test_adaptive_pool_windows_follow_pytorch() -> None:
    """AdaptiveAvgPool2d((7, 7)) on a 7x10 map (VGG11 at 240x320): rows 1:1, columns i pool
    floor(10i/7) .. ceil(10(i+1)/7) - 1 (PyTorch's rule): [0,2) [1,3) [2,5) [4,6) [5,8) [7,9)
    [8,10), widths 2,2,3,2,3,2,2."""
    pool = L.AdaptivePool("p", ("input",), output=(7, 7))
    start, stop = L.adaptive_bounds(np.arange(7), np.arange(7) + 1, 10, 7)
    assert (stop - start).tolist() == [2, 2, 3, 2, 3, 2, 2]  # overlapping windows
    assert pool.window(L.Shape(1, 7, 10)) == (1, 3)
    assert pool.input_cols(3, 5, 10) == (4, 8)


def test_frozen_max_pool_is_not_an_adaptive_pool_and_the_mismatch_names_both() -> None:
    """A Caffe-style classifier (a 2x2 max pool, then the flatten) fits one size only."""
    g = Graph(size=(14, 14))
    x = g.conv("input", 3, 8, name="c")
    x = g.node("MaxPool", [x], "pool5", kernel_shape=[2, 2], strides=[2, 2])
    y = g.gemm(g.node("Flatten", [x], axis=1), 8 * 7 * 7, 10, "fc")
    net = network_from_model(g.model([y]))
    assert one_layer(net, "pool").kernel == (2, 2)
    assert net.at(14, 14).infos[-1].macs == 392 * 10
    with pytest.raises(NetworkError, match=r"'fc'.* takes 392 input features .* 8x8x8 has 512 "):
        net.at(16, 16)


def test_gemm_weight_that_does_not_fit_the_flatten_names_both() -> None:
    with pytest.raises(NetworkError, match=r"takes 25000 input features.* 512x7x7 has 25088"):
        network_from_model(vgg11_bn(fc_in=25000))


def test_adaptive_pool_costs_the_frozen_pool_at_the_export_size_and_runs_on_the_mesh() -> None:
    """At a size the output divides, the adaptive pool is the frozen pool (same counts);
    at others ``verify`` computes its uneven windows tile by tile exactly."""

    def net(adaptive: bool):
        b = NetBuilder("p", input_channels=4)
        x = b.conv(8, 3, pad=1)
        if adaptive:
            b._add(L.AdaptivePool("pool", (x,), output=(6, 6)))
        else:
            b.pool(2, 2, mode="avg", name="pool")
        b.dense(5)
        return b.build()

    hw = hardware("2x2")
    frozen = analytic.evaluate(build_plan(net(False).at(12, 12), hw))
    thawed = analytic.evaluate(build_plan(net(True).at(12, 12), hw))
    for name in EXACT:
        assert np.array_equal(getattr(frozen, name), getattr(thawed, name)), name
    for size in ("12x12", "13x17", "20x15"):
        report = verify(net(True), size, mesh="2x2")
        assert report.ok, report.table()


# --------------------------------------------------------------------------------------------
# 2. Resize to another tensor's size (LRASPP)


def lraspp(size=("height", "width"), form: str = "slice") -> onnx.ModelProto:
    """A small LRASPP (torchvision's head on a stride-8 and a stride-16 map): the head's
    output is resized to the stride-8 map's size, the sum to the image's size, both with
    ``F.interpolate(size=t.shape[-2:])``: the height and width sliced from a Shape, picked
    one by one with Gather, or (opset 15+) a Shape with start=2. Dynamic height and width,
    as exports for segmentation are written."""
    g = Graph(size=size)
    x = g.conv("input", 3, 16, k=3, stride=2, name="stem")
    x = g.conv(x, 16, 24, k=3, stride=2, name="s4")
    low = g.conv(x, 24, 40, k=3, stride=2, name="s8")
    high = g.conv(low, 40, 80, k=3, stride=2, name="s16")
    cbr = g.conv(high, 80, 128, k=1, name="head.cbr")
    s = g.node("GlobalAveragePool", [high], "head.scale.pool")
    s = g.conv(s, 80, 128, k=1, name="head.scale.conv", bn=False, act="Sigmoid")
    x = g.node("Mul", [cbr, s], "head.mul")

    def size_of(t: str, like: str) -> str:
        own = g.node("Slice", [g.node("Shape", [t]), g.const([0]), g.const([2])])
        if form == "gather":  # dims picked one by one, as dynamic-axes exports do
            shape = g.node("Shape", [like])
            dims = [g.node("Gather", [shape, g.const(i)], axis=0) for i in (2, 3)]
            hw = g.node("Concat", [g.node("Unsqueeze", [d, g.const([0])]) for d in dims], axis=0)
        elif form == "shape_start":
            hw = g.node("Cast", [g.node("Shape", [like], start=2)], to=TensorProto.INT64)
        else:
            hw = g.node("Slice", [g.node("Shape", [like]), g.const([2]), g.const([4])])
        return g.node("Concat", [own, hw], axis=0)

    x = g.node("Resize", [x, "", "", size_of(x, low)], "head.up", mode="linear")
    y = g.node(
        "Add",
        [g.conv(low, 40, 21, k=1, name="low", bn=False, act=None),
         g.conv(x, 128, 21, k=1, name="high", bn=False, act=None)],
        "head.add",
    )  # fmt: skip
    out = g.node("Resize", [y, "", "", size_of(y, "input")], "out", mode="linear")
    return g.model([out])


def lraspp_macs(h: int, w: int) -> int:
    """3x3 stride-2 convs with pad 1 give ceil(n / 2) per side."""
    up = lambda n: -(-n // 2)  # noqa: E731
    h2, w2 = up(h), up(w)
    h4, w4 = up(h2), up(w2)
    h8, w8 = up(h4), up(w4)
    h16, w16 = up(h8), up(w8)
    return (
        conv_macs(16, 3, 3, h2, w2)
        + conv_macs(24, 16, 3, h4, w4)
        + conv_macs(40, 24, 3, h8, w8)
        + conv_macs(80, 40, 3, h16, w16)
        + conv_macs(128, 80, 1, h16, w16)
        + 128 * 80  # the scale branch's 1x1 conv on the pooled vector
        + conv_macs(21, 40, 1, h8, w8)
        + conv_macs(21, 128, 1, h8, w8)  # on the head output resized to the stride-8 map
    )


@pytest.mark.parametrize("form", ["slice", "gather", "shape_start"])
@pytest.mark.parametrize(("h", "w"), [(520, 520), (240, 320), (512, 512)])
def test_lraspp_resize_to_another_maps_size_at_every_resolution(form, h, w) -> None:
    """At 520x520 the stride-16 map is 33x33 and the stride-8 map 65x65: not one integer
    factor (before: refused with 'inputs have different spatial sizes ... 21x65x65 ...
    21x66x66', the factor 2 taken at 224)."""
    net = network_from_model(lraspp(form=form))
    ups = [layer for layer in net.layers if layer.kind == "upsample"]
    assert [(u.name, u.size_of) for u in ups] == [("head.up", "s8"), ("out", "input")]
    shaped = net.at(h, w)
    assert shaped.infos[-1].out_shape == L.Shape(21, h, w)
    s8 = shaped.shape_of("s8")
    assert shaped.shape_of("head.up") == L.Shape(128, s8.height, s8.width)
    assert shaped.macs == lraspp_macs(h, w)


def test_static_export_sizes_are_the_image_or_the_latest_map_of_that_size() -> None:
    """An export at a fixed 520x520 writes the sizes as numbers: (65, 65) is no integer
    multiple of 33, so it is the latest 65x65 map; (520, 520) is the image's size."""
    g = Graph(size=(520, 520))
    low = g.conv("input", 3, 8, k=3, stride=8, pads=[1] * 4, name="s8")  # 65x65
    high = g.conv(low, 8, 8, k=3, stride=2, name="s16")  # 33x33
    x = g.node("Resize", [high, "", "", g.const([1, 8, 65, 65])], "up", mode="linear")
    y = g.node("Add", [low, x], "add")
    p = g.node("GlobalAveragePool", [y], "pool")  # a 1x1 map stretched to 65x65, not x65
    p = g.node("Resize", [p, "", "", g.const([1, 8, 65, 65])], "pool.up", mode="linear")
    y = g.node("Concat", [y, p], "cat", axis=1)
    out = g.node("Resize", [y, "", "", g.const([1, 16, 520, 520])], "out", mode="linear")
    net = network_from_model(g.model([out]))
    sizes = [layer.size_of for layer in net.layers if layer.kind == "upsample"]
    assert sizes == ["s8", "add", "input"]
    assert net.at(240, 320).infos[-1].out_shape == L.Shape(16, 240, 320)


# --------------------------------------------------------------------------------------------
# 3. Reshape / Gather / Squeeze around global pools (ConvNeXt, dynamo export)


@pytest.mark.parametrize("form", ["reshape", "gather", "squeeze"])
@pytest.mark.parametrize(("h", "w"), SIZES)
def test_convnext_dynamo_head_after_the_global_pool(form: str, h: int, w: int) -> None:
    """ConvNeXt's head: mean over H and W (keepdims), LayerNorm2d (channels last), then the
    dynamo export's Reshape (1, 768, 1, 1) -> (768,) (or (1, 768) and Gather of image 0, or
    Squeeze) and a MatMul with the (768, 1000) weight: 768 x 1000 = 768,000 MACs at every
    size (before: refused, 'reshapes (1, 768, 1, 1) to (768,)')."""
    g = Graph()
    x = g.conv("input", 3, 768, k=4, stride=4, pads=[0] * 4, name="stem", bn=False, act=None)
    x = g.node("ReduceMean", [x], "avgpool", axes=[2, 3], keepdims=1)
    x = g.node("Transpose", [x], perm=[0, 2, 3, 1])
    x = g.node("LayerNormalization", [x, g.param("ln.w", (768,)), g.param("ln.b", (768,))])
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    if form == "reshape":
        x = g.node("Reshape", [x, g.const([768])])
    elif form == "gather":
        x = g.node("Reshape", [x, g.const([1, 768])])
        x = g.node("Gather", [x, g.const(0)], axis=0)
    else:
        x = g.node("Squeeze", [x, g.const([0, 2, 3])])
    y = g.node("MatMul", [x, g.param("fc.weight", (768, 1000))], "fc")
    y = g.node("Add", [y, g.param("fc.bias", (1000,))])
    net = network_from_model(g.model([y]))
    assert [layer.kind for layer in net.layers] == ["conv", "global_pool", "dense"]
    shaped = net.at(h, w)
    assert shaped.infos[-1].macs == 768_000
    assert shaped.macs == conv_macs(768, 3, 4, h // 4, w // 4) + 768_000


# --------------------------------------------------------------------------------------------
# 4. A reduced tensor broadcast back onto the tiled map (DeepLabV3's ASPP)


def deeplab_aspp(c: int = 32, rate: int = 12, size=("height", "width")) -> onnx.ModelProto:
    """torchvision's DeepLabHead on a stride-8 map: ASPP branches (1x1, 3x3 dilated 12,
    and the pooling branch: AdaptiveAvgPool2d(1), 1x1 conv, F.interpolate back to the map's
    size), concatenated, projected, a 3x3 conv and the 1x1 classifier, then resized to the
    image. ``c`` channels stand for torchvision's 256, and ``rate`` for its first rate."""
    g = Graph(size=size)
    x = g.conv("input", 3, 16, k=3, stride=2, name="b1")
    x = g.conv(x, 16, 24, k=3, stride=2, name="b2")
    x = g.conv(x, 24, 2 * c, k=3, stride=2, name="b3")
    a0 = g.conv(x, 2 * c, c, k=1, name="aspp.0")
    a1 = g.conv(x, 2 * c, c, k=3, dilation=rate, name="aspp.1")
    p = g.node("GlobalAveragePool", [x], "aspp.pool")
    p = g.conv(p, 2 * c, c, k=1, name="aspp.pool.conv")

    def size_of(t: str, like: str) -> str:
        own = g.node("Slice", [g.node("Shape", [t]), g.const([0]), g.const([2])])
        hw = g.node("Slice", [g.node("Shape", [like]), g.const([2]), g.const([4])])
        return g.node("Concat", [own, hw], axis=0)

    p = g.node("Resize", [p, "", "", size_of(p, x)], "aspp.pool.up", mode="linear")
    y = g.node("Concat", [a0, a1, p], "aspp.cat", axis=1)
    y = g.conv(y, 3 * c, c, k=1, name="aspp.project")
    y = g.conv(y, c, c, k=3, name="head.conv")
    y = g.conv(y, c, 21, k=1, name="head.cls", bn=False, act=None)
    return g.model([g.node("Resize", [y, "", "", size_of(y, "input")], "out", mode="linear")])


def deeplab_macs(h: int, w: int, c: int = 32) -> int:
    up = lambda n: -(-n // 2)  # noqa: E731
    h2, w2 = up(h), up(w)
    h4, w4 = up(h2), up(w2)
    h8, w8 = up(h4), up(w4)
    return (
        conv_macs(16, 3, 3, h2, w2)
        + conv_macs(24, 16, 3, h4, w4)
        + conv_macs(2 * c, 24, 3, h8, w8)
        + conv_macs(c, 2 * c, 1, h8, w8)
        + conv_macs(c, 2 * c, 3, h8, w8)  # dilation changes the reach, not the MACs
        + c * 2 * c  # the pooling branch's 1x1 conv on the pooled vector
        + conv_macs(c, 3 * c, 1, h8, w8)
        + conv_macs(c, c, 3, h8, w8)
        + conv_macs(21, c, 1, h8, w8)
    )


CONTENTION_FREE = {
    "system": {
        "offchip_bandwidth_gbps": HUGE_GBPS,
        "link_bandwidth_gbps": HUGE_GBPS,
        "offchip_latency_ns": 0,
        "link_latency_ns": 0,
    },
    "chip": {"weight_buffer_blocks": 64, "fmm_bits": 256_000_000},  # room for 520x520 maps
}


@pytest.mark.parametrize(("h", "w"), [(520, 520), (240, 320), (512, 512)])
def test_deeplab_aspp_pooling_branch_is_broadcast_and_counted(h: int, w: int) -> None:
    """The pooled vector (32 values of 16 bits) is multicast from chip (0,0) over a 2x2 mesh:
    along row 0 to (0,1), down column 0 to (1,0) and down column 1 to (1,1), three link hops:
    3 x 32 x 16 = 1536 link bits (before: refused, 'mixes a tensor reduced onto one chip
    with tiled maps'). Both evaluators count it, and every other count, identically."""
    net = network_from_model(deeplab_aspp())
    shaped = net.at(h, w)
    assert shaped.macs == deeplab_macs(h, w)
    plan = build_plan(shaped, hardware("2x2", **CONTENTION_FREE))
    assert plan.fits, plan.reason
    up = next(lp for lp in plan.layers if lp.name == "aspp.pool.up")
    assert up.placement == "tiled" and up.gather.link_bits == 3 * 32 * 16
    a, s = analytic.evaluate(plan), des.evaluate(plan)
    for name in EXACT:
        assert np.array_equal(getattr(a, name), getattr(s, name)), name
    assert int(a.c2c_gather_bits.sum()) == 1536
    assert abs(s.total_cycles - a.total_cycles) <= 0.005 * a.total_cycles


@pytest.mark.parametrize(("size", "mesh"), [("40x32", "2x2"), ("49x64", "3x2"), ("72x48", "2x3")])
def test_deeplab_aspp_broadcast_is_verified_numerically(size: str, mesh: str) -> None:
    """``verify`` carries the pooled vector along the plan's legs and every chip computes
    its own tile of the stretched map: exact, and the link bits are the plan's. (Rate 2:
    with rate 12 a 3x3 dilated conv on a map of a few rows per chip reads beyond the
    neighbours, which the mesh cannot run.)"""
    net = network_from_model(deeplab_aspp(c=8, rate=2))
    report = verify(net, size, mesh=mesh)
    assert report.ok, report.table()
    check = next(c for c in report.layers if c.name == "aspp.pool.up")
    plan = build_plan(net.at(*map(int, reversed(size.split("x")))), hardware(mesh))
    up = next(lp for lp in plan.layers if lp.name == "aspp.pool.up")
    assert check.placement == "tiled" and check.link_bits == up.gather.link_bits
    broken = verify(net, size, mesh=mesh, break_halo="gather-drop")
    assert not broken.ok and broken.first_bad.name == "aspp.pool.up"


def test_pipeline_stage_after_a_cut_freezes_the_size_rule_as_its_factor() -> None:
    """A pipeline stage is a network of its own whose image is the crossing map: the final
    resize to the image's size becomes the factor it has at this resolution. DeepLabV3 on
    MobileNetV3 at 512x1024 classifies a stride-16 map of 32x64: factor 16."""
    from hyperdrive_sim.mapping.pipeline import cut_points, sub_network
    from hyperdrive_sim.workload.zoo import get_network

    net = get_network("deeplabv3_mobilenet_v3_large").at(512, 1024)
    cuts = cut_points(net)
    last = max(cuts)
    stage = sub_network(net, last, len(net.infos), cuts[last])
    up = stage.infos[-1]
    assert (up.layer.size_of, up.layer.factor) == (None, 16)
    assert up.out_shape == L.Shape(21, 512, 1024)
    assert stage.macs == sum(i.macs for i in net.infos[last:])


def se_block(size=(56, 56)) -> onnx.ModelProto:
    """A MobileNetV3 block's squeeze-and-excitation: global pool, 1x1 conv 32 -> 8, 1x1 conv
    8 -> 32, HardSigmoid, the map times the gate, then the projection."""
    g = Graph(size=size)
    x = g.conv("input", 3, 32, name="c")
    s = g.node("GlobalAveragePool", [x], "se.pool")
    s = g.conv(s, 32, 8, k=1, pads=[0] * 4, name="se.fc1", bn=False)
    s = g.conv(s, 8, 32, k=1, pads=[0] * 4, name="se.fc2", bn=False, act="HardSigmoid")
    y = g.node("Mul", [x, s], "se.mul")
    return g.model([g.conv(y, 32, 16, k=1, pads=[0] * 4, name="next")])


@pytest.mark.parametrize(("h", "w"), SIZES)
def test_se_gate_is_broadcast_and_scales_every_tile(h: int, w: int) -> None:
    """The 32 gate values (16 bits) go from chip (0,0) to the three others of a 2x2 mesh
    (three link hops, 3 x 32 x 16 = 1536 bits); each chip multiplies its own tile once per
    word: 32 x h x w FP16 multiplies in all. Both evaluators count the same."""
    net = network_from_model(se_block())
    shaped = net.at(h, w)
    assert shaped.macs == conv_macs(32, 3, 3, h, w) + 32 * 8 + 8 * 32 + conv_macs(16, 32, 1, h, w)
    plan = build_plan(shaped, hardware("2x2", **CONTENTION_FREE))
    mul = next(lp for lp in plan.layers if lp.name == "se.mul")
    assert mul.placement == "tiled" and mul.gather.link_bits == 3 * 32 * 16
    assert int(mul.work.fp16_muls.sum()) == 32 * h * w
    assert plan.result_out_bits.sum() == 16 * h * w * 16  # only 'next' is read out
    a, s = analytic.evaluate(plan), des.evaluate(plan)
    for name in EXACT:
        assert np.array_equal(getattr(a, name), getattr(s, name)), name
    assert abs(s.total_cycles - a.total_cycles) <= 0.005 * a.total_cycles


@pytest.mark.parametrize("partitioning", ["spatial", "hybrid", "channel"])
@pytest.mark.parametrize(("size", "mesh"), [("12x10", "2x2"), ("17x13", "3x2")])
def test_se_gate_is_verified_numerically(partitioning: str, size: str, mesh: str) -> None:
    """Tiled, each chip scales its tile with the gate from the root (3 hops on 2x2, 5 on
    3x2: row 0 to (0,1), columns 0 and 1 down two rows each); channel partitioned, each chip
    its own channels, whose gate values the gate conv dealt to it already (both convs deal
    32 channels the same way: no move). Exact either way, with the plan's link bits."""
    net = network_from_model(se_block(size=(10, 12)))
    report = verify(net, size, mesh=mesh, partitioning=partitioning)
    assert report.ok, report.table()
    check = next(c for c in report.layers if c.name == "se.mul")
    hw = hardware(mesh, system={"partitioning": partitioning})
    plan = build_plan(net.at(*map(int, reversed(size.split("x")))), hw)
    mul = next(lp for lp in plan.layers if lp.name == "se.mul")
    if partitioning == "channel":
        assert mul.placement == "channel" and mul.gather is None and check.link_bits == 0
        return
    hops = 3 if mesh == "2x2" else 5
    assert check.link_bits == mul.gather.link_bits == hops * 32 * 16
    broken = verify(net, size, mesh=mesh, partitioning=partitioning, break_halo="gather-drop")
    assert not broken.ok


@pytest.mark.parametrize("partitioning", ["spatial", "channel"])
def test_gate_from_a_dense_on_the_root_reaches_channel_partitioned_chips(partitioning) -> None:
    """A gate computed by a dense layer (on the root chip under either partitioning) is
    multicast to the chips holding the map's channels or tiles: 3 hops of 32 x 16 bits on
    a 2x2 mesh; verified exactly, and both evaluators count the same."""
    b = NetBuilder("gate", input_channels=4)
    x = b.conv(32, 3, name="c")
    b.global_pool(src=x, name="pool")
    gate = b.dense(32, name="fc")
    b.scale(gate, x, name="scale")
    b.conv(8, 3, name="next")
    net = b.build()
    report = verify(net, "12x12", mesh="2x2", partitioning=partitioning)
    assert report.ok, report.table()
    system = {**CONTENTION_FREE["system"], "partitioning": partitioning}
    plan = build_plan(net.at(12, 12), hardware("2x2", chip=CONTENTION_FREE["chip"], system=system))
    scale = next(lp for lp in plan.layers if lp.name == "scale")
    expected = "channel" if partitioning == "channel" else "tiled"
    assert scale.placement == expected and scale.gather.link_bits == 3 * 32 * 16
    assert next(c for c in report.layers if c.name == "scale").link_bits == 3 * 32 * 16
    a, s = analytic.evaluate(plan), des.evaluate(plan)
    for name in EXACT:
        assert np.array_equal(getattr(a, name), getattr(s, name)), name


@pytest.mark.parametrize("size", ["32x40", "47x33", "64x64"])
def test_aspp_and_se_on_one_chip_need_no_move(size: str) -> None:
    """On a 1x1 mesh (the issue's case: refused even with 100 Mbit of FMM) the root is the
    only chip: the pooled vector and the gate are already where the map is, 0 link bits."""
    for model in (deeplab_aspp(c=8, rate=2), se_block()):
        net = network_from_model(model)
        w, h = map(int, size.split("x"))
        hw = hardware("1x1", chip={"fmm_bits": 100_000_000})
        plan = build_plan(net.at(h, w), hw)
        assert plan.fits, plan.reason
        a, s = analytic.evaluate(plan), des.evaluate(plan)
        for name in EXACT:
            assert np.array_equal(getattr(a, name), getattr(s, name)), name
        assert int(a.c2c_gather_bits.sum()) == 0
        assert verify(net, size, mesh="1x1").ok
