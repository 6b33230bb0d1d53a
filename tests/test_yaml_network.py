"""The YAML network format: valid files and one clear error per kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperdrive_sim.errors import NetworkError, SpecError
from hyperdrive_sim.workload.layers import Conv, Pool, Shape
from hyperdrive_sim.workload.yaml_network import (
    layer_json_schema,
    load_network_yaml,
    network_from_dict,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "networks" / "tiny_residual.yaml"

TINY = """\
name: tiny
input_channels: 3
layers:
  - {name: c1, type: conv, out: 16, kernel: 3, stride: 1, padding: 1}
  - {name: c2, type: conv, out: 16, kernel: 3, groups: 16, dilation: 2}
  - {name: res, type: add, inputs: [c1, c2]}
  - {name: p, type: pool, mode: max, kernel: 2, stride: 2}
  - {name: cat, type: concat, inputs: [p, p]}
  - {type: global_pool}
  - {type: dense, out: 10}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


def test_valid_file_round_trips_to_shapes_and_macs(tmp_path: Path) -> None:
    net = load_network_yaml(write(tmp_path, TINY))
    assert net.name == "tiny"
    assert [layer.name for layer in net.layers] == [
        "c1", "c2", "res", "p", "cat", "global_pool1", "dense1"
    ]  # fmt: skip
    c2 = net.layers[1]
    assert isinstance(c2, Conv)
    assert c2.padding == (2, 2, 2, 2)  # default "same": dilation * (k - 1) // 2
    assert net.layers[5].inputs == ("cat",)  # default input: the previous layer

    shaped = net.at(8, 8)
    shapes = [info.out_shape for info in shaped.infos]
    assert shapes == [
        Shape(16, 8, 8),
        Shape(16, 8, 8),
        Shape(16, 8, 8),
        Shape(16, 4, 4),
        Shape(32, 4, 4),
        Shape(32, 1, 1),
        Shape(10, 1, 1),
    ]
    # c1: 16x8x8 outputs * 3 in-channels * 3*3 = 27,648
    # c2: depthwise, 16x8x8 outputs * 1 * 3*3   =  9,216
    # dense: 32 inputs * 10 outputs              =    320   -> 37,184 MACs
    assert shaped.macs == 27_648 + 9_216 + 320
    # weights: 16*3*9 + 16*1*9 + 32*10 = 432 + 144 + 320
    assert shaped.weights == 896


def test_pairs_padding_quads_and_defaults() -> None:
    net = network_from_dict(
        {
            "name": "pairs",
            "input_channels": 1,
            "layers": [
                {"type": "conv", "out": 4, "kernel": [3, 1], "stride": [2, 1]},
                {"type": "pool", "kernel": 3, "stride": 2, "padding": [0, 0, 1, 1]},
                {"type": "channel_slice", "stop": 2},
                {"type": "channel_shuffle"},
                {"type": "upsample", "factor": 3, "name": "up"},
            ],
        }
    )
    conv, pool = net.layers[0], net.layers[1]
    assert isinstance(conv, Conv) and isinstance(pool, Pool)
    assert conv.padding == (1, 0, 1, 0)
    assert pool.padding == (0, 0, 1, 1)
    shaped = net.at(9, 5)
    # conv: 4 x 5 x 5; pool (k3 s2, pad bottom/right 1): (5 + 1 - 3) // 2 + 1 = 2 -> 4 x 2 x 2;
    # slice: 2 x 2 x 2; upsample x3: 2 x 6 x 6
    assert shaped.shape_of("up") == Shape(2, 6, 6)
    assert shaped.macs == 4 * 5 * 5 * 1 * 3  # conv only: out elements * Cin * kh * kw


def test_auto_names_skip_explicit_names() -> None:
    net = network_from_dict(
        {
            "name": "n",
            "layers": [
                {"type": "conv", "out": 4, "kernel": 1, "name": "conv1"},
                {"type": "conv", "out": 4, "kernel": 1},
            ],
        }
    )
    assert [layer.name for layer in net.layers] == ["conv1", "conv2"]


def test_example_config_loads() -> None:
    net = load_network_yaml(EXAMPLE)
    assert net.name == "tiny_residual"
    shaped = net.at(32, 32)
    assert shaped.outputs == ("fc",)
    assert shaped.shape_of("block2.add") == Shape(64, 8, 8)
    # stem 32*16*16*3*9 + 2 convs 32*16*16*32*9 + down 64*8*8*32*9 + dw 64*8*8*9
    # + pw 64*8*8*64 + fc 64*10
    assert shaped.macs == 221_184 + 2 * 2_359_296 + 1_179_648 + 36_864 + 262_144 + 640


