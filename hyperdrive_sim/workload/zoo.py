"""Standard CNNs, layer for layer as their reference implementations define them.

Only layers with a cost or a shape effect are modelled: batch norm, biases and activations
are left out. Every network works at any input resolution where all maps stay >= 1 pixel;
the classifier of VGG-16 (Dense on the last feature map) then simply has more inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from hyperdrive_sim.errors import NetworkError, did_you_mean
from hyperdrive_sim.workload.builder import NetBuilder
from hyperdrive_sim.workload.network import Network

# --------------------------------------------------------------------------------------------
# ResNet


def _basic_block(b: NetBuilder, prefix: str, inplanes: int, planes: int, stride: int) -> int:
    """torchvision BasicBlock: two 3x3 convs, 1x1 downsample on the shortcut when needed."""
    x = b.last
    b.conv(planes, 3, stride, src=x, name=f"{prefix}.conv1")
    out = b.conv(planes, 3, name=f"{prefix}.conv2")
    shortcut = x
    if stride != 1 or inplanes != planes:
        shortcut = b.conv(planes, 1, stride, src=x, name=f"{prefix}.downsample")
    b.add(out, shortcut, name=f"{prefix}.add")
    return planes


def _bottleneck(b: NetBuilder, prefix: str, inplanes: int, planes: int, stride: int) -> int:
    """torchvision Bottleneck (ResNet v1.5): the stride sits on the 3x3 conv."""
    x = b.last
    b.conv(planes, 1, src=x, name=f"{prefix}.conv1")
    b.conv(planes, 3, stride, name=f"{prefix}.conv2")
    out = b.conv(planes * 4, 1, name=f"{prefix}.conv3")
    shortcut = x
    if stride != 1 or inplanes != planes * 4:
        shortcut = b.conv(planes * 4, 1, stride, src=x, name=f"{prefix}.downsample")
    b.add(out, shortcut, name=f"{prefix}.add")
    return planes * 4


def _resnet(name: str, block: Callable[..., int], depths: tuple[int, int, int, int]) -> Network:
    b = NetBuilder(name)
    b.conv(64, 7, stride=2, pad=3, name="conv1")
    b.pool(3, 2, pad=1, name="maxpool")
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), depths, strict=True), 1):
        for i in range(blocks):
            stride = 2 if stage > 1 and i == 0 else 1
            inplanes = block(b, f"layer{stage}.{i}", inplanes, planes, stride)
    b.global_pool(name="avgpool")
    b.dense(1000, name="fc")
    return b.build()


def resnet18() -> Network:
    """ResNet-18 (He et al. 2016), torchvision resnet18 layer for layer."""
    return _resnet("resnet18", _basic_block, (2, 2, 2, 2))


def resnet34() -> Network:
    """ResNet-34 (He et al. 2016), torchvision resnet34 layer for layer."""
    return _resnet("resnet34", _basic_block, (3, 4, 6, 3))


def resnet50() -> Network:
    """ResNet-50 (He et al. 2016), torchvision resnet50 (v1.5, stride on the 3x3 conv)."""
    return _resnet("resnet50", _bottleneck, (3, 4, 6, 3))


def resnet152() -> Network:
    """ResNet-152 (He et al. 2016), torchvision resnet152 (v1.5, stride on the 3x3 conv)."""
    return _resnet("resnet152", _bottleneck, (3, 8, 36, 3))


# --------------------------------------------------------------------------------------------
# VGG


def vgg16() -> Network:
    """VGG-16, config D (Simonyan & Zisserman 2015), torchvision vgg16 (without batch norm)."""
    b = NetBuilder("vgg16")
    for block, (channels, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), 1):
        for i in range(1, convs + 1):
            b.conv(channels, 3, name=f"conv{block}_{i}")
        b.pool(2, 2, name=f"pool{block}")
    # torchvision's AdaptiveAvgPool2d((7, 7)) is the identity at 224x224; at other resolutions
    # fc6 takes the whole (larger) map instead.
    b.dense(4096, name="fc6")
    b.dense(4096, name="fc7")
    b.dense(1000, name="fc8")
    return b.build()


# --------------------------------------------------------------------------------------------
# MobileNets


def mobilenet_v1() -> Network:
    """MobileNet-V1 1.0 (Howard et al. 2017, Table 1), as TF-slim mobilenet_v1 (no torchvision)."""
    b = NetBuilder("mobilenet_v1")
    b.conv(32, 3, stride=2, name="conv1")
    channels = 32
    # (stride of the depthwise conv, pointwise output channels); the paper's table lists the
    # 13th depthwise conv as s2, but it runs at 7x7 -> 7x7, i.e. stride 1 (as TF-slim).
    blocks = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)]
    blocks += [(1, 512)] * 5 + [(2, 1024), (1, 1024)]
    for i, (stride, out) in enumerate(blocks, 2):
        b.conv(channels, 3, stride, groups=channels, name=f"block{i}.dw")
        b.conv(out, 1, name=f"block{i}.pw")
        channels = out
    b.global_pool(name="avgpool")
    b.dense(1000, name="fc")
    return b.build()


def mobilenet_v2() -> Network:
    """MobileNet-V2 1.0 (Sandler et al. 2018), torchvision mobilenet_v2 layer for layer."""
    b = NetBuilder("mobilenet_v2")
    b.conv(32, 3, stride=2, name="features.0")
    channels = 32
    index = 1
    # (expansion t, output channels c, repeats n, first stride s), the paper's Table 2.
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):  # fmt: skip
        for i in range(n):
            stride = s if i == 0 else 1
            prefix = f"features.{index}"
            x = b.last
            hidden = channels * t
            if t != 1:
                b.conv(hidden, 1, name=f"{prefix}.expand")
            b.conv(hidden, 3, stride, groups=hidden, name=f"{prefix}.dw")
            out = b.conv(c, 1, name=f"{prefix}.project")
            if stride == 1 and channels == c:
                b.add(out, x, name=f"{prefix}.add")
            channels = c
            index += 1
    b.conv(1280, 1, name=f"features.{index}")
    b.global_pool(name="avgpool")
    b.dense(1000, name="classifier")
    return b.build()


# --------------------------------------------------------------------------------------------
# Segmentation: FCN-ResNet50 and DeepLabV3-MobileNetV3-Large (torchvision.models.segmentation)


def fcn_resnet50() -> Network:
    """FCN-ResNet50 (Long et al. 2015), torchvision fcn_resnet50 without the auxiliary head."""
    # layer3 and layer4 keep stride 8 with dilation 2 and 4 (the first block of each keeps
    # the previous dilation); the FCNHead (3x3 conv 2048 -> 512, 1x1 conv 512 -> 21); the 21
    # class maps resized to the image's size (bilinear in torchvision, nearest here)
    b = NetBuilder("fcn_resnet50")
    b.conv(64, 7, stride=2, pad=3, name="backbone.conv1")
    b.pool(3, 2, pad=1, name="backbone.maxpool")
    inplanes, dilation = 64, 1
    for stage, (planes, blocks, dilate) in enumerate(
        ((64, 3, False), (128, 4, False), (256, 6, True), (512, 3, True)), 1
    ):
        previous, stride = dilation, 1 if stage == 1 else 2
        if dilate:
            dilation, stride = dilation * stride, 1
        for i in range(blocks):
            prefix = f"backbone.layer{stage}.{i}"
            x = b.last
            b.conv(planes, 1, src=x, name=f"{prefix}.conv1")
            d = previous if i == 0 else dilation
            b.conv(planes, 3, stride if i == 0 else 1, dilation=d, name=f"{prefix}.conv2")
            out = b.conv(planes * 4, 1, name=f"{prefix}.conv3")
            shortcut = x
            if i == 0 and (stride != 1 or inplanes != planes * 4):
                shortcut = b.conv(planes * 4, 1, stride, src=x, name=f"{prefix}.downsample")
            b.add(out, shortcut, name=f"{prefix}.add")
            inplanes = planes * 4
    b.conv(512, 3, name="classifier.0")
    b.conv(21, 1, name="classifier.4")
    b.upsample(src="classifier.4", size_of="input", name="upsample")
    return b.build()


#: MobileNetV3-Large blocks (torchvision's bneck_conf): kernel, expanded, out, SE, stride
_MOBILENET_V3_LARGE = (
    (3, 16, 16, False, 1), (3, 64, 24, False, 2), (3, 72, 24, False, 1),
    (5, 72, 40, True, 2), (5, 120, 40, True, 1), (5, 120, 40, True, 1),
    (3, 240, 80, False, 2), (3, 200, 80, False, 1), (3, 184, 80, False, 1),
    (3, 184, 80, False, 1), (3, 480, 112, True, 1), (3, 672, 112, True, 1),
    (5, 672, 160, True, 2), (5, 960, 160, True, 1), (5, 960, 160, True, 1),
)  # fmt: skip


def _divisible(v: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible: round to a multiple of 8, never below 90%."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def deeplabv3_mobilenet_v3_large() -> Network:
    """DeepLabV3 (Chen et al. 2017) on MobileNetV3-Large, torchvision's, no auxiliary head."""
    # the MobileNetV3-Large features with the last stage dilated (stride 16, dilation 2);
    # the DeepLabHead on its 960 channels: ASPP (1x1 conv, 3x3 convs dilated 12, 24, 36, and
    # the pooling branch: global pool, 1x1 conv, stretched back to the map), a 1x1
    # projection 1280 -> 256, a 3x3 conv and the 1x1 classifier to 21 classes, resized to
    # the image. Squeeze-and-excitation: a global pool and two 1x1 convs on the root chip,
    # whose gate scales the map (sent to every chip, as the ONNX import does).
    b = NetBuilder("deeplabv3_mobilenet_v3_large")
    b.conv(16, 3, stride=2, name="backbone.0")
    channels = 16
    for index, (k, expanded, out, se, stride) in enumerate(_MOBILENET_V3_LARGE, 1):
        prefix = f"backbone.{index}"
        dilation = 2 if index >= 13 else 1  # the dilated last stage keeps stride 16
        stride = 1 if dilation > 1 else stride
        x = b.last
        if expanded != channels:
            b.conv(expanded, 1, name=f"{prefix}.expand")
        dw = b.conv(expanded, k, stride, groups=expanded, dilation=dilation, name=f"{prefix}.dw")
        if se:
            squeeze = _divisible(expanded // 4)
            b.global_pool(src=dw, name=f"{prefix}.se.pool")
            b.conv(squeeze, 1, name=f"{prefix}.se.fc1")
            gate = b.conv(expanded, 1, name=f"{prefix}.se.fc2")
            dw = b.scale(gate, dw, name=f"{prefix}.se.scale")
        y = b.conv(out, 1, src=dw, name=f"{prefix}.project")
        if stride == 1 and channels == out:
            b.add(y, x, name=f"{prefix}.add")
        channels = out
    x = b.conv(960, 1, name="backbone.16")
    branches = [b.conv(256, 1, src=x, name="classifier.0.convs.0")]
    for i, rate in enumerate((12, 24, 36), 1):
        branches.append(b.conv(256, 3, dilation=rate, src=x, name=f"classifier.0.convs.{i}"))
    b.global_pool(src=x, name="classifier.0.convs.4.pool")
    b.conv(256, 1, name="classifier.0.convs.4.conv")
    branches.append(b.upsample(size_of=x, name="classifier.0.convs.4.upsample"))
    b.concat(*branches, name="classifier.0.cat")
    b.conv(256, 1, name="classifier.0.project")
    b.conv(256, 3, name="classifier.1")
    b.conv(21, 1, name="classifier.4")
    b.upsample(size_of="input", name="upsample")
    return b.build()


# --------------------------------------------------------------------------------------------
# ShuffleNet-V2


def shufflenet_v2() -> Network:
    """ShuffleNet-V2 1.0x (Ma et al. 2018), torchvision shufflenet_v2_x1_0 layer for layer."""
    b = NetBuilder("shufflenet_v2")
    b.conv(24, 3, stride=2, name="conv1")
    b.pool(3, 2, pad=1, name="maxpool")
    channels = 24
    for stage, (repeats, out) in enumerate(((4, 116), (8, 232), (4, 464)), 2):
        half = out // 2
        for i in range(repeats):
            p = f"stage{stage}.{i}"
            x = b.last
            if i == 0:  # downsampling unit: both branches see the whole input
                b.conv(channels, 3, 2, groups=channels, src=x, name=f"{p}.branch1.dw")
                left = b.conv(half, 1, name=f"{p}.branch1.pw")
                b.conv(half, 1, src=x, name=f"{p}.branch2.pw1")
                b.conv(half, 3, 2, groups=half, name=f"{p}.branch2.dw")
            else:  # basic unit: channel split, identity on the first half
                left = b.slice(0, half, src=x, name=f"{p}.split0")
                b.slice(half, out, src=x, name=f"{p}.split1")
                b.conv(half, 1, name=f"{p}.branch2.pw1")
                b.conv(half, 3, 1, groups=half, name=f"{p}.branch2.dw")
            right = b.conv(half, 1, name=f"{p}.branch2.pw2")
            b.concat(left, right, name=f"{p}.concat")
            b.shuffle(2, name=f"{p}.shuffle")
            channels = out
    b.conv(1024, 1, name="conv5")
    b.global_pool(name="avgpool")
    b.dense(1000, name="fc")
    return b.build()


# --------------------------------------------------------------------------------------------
# SqueezeNet

# MaxPool2d(3, 2, ceil_mode=True): padding one row/column at the bottom/right gives exactly the
# ceil-mode output size floor((n - 2) / 2) + 1 == ceil((n - 3) / 2) + 1 for every n.
_CEIL_POOL_PAD = (0, 0, 1, 1)


def _fire(b: NetBuilder, name: str, squeeze: int, expand: int) -> str:
    s = b.conv(squeeze, 1, name=f"{name}.squeeze")
    e1 = b.conv(expand, 1, src=s, name=f"{name}.expand1x1")
    e3 = b.conv(expand, 3, src=s, name=f"{name}.expand3x3")
    return b.concat(e1, e3, name=f"{name}.concat")


def squeezenet1_1() -> Network:
    """SqueezeNet 1.1 (Iandola et al. 2016, official repo v1.1), torchvision squeezenet1_1."""
    b = NetBuilder("squeezenet1_1")
    b.conv(64, 3, stride=2, pad=0, name="conv1")
    b.pool(3, 2, pad=_CEIL_POOL_PAD, name="pool1")
    _fire(b, "fire2", 16, 64)
    _fire(b, "fire3", 16, 64)
    b.pool(3, 2, pad=_CEIL_POOL_PAD, name="pool3")
    _fire(b, "fire4", 32, 128)
    _fire(b, "fire5", 32, 128)
    b.pool(3, 2, pad=_CEIL_POOL_PAD, name="pool5")
    _fire(b, "fire6", 48, 192)
    _fire(b, "fire7", 48, 192)
    _fire(b, "fire8", 64, 256)
    _fire(b, "fire9", 64, 256)
    b.conv(1000, 1, name="conv10")
    b.global_pool(name="avgpool")
    return b.build()


# --------------------------------------------------------------------------------------------
# YOLOv3


def _darknet_residuals(b: NetBuilder, stage: int, channels: int, repeats: int) -> str:
    for i in range(repeats):
        p = f"stage{stage}.{i}"
        x = b.last
        b.conv(channels // 2, 1, name=f"{p}.conv1")
        out = b.conv(channels, 3, name=f"{p}.conv2")
        b.add(out, x, name=f"{p}.add")
    return b.last


def _yolo_head(b: NetBuilder, grid: int, channels: int) -> tuple[str, str]:
    """Five alternating 1x1/3x3 convs, a 3x3 conv and the 1x1 detection conv (3 x (80+5))."""
    p = f"head{grid}"
    for i in range(1, 6):
        b.conv(channels if i % 2 else channels * 2, 1 if i % 2 else 3, name=f"{p}.conv{i}")
    route = b.last
    b.conv(channels * 2, 3, name=f"{p}.conv6")
    out = b.conv(3 * (80 + 5), 1, name=f"{p}.detect")
    return route, out


def yolov3() -> Network:
    """YOLOv3 (Redmon & Farhadi 2018), darknet cfg/yolov3.cfg: Darknet-53 + 3 detection heads."""
    b = NetBuilder("yolov3")
    b.conv(32, 3, name="stem")
    taps = []
    for stage, (channels, repeats) in enumerate(((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))):
        b.conv(channels, 3, 2, name=f"stage{stage + 1}.down")
        taps.append(_darknet_residuals(b, stage + 1, channels, repeats))
    route, _ = _yolo_head(b, 13, 512)
    for grid, channels, tap in ((26, 256, taps[3]), (52, 128, taps[2])):
        b.conv(channels, 1, src=route, name=f"head{grid}.reduce")
        up = b.upsample(2, name=f"head{grid}.upsample")
        b.concat(up, tap, name=f"head{grid}.concat")
        route, _ = _yolo_head(b, grid, channels)
    # five stride-2 convs, then upsampled maps are concatenated with earlier ones
    return replace(b.build(), input_multiple=2**5)


# --------------------------------------------------------------------------------------------
# Registry

ZOO: dict[str, Callable[[], Network]] = {
    fn.__name__: fn
    for fn in (
        resnet18,
        resnet34,
        resnet50,
        resnet152,
        vgg16,
        mobilenet_v1,
        mobilenet_v2,
        shufflenet_v2,
        squeezenet1_1,
        yolov3,
        fcn_resnet50,
        deeplabv3_mobilenet_v3_large,
    )
}


def network_names() -> list[str]:
    """Names of all zoo networks, in registry order."""
    return list(ZOO)


def get_network(name: str) -> Network:
    """Build the zoo network ``name``; raises NetworkError listing the known names."""
    builder = ZOO.get(name)
    if builder is None:
        hint = did_you_mean(name, ZOO)
        raise NetworkError(
            f"unknown network {name!r}{hint}; known: {', '.join(ZOO)}", key="network"
        )
    return builder()
