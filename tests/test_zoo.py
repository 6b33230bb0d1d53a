"""The zoo networks against published MAC and weight counts, and shape inference."""

from __future__ import annotations

import pytest

from hyperdrive_sim.errors import NetworkError
from hyperdrive_sim.workload.layers import Shape
from hyperdrive_sim.workload.zoo import ZOO, get_network, network_names

# MACs = multiply-accumulates of convolutions and fully connected layers (pooling, adds,
# concats and shuffles count 0). "torchvision docs" = the GFLOPS column of the torchvision
# model table (which counts MACs), given there with 2-3 digits; the more precise values
# are the usual fvcore/ptflops conv+fc counts of the same models.
MACS_224 = {
    "resnet18": 1.814e9,  # torchvision docs: 1.81 GFLOPS
    "resnet34": 3.664e9,  # torchvision docs: 3.66 GFLOPS
    "resnet50": 4.089e9,  # torchvision docs: 4.09 GFLOPS
    "resnet152": 11.514e9,  # torchvision docs: 11.51 GFLOPS
    "vgg16": 15.470e9,  # torchvision docs: 15.47 GFLOPS
    "mobilenet_v1": 569e6,  # Howard et al. 2017, Tables 6/8: 1.0 MobileNet-224, 569M mult-adds
    "mobilenet_v2": 300.5e6,  # torchvision docs 0.30 GFLOPS; Sandler et al. 2018, Table 4: 300M
    "shufflenet_v2": 146e6,  # Ma et al. 2018: ShuffleNet v2 1x, 146 MFLOPs (their FLOPs = MACs)
    "squeezenet1_1": 349e6,  # torchvision docs: 0.35 GFLOPS
}

# Darknet's site (pjreddie.com/darknet/yolo) lists YOLOv3-416 at 65.86 Bn FLOPs; darknet counts
# 2 FLOPs per MAC (convolutional_layer.c: 2 * n * c/groups * size^2 * out_h * out_w), so 32.93 G.
YOLOV3_416_MACS = 65.86e9 / 2


@pytest.mark.parametrize(("name", "expected"), MACS_224.items())
def test_macs_at_224_match_published_figures(name: str, expected: float) -> None:
    assert get_network(name).at(224, 224).macs == pytest.approx(expected, rel=0.01)


def test_yolov3_macs_at_416_match_darknet() -> None:
    assert get_network("yolov3").at(416, 416).macs == pytest.approx(YOLOV3_416_MACS, rel=0.01)


# Weights = conv + fc weights only. Reference: torchvision's parameter count minus the two
# learnable parameters (gamma, beta) of every batch-norm channel and the 1000 fc biases.
#   resnet18: 11,689,512 params; BN channels 64 + 4*64 + (4*128 + 128) + (4*256 + 256)
#             + (4*512 + 512) = 4,800  ->  11,689,512 - 2*4,800 - 1,000 = 11,678,912
#   resnet34: 21,797,672 params; BN channels 64 + 6*64 + (8*128 + 128) + (12*256 + 256)
#             + (6*512 + 512) = 8,512  ->  21,797,672 - 2*8,512 - 1,000 = 21,779,648
#   resnet50: 25,557,032 params; BN channels 64 + (3*384 + 256) + (4*768 + 512)
#             + (6*1536 + 1024) + (3*3072 + 2048) = 26,560
#             ->  25,557,032 - 2*26,560 - 1,000 = 25,502,912
WEIGHTS = {"resnet18": 11_678_912, "resnet34": 21_779_648, "resnet50": 25_502_912}


@pytest.mark.parametrize(("name", "expected"), WEIGHTS.items())
def test_weights_match_torchvision_parameter_counts(name: str, expected: int) -> None:
    weights = get_network(name).at(224, 224).weights
    assert weights == pytest.approx(expected, rel=0.01)
    assert weights == expected  # the derivation above is exact