def test_json_schema_describes_every_layer_type() -> None:
    schema = layer_json_schema()
    assert set(schema["required"]) == {"name", "layers"}
    mapping = schema["properties"]["layers"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "conv", "pool", "adaptive_pool", "global_pool", "dense", "add", "scale", "concat",
        "channel_slice", "channel_shuffle", "upsample",
    }  # fmt: skip


def layers(*items: object) -> dict:
    return {"name": "bad", "layers": list(items)}


CONV = {"type": "conv", "out": 8, "kernel": 3}

# (data, error class, key path, text the message must contain)
# fmt: off
MALFORMED = [
    pytest.param(
        layers({**CONV, "kernal": 3}), SpecError, "layers[0].kernal",
        "unknown key 'kernal' (did you mean 'kernel'?); allowed: name, type, inputs, out, kernel",
        id="unknown-key",
    ),
    pytest.param(
        layers({**CONV, "out": -1}), SpecError, "layers[0].out",
        "expected a positive integer, got -1", id="negative",
    ),
    pytest.param(
        layers(CONV, {**CONV, "kernel": "3"}), SpecError, "layers[1].kernel",
        "expected a positive integer or a list of 2 of them (each at most 1024, the input "
        "limit), got '3'", id="string-int",
    ),
    pytest.param(
        layers({**CONV, "padding": [1, 2, 3]}), SpecError, "layers[0].padding",
        "list of 2 or 4", id="padding-length",
    ),
    pytest.param(
        layers({**CONV, "groups": True}), SpecError, "layers[0].groups",
        "expected a positive integer, got True", id="bool",
    ),
    pytest.param(
        layers(CONV, {"type": "convolution", "out": 8}), SpecError, "layers[1].type",
        "unknown layer type 'convolution'; allowed: conv, pool, adaptive_pool, global_pool, dense,"
        " add, scale, concat, channel_slice, channel_shuffle, upsample",
        id="unknown-type",
    ),
    pytest.param(
        layers({"out": 8, "kernel": 3}), SpecError, "layers[0].type",
        "missing key 'type'", id="missing-type",
    ),
    pytest.param(
        layers({"type": "conv", "kernel": 3}), SpecError, "layers[0].out",
        "missing required key 'out'", id="missing-key",
    ),
    pytest.param(
        layers({"type": "pool", "kernel": 2, "mode": "min"}), SpecError, "layers[0].mode",
        "expected one of 'max' or 'avg', got 'min'", id="pool-mode",
    ),
    pytest.param(
        layers(CONV, {"type": "add", "inputs": ["conv1"]}), SpecError, "layers[1].inputs",
        "expected at least 2", id="add-one-input",
    ),
    pytest.param(
        layers({"type": "channel_slice", "start": 4, "stop": 2}), SpecError, "layers[0].stop",
        "expected stop > start (4), got 2", id="slice-order",
    ),
    pytest.param(
        layers("conv"), SpecError, "layers[0]", "expected a mapping, got 'conv'",
        id="layer-not-mapping",
    ),
    pytest.param(
        {"name": "bad", "layers": [CONV], "input_chanels": 3}, SpecError, "input_chanels",
        "unknown key 'input_chanels' (did you mean 'input_channels'?)", id="top-level-key",
    ),
    pytest.param(
        {"name": "bad", "layers": []}, SpecError, "layers", "expected at least 1",
        id="no-layers",
    ),
    pytest.param(
        layers(CONV, {**CONV, "inputs": ["c9"]}), NetworkError, "layers[1].inputs[0]",
        "unknown input 'c9'; earlier layers: input, conv1", id="unknown-input",
    ),
    pytest.param(
        layers({**CONV, "inputs": ["later"]}, {**CONV, "name": "later"}), NetworkError,
        "layers[0].inputs[0]", "'later' (it is defined later", id="forward-reference",
    ),
    pytest.param(
        layers({**CONV, "name": "a"}, {**CONV, "name": "a"}), NetworkError, "layers[1].name",
        "duplicate layer name 'a'", id="duplicate-name",
    ),
    pytest.param(
        layers({**CONV, "inputs": ["input", "input"]}), NetworkError, "layers[0].inputs",
        "a conv layer takes exactly 1 input, got 2", id="arity",
    ),
    pytest.param(
        layers({**CONV, "name": "input"}), NetworkError, "layers[0].name",
        "'input' is reserved", id="reserved-name",
    ),
]
# fmt: on


@pytest.mark.parametrize(("data", "cls", "key", "text"), MALFORMED)
def test_malformed_input_raises_with_key_path(
    tmp_path: Path, data: dict, cls: type[Exception], key: str, text: str
) -> None:
    path = write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(cls) as info:
        load_network_yaml(path)
    err = info.value
    assert type(err) is cls
    assert err.file == str(path)
    assert err.key == key
    assert f"{path}: {key}: " in str(err)
    assert text in str(err)
    assert "\n" not in str(err)