def test_squeezenet_ceil_mode_pool_sizes_match_torchvision() -> None:
    net = get_network("squeezenet1_1").at(224, 224)
    sizes = [net.shape_of(n).height for n in ("conv1", "pool1", "pool3", "pool5")]
    assert sizes == [111, 55, 27, 13]
    assert net.shape_of("avgpool") == Shape(1000, 1, 1)


def test_resnet34_at_512_and_full_hd() -> None:
    assert get_network("resnet34").at(512, 512).shape_of("layer4.2.add") == Shape(512, 16, 16)
    hd = get_network("resnet34").at(1080, 1920)
    assert hd.shape_of("layer4.2.add") == Shape(512, 34, 60)
    assert hd.shape_of("fc") == Shape(1000, 1, 1)


def test_yolov3_heads_at_416() -> None:
    net = get_network("yolov3").at(416, 416)
    assert [net.shape_of(o) for o in net.outputs] == [
        Shape(255, 13, 13),
        Shape(255, 26, 26),
        Shape(255, 52, 52),
    ]


def test_yolov3_needs_multiples_of_32() -> None:
    # The upsampled 1/32 map must match the 1/16 map in the concat, as in darknet's route layer.
    net = get_network("yolov3")
    assert [net.at(1088, 1920).shape_of(o) for o in ("head13.detect", "head52.detect")] == [
        Shape(255, 34, 60),
        Shape(255, 136, 240),
    ]
    with pytest.raises(NetworkError, match=r"multiples of 32 for yolov3.*try 1920x1088"):
        net.at(1080, 1920)


def test_vgg16_classifier_grows_with_resolution() -> None:
    net = get_network("vgg16").at(512, 512)
    fc6 = net.infos[net.index_of("fc6")]
    assert fc6.in_shapes == (Shape(512, 16, 16),)
    assert fc6.weights == 512 * 16 * 16 * 4096


@pytest.mark.parametrize("name", network_names())
@pytest.mark.parametrize(("height", "width"), [(224, 224), (512, 512), (1080, 1920), (97, 131)])
def test_every_network_infers_shapes_at_other_resolutions(name: str, height: int, width: int):
    if name == "yolov3" and (height % 32 or width % 32):
        pytest.skip("YOLOv3 needs multiples of 32 (as in darknet), see the test below")
    net = get_network(name)
    assert net.name == name
    shaped = net.at(height, width)
    assert shaped.macs > 0
    assert all(info.out_shape.elements > 0 for info in shaped.infos)


def test_registry() -> None:
    assert network_names() == list(ZOO)
    assert {"resnet18", "vgg16", "yolov3", "shufflenet_v2"} <= set(network_names())
    for builder in ZOO.values():
        assert builder.__doc__ and "\n" not in builder.__doc__.strip()


def test_unknown_network_lists_known_names() -> None:
    with pytest.raises(NetworkError) as info:
        get_network("resnet19")
    message = str(info.value)
    assert "unknown network 'resnet19'" in message
    assert all(name in message for name in network_names())
    assert info.value.key == "network"


# torchvision's segmentation table (GFLOPS = MACs, at 520x520): deeplabv3_mobilenet_v3_large
# 10.45 (no auxiliary head); fcn_resnet50 152.72 with its auxiliary FCNHead(1024, 21) on
# layer3, which the zoo leaves out: 3x3 1024 -> 256 and 1x1 256 -> 21 on the 65x65 map,
# (256 * 1024 * 9 + 21 * 256) * 65 * 65 = 9.99e9 MACs, so 142.73e9 without it.
SEGMENTATION_520 = {"deeplabv3_mobilenet_v3_large": 10.45e9, "fcn_resnet50": 152.72e9 - 9.99e9}


@pytest.mark.parametrize(("name", "macs"), SEGMENTATION_520.items())
def test_segmentation_networks_against_torchvision(name: str, macs: float) -> None:
    net = get_network(name)
    assert net.at(520, 520).macs == pytest.approx(macs, rel=0.002)
    # at the sizes segmentation runs at the class maps come back at the image's size
    for height, width in ((512, 1024), (1024, 2048), (520, 520)):
        assert net.at(height, width).infos[-1].out_shape == Shape(21, height, width)


def test_deeplab_pooling_branch_is_stretched_to_the_aspp_input() -> None:
    # MobileNetV3 at output stride 16: 1024x2048 gives a 64x128 map of 960 channels; the
    # pooled 256-vector is stretched to it and concatenated with the four conv branches
    net = get_network("deeplabv3_mobilenet_v3_large").at(1024, 2048)
    assert net.shape_of("classifier.0.convs.4.upsample") == Shape(256, 64, 128)
    assert net.shape_of("classifier.0.cat") == Shape(1280, 64, 128)


@pytest.mark.slow
def test_segmentation_mesh_costs_quoted_in_the_readme() -> None:
    """The README's sentence on segmentation at 1024x512 on the preset chip and system."""
    from test_des_properties import hardware

    from hyperdrive_sim.evaluators import analytic
    from hyperdrive_sim.planner import build_plan

    def costs(name: str, mesh: str):
        plan = build_plan(get_network(name).at(512, 1024), hardware(mesh))
        c = analytic.evaluate(plan)
        kinds = [lp.info.layer for lp in plan.layers]
        dilated = sum(
            int(b) for lay, b in zip(kinds, c.c2c_border_bits, strict=True)
            if lay.kind == "conv" and max(lay.dilation) > 1
        )  # fmt: skip
        ups = [lp for lp in plan.layers if lp.info.layer.kind == "upsample"]
        up_border = sum(int(lp.halo_bits.sum()) for lp in ups)
        up_share = sum(int(lp.work.cycles.max()) for lp in ups) / c.total_cycles
        far = any("beyond its neighbours" in p for p in plan.problems)
        return plan, c, dilated / c.c2c_border_bits.sum(), up_border, up_share, far

    plan, c, dilated, up_border, up_share, far = costs("fcn_resnet50", "4x4")
    assert round(c.c2c_border_bits.sum() / 1e6) == 233 and round(100 * dilated) == 72
    assert up_border == 0 and up_share < 0.005 and not far
    up = next(lp for lp in plan.layers if lp.name == "upsample")
    assert int(up.work.fmm_write_bits.sum()) == 21 * 512 * 1024 * 16  # 176 Mbit
    plan, c, dilated, up_border, up_share, far = costs("deeplabv3_mobilenet_v3_large", "4x4")
    assert round(c.c2c_border_bits.sum() / 1e8) == 16 and round(100 * dilated) == 97
    assert up_border == 0 and up_share < 0.005 and far
    assert round(c.c2c_gather_bits.sum() / 1e5) == 10  # 1.0 Mbit of broadcasts
    assert not costs("deeplabv3_mobilenet_v3_large", "2x2")[5]


def test_deeplab_global_context_broadcasts_on_a_2x2_mesh() -> None:
    """Every vector reduced onto chip (0,0) and brought back onto the tiled maps is sent
    over 3 links of a 2x2 mesh: the SE gates of MobileNetV3-Large's blocks 4-6 and 11-15
    (72 + 120 + 120 + 480 + 672 + 672 + 960 + 960 = 4056 channels) and the ASPP pooling
    branch (256): 4312 values x 16 bits x 3 hops = 206,976 bits."""
    from test_des_properties import hardware

    from hyperdrive_sim.planner import build_plan

    plan = build_plan(get_network("deeplabv3_mobilenet_v3_large").at(256, 512), hardware("2x2"))
    moved = [lp for lp in plan.layers if lp.gather is not None]
    assert {lp.info.layer.kind for lp in moved} == {"scale", "upsample"}
    assert sum(lp.gather.link_bits for lp in moved) == 206_976