def test_multiple_problems_report_the_first_and_count_the_rest() -> None:
    with pytest.raises(SpecError) as info:
        network_from_dict(layers({"type": "conv", "kernal": 3}))
    # the unknown key explains the missing 'kernel', so it is reported first
    assert info.value.key == "layers[0].kernal"
    assert "(and 2 more problem(s))" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_network_yaml(path)
    assert str(info.value) == f"{path}: file not found"


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nlayers:\n  - {type: conv, out: 8\n  - {type: dense}\n")
    with pytest.raises(SpecError) as info:
        load_network_yaml(path)
    message = str(info.value)
    assert message.startswith(f"{path}: YAML syntax error at line 4")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "file is empty"), ("- a\n- b\n", "expected a mapping with keys name, input_channels")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SpecError, match=expected):
        load_network_yaml(write(tmp_path, text))


def test_network_from_dict_without_file_has_no_file_prefix() -> None:
    with pytest.raises(SpecError) as info:
        network_from_dict(layers({**CONV, "out": 0}))
    assert info.value.file is None
    assert str(info.value) == "layers[0].out: expected a positive integer, got 0"


def test_a_size_mismatch_names_both_inputs_and_the_likely_cause():
    # 7 rows: the stride-2 conv gives ceil(7/2) = 4 rows, the stride-1 path keeps 7
    net = network_from_dict(
        {
            "name": "mismatch",
            "layers": [
                {"name": "a", "type": "conv", "out": 4, "kernel": 3, "stride": 2},
                {"name": "b", "type": "conv", "out": 4, "kernel": 3, "inputs": ["input"]},
                {"name": "sum", "type": "add", "inputs": ["a", "b"]},
            ],
        }
    )
    with pytest.raises(NetworkError) as err:
        net.at(7, 7)
    text = str(err.value)
    # a: ceil(7 / 2) = 4 rows and columns, 4 channels; b: 7 x 7, 4 channels
    assert "'a' (4x4x4), 'b' (4x7x7)" in text and "total downsampling" in text


SE_DECODER = """\
name: se_decoder
layers:
  - {name: c1, type: conv, out: 8, kernel: 3}
  - {name: down, type: conv, out: 8, kernel: 3, stride: 2}
  - {name: squeeze, type: global_pool}
  - {name: excite, type: conv, out: 8, kernel: 1}
  - {name: gated, type: scale, inputs: [excite, down]}
  - {name: up, type: upsample, size_of: c1}
  - {name: skip, type: add, inputs: [up, c1]}
  - {name: pooled, type: adaptive_pool, output: [2, 3]}
  - {type: dense, out: 4}
"""


@pytest.mark.parametrize("side", [15, 16, 31])
def test_scale_resize_to_a_map_and_adaptive_pool_hold_at_any_size(tmp_path, side) -> None:
    """A squeeze-and-excitation gate, a decoder resized to its skip's odd size and an
    adaptive pool before the classifier: the file gives the same classifier at every size.
    By hand at side n: down is ceil(n/2) square, up returns to n x n, the pool gives 8x2x3,
    so the dense layer has 48 * 4 = 192 MACs and weights whatever n is."""
    net = load_network_yaml(write(tmp_path, SE_DECODER))
    shaped = net.at(side, side)
    out = {info.layer.name: info.out_shape for info in shaped.infos}
    half = -(-side // 2)
    assert out["down"] == Shape(8, half, half)
    assert out["gated"] == Shape(8, half, half)
    assert out["up"] == Shape(8, side, side)
    assert out["pooled"] == Shape(8, 2, 3)
    assert out["dense1"] == Shape(4, 1, 1)
    dense = shaped.infos[-1]
    assert dense.macs == 8 * 2 * 3 * 4


@pytest.mark.parametrize(
    ("layer", "key", "text"),
    [
        ({"type": "scale", "inputs": ["c"]}, "layers[1].inputs", "at least 2"),
        ({"type": "scale", "inputs": ["c", "c", "c"]}, "layers[1].inputs", "at most 2"),
        ({"type": "upsample", "size_of": "nowhere"}, "layers[1].size_of", "unknown size_of"),
        ({"type": "upsample", "size_of": "c", "factor": 2}, "layers[1].size_of", "not both"),
        ({"type": "adaptive_pool", "output": 0}, "layers[1].output", "positive integer"),
        ({"type": "adaptive_pool"}, "layers[1].output", "missing required key"),
    ],
)
def test_new_layer_types_refuse_mistakes_with_the_key(layer, key, text) -> None:
    data = {"name": "bad", "layers": [{"name": "c", "type": "conv", "out": 4, "kernel": 3}, layer]}
    with pytest.raises((SpecError, NetworkError)) as info:
        network_from_dict(data, file="net.yaml")
    assert info.value.key == key
    assert text in str(info.value)
