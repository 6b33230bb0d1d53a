"""Malformed and oversized inputs are refused in one line naming file, key and limit (exit 2).

Each case is a class of input found by fuzzing: sizes above hyperdrive_sim.limits, physical
numbers outside their plausible range, booleans and strings where numbers belong, YAML that
would exhaust time or memory, and network files whose shape errors did not name the file.
The expected key and bound are written by hand from the input and from limits.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperdrive_sim import limits
from hyperdrive_sim.cli import main
from hyperdrive_sim.errors import SpecError
from hyperdrive_sim.spec import loader

BASE = "name: t\nnetworks: [resnet18]\ninputs: [64x64]\nmeshes: [1x1]\n"


def run(tmp_path: Path, capsys, target: Path | str) -> str:
    """Run the CLI on ``target``; assert exit 2 with one error line, and return that line."""
    rc = main(["run", str(target), "--no-plots", "--no-progress", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run_text(tmp_path: Path, capsys, text: str, name: str = "exp.yaml") -> tuple[str, Path]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return run(tmp_path, capsys, path), path


# --------------------------------------------------------------------------------------------
# 1. sizes above the limits, refused before anything is allocated

SIZES = [
    # (experiment text, key, limit that must be named)
    ("name: t\nnetworks: [resnet18]\ninputs: [64x64]\nmeshes: [100000x100000]\n", "meshes[0]", 64),
    (
        "name: t\nnetworks: [resnet18]\ninputs: [1000000000x1000000000]\nmeshes: [1x1]\n",
        "inputs[0]",
        16384,
    ),
    (BASE + "chip: {tile_rows: 1000000000000000000000000000000}\n", "chip.tile_rows", 1024),
    (BASE + "chip: {fmpus_per_tile: 100000}\n", "chip.fmpus_per_tile", 65536),
    (BASE + "chip: {fmm_bits: 10000000000000}\n", "chip.fmm_bits", 1000000000000),
    (BASE + "chip: {weight_buffer_blocks: 5000}\n", "chip.weight_buffer_blocks", 1024),
    (BASE + "chip: {activation_bits: 65}\n", "chip.activation_bits", 64),
]


@pytest.mark.parametrize(("text", "key", "limit"), SIZES)
def test_sizes_above_the_limits_are_refused(tmp_path, capsys, text, key, limit):
    line, path = run_text(tmp_path, capsys, text)
    assert f"{path}: {key}: " in line
    assert str(limit) in line


def test_a_huge_sweep_grid_is_refused_by_counting_not_expanding(tmp_path, capsys):
    # 3162 x 3162 = 9,998,244 combinations (by hand), above MAX_POINTS = 100,000
    values = ", ".join(str(v) for v in range(1, 3163))
    text = BASE + f"sweep:\n  grid:\n    energy.offchip_pj_per_bit: [{values}]\n"
    text += f"    energy.c2c_pj_per_bit: [{values}]\n"
    line, path = run_text(tmp_path, capsys, text)
    assert f"{path}: sweep: " in line
    assert "9998244" in line and str(limits.MAX_POINTS) in line


def test_points_of_all_axes_together_are_counted(tmp_path, capsys):
    # 40 networks x 50 inputs x 60 meshes = 120,000 points, each list alone is small
    nets = ", ".join(["resnet18"] * 40)
    inputs = ", ".join(f"{64 + i}x64" for i in range(50))
    meshes = ", ".join(f"{1 + i % 8}x{1 + i // 8}" for i in range(60))
    text = f"name: t\nnetworks: [{nets}]\ninputs: [{inputs}]\nmeshes: [{meshes}]\n"
    line, path = run_text(tmp_path, capsys, text)
    assert f"{path}: meshes: " in line
    assert "120000 points" in line


# --------------------------------------------------------------------------------------------
# 2.-4. physical numbers: plausible ranges, strict types, a non-zero energy table

NUMBERS = [
    # (override, key, text that must appear: the bound or what was expected)
    ("system: {offchip_bandwidth_gbps: 1.0e-300}", "system.offchip_bandwidth_gbps", "0.001"),
    ("system: {link_bandwidth_gbps: 1.0e+300}", "system.link_bandwidth_gbps", "1000000"),
    ("system: {link_latency_ns: 1.0e+18}", "system.link_latency_ns", "1000000000"),
    ("energy: {offchip_pj_per_bit: 1.0e+308}", "energy.offchip_pj_per_bit", "1000000"),
    ("energy: {logic_leakage_mw_per_chip: 1.0e+9}", "energy.logic_leakage_mw_per_chip", "1000000"),
    ("energy: {dynamic_voltage_exponent: 11}", "energy.dynamic_voltage_exponent", "10"),
    ("energy: {reference_voltage_v: 0.01}", "energy.reference_voltage_v", "0.05"),
    # 1e300 without a dot is a number in YAML 1.2 (and to users), not the string '1e300'
    (
        "chip: {operating_points: {efficient: {frequency_mhz: 1e300}}}",
        "chip.operating_points.efficient.frequency_mhz",
        "100000",
    ),
    (
        "chip: {operating_points: {efficient: {voltage_v: 50}}}",
        "chip.operating_points.efficient.voltage_v",
        "5",
    ),
    ("energy: {offchip_pj_per_bit: true}", "energy.offchip_pj_per_bit", "expected a number"),
    ('energy: {offchip_pj_per_bit: "3"}', "energy.offchip_pj_per_bit", "expected a number"),
    ('system: {link_latency_ns: "20"}', "system.link_latency_ns", "expected a number"),
]


@pytest.mark.parametrize(("override", "key", "expected"), NUMBERS)
def test_physical_numbers_outside_their_range_or_type_are_refused(
    tmp_path, capsys, override, key, expected
):
    line, path = run_text(tmp_path, capsys, BASE + override + "\n")
    assert f"{path}: {key}: " in line
    assert expected in line


def test_integers_are_still_valid_numbers(tmp_path):
    # strict floats refuse bool and str, not ints: 21 is the preset's own value (as int)
    path = tmp_path / "exp.yaml"
    path.write_text(BASE + "energy: {offchip_pj_per_bit: 21}\n")
    from hyperdrive_sim.spec.experiment import ExperimentSpec

    assert loader.validate(ExperimentSpec, loader.load(path)).energy.offchip_pj_per_bit == 21.0


def test_an_all_zero_energy_table_is_refused(tmp_path, capsys):
    # every per-action energy of EnergyTable, listed by hand (leakage is power, not per action)
    zero = (
        "binary_mac_pj: 0, fp16_add_pj: 0, xnor_mac_pj: 0, fp16_mul_pj: 0, "
        "fmm_read_pj_per_bit: 0, fmm_write_pj_per_bit: 0, wbuf_read_pj_per_bit: 0, "
        "wbuf_write_pj_per_bit: 0, offchip_pj_per_bit: 0, c2c_pj_per_bit: 0, "
        "serdes_pj_per_bit: 0, io_activity: 0, "  # board wires: io_activity x C x V^2
        # the per-bit SRAM rule instead of the preset's memory table (whose SRAMs cost energy)
        "memory_table: null, sram_leakage_mw_per_mbit: 0.06, sram_reference_bits: 6400000, "
        "sram_energy_exponent: 0.5"
    )
    line, path = run_text(tmp_path, capsys, BASE + f"energy: {{{zero}}}\n")
    assert f"{path}: energy: " in line
    assert "TOp/s/W is undefined at zero energy" in line


def test_sweep_values_are_as_strict_as_the_spec(tmp_path, capsys):
    line, _ = run_text(
        tmp_path, capsys, BASE + "sweep: {grid: {energy.c2c_pj_per_bit: [1, true]}}\n"
    )
    assert "exp.yaml: sweep: " in line
    assert "energy.c2c_pj_per_bit: expected a number, got True" in line


def test_baseline_numbers_are_strict(tmp_path, capsys):
    text = BASE + 'baselines: [{include: accelerators/yodann, peak_gops: "1510"}]\n'
    line, path = run_text(tmp_path, capsys, text)
    assert f"{path}: baselines[0].peak_gops: expected a number, got '1510'" in line


# --------------------------------------------------------------------------------------------
# 5. YAML that would exhaust time or memory; the test finishing is part of the check


def test_an_alias_bomb_is_refused_before_expansion(tmp_path, capsys):
    # 9 levels of 10 aliases: 10**9 values once expanded, from a few hundred bytes
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    line, path = run_text(tmp_path, capsys, "\n".join(lines) + "\n" + BASE)
    assert f"{path}: " in line
    assert str(limits.MAX_YAML_NODES) in line and "aliases" in line


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path, capsys):
    line, path = run_text(tmp_path, capsys, "a: &a [1, *a]\n" + BASE)
    assert f"{path}: " in line and "alias *a" in line


def test_deep_nesting_is_refused(tmp_path, capsys):
    text = "name: t\ninputs: [64x64]\nnetworks: " + "[" * 700 + "resnet18" + "]" * 700 + "\n"
    line, path = run_text(tmp_path, capsys, text)
    assert f"{path}: " in line
    assert f"nested more than {limits.MAX_YAML_DEPTH} deep" in line


def test_a_long_include_chain_is_refused(tmp_path, capsys):
    for i in range(1500):
        body = f"include: inc{i + 1}.yaml\n" if i < 1499 else "tile_rows: 3\n"
        (tmp_path / f"inc{i}.yaml").write_text(body)
    line, _ = run_text(tmp_path, capsys, BASE + "chip: {include: inc0.yaml}\n")
    assert "chip.include: " in line
    assert f"more than {limits.MAX_INCLUDE_DEPTH} files deep" in line


def test_a_device_is_refused_without_reading_it(tmp_path, capsys):
    line = run(tmp_path, capsys, "/dev/zero")
    assert line == (
        "hyperdrive-sim: error: /dev/zero: expected a YAML file, got a device, pipe or socket"
    )


def test_a_file_above_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_YAML_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text(BASE + "description: " + "x" * 200 + "\n")
    with pytest.raises(SpecError, match="larger than 100 bytes") as info:
        loader.read_yaml(path)
    assert info.value.file == str(path)


# --------------------------------------------------------------------------------------------
# 1. and 6. network files: bounded sizes, and every error names the network file


def network_case(tmp_path: Path, capsys, layers: str, inputs: str = "64x64") -> tuple[str, Path]:
    net = tmp_path / "net.yaml"
    net.write_text(f"name: n\nlayers:\n{layers}", encoding="utf-8")
    text = f"name: t\nnetworks: [net.yaml]\ninputs: [{inputs}]\nmeshes: [1x1]\n"
    line, _ = run_text(tmp_path, capsys, text)
    return line, net


def test_network_upsample_factor_is_bounded(tmp_path, capsys):
    line, net = network_case(
        tmp_path,
        capsys,
        "  - {name: a, type: conv, out: 8, kernel: 3}\n  - {type: upsample, factor: 1000000}\n",
    )
    assert f"{net}: layers[1].factor: " in line and str(limits.MAX_UPSAMPLE) in line


def test_network_kernel_is_bounded(tmp_path, capsys):
    line, net = network_case(tmp_path, capsys, "  - {type: conv, out: 8, kernel: 2000}\n")
    assert f"{net}: layers[0].kernel: " in line and str(limits.MAX_KERNEL) in line


def test_network_channels_are_bounded(tmp_path, capsys):
    line, net = network_case(tmp_path, capsys, "  - {type: conv, out: 2000000, kernel: 1}\n")
    assert f"{net}: layers[0].out: " in line and str(limits.MAX_CHANNELS) in line


def network_cli(tmp_path: Path, capsys, layers: str, inputs: str) -> tuple[str, Path]:
    """``hyperdrive-sim network FILE``: shape errors exit 2 in one line."""
    net = tmp_path / "net.yaml"
    net.write_text(f"name: n\nlayers:\n{layers}", encoding="utf-8")
    rc = main(["network", str(net), "--input", inputs])
    err = capsys.readouterr().err
    assert rc == 2 and "internal error" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip(), net


def test_network_map_size_is_bounded_at_shape_inference(tmp_path, capsys):
    # 1,048,576 channels x 4096 x 4096 = 1.76e13 values (by hand) > MAX_MAP_ELEMENTS = 2**32
    layers = "  - {name: big, type: conv, out: 1048576, kernel: 1}\n"
    line, net = network_cli(tmp_path, capsys, layers, "4096x4096")
    assert f"{net}: layers.big: " in line and str(limits.MAX_MAP_ELEMENTS) in line


GROUPS = "  - {name: a, type: conv, out: 16, kernel: 3, groups: 3}\n"
GROUPS_ERROR = "layers.a: groups=3 must divide input channels 3 and output channels 16"


def test_network_shape_errors_name_the_file_and_layer(tmp_path, capsys):
    # groups=3 divides the 3 image channels but not the 16 output channels
    line, net = network_cli(tmp_path, capsys, GROUPS, "64x64")
    assert line == f"hyperdrive-sim: error: {net}: {GROUPS_ERROR}"


def test_a_run_reports_the_shape_error_with_the_file_as_the_reason(tmp_path, capsys):
    # in a run, a network that cannot be shaped is an infeasible point, not a fatal error
    net = tmp_path / "net.yaml"
    net.write_text(f"name: n\nlayers:\n{GROUPS}", encoding="utf-8")
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: t\nnetworks: [net.yaml]\ninputs: [64x64]\nmeshes: [1x1]\n")
    out = tmp_path / "o"
    assert main(["run", str(exp), "--no-plots", "--no-progress", "--out", str(out)]) == 0
    assert f"does not fit: {net}: {GROUPS_ERROR}" in capsys.readouterr().out


def test_every_limit_is_documented():
    """docs/limits.md names every constant of hyperdrive_sim/limits.py (a new limit must be
    documented for users in the same change)."""
    from hyperdrive_sim import limits

    doc = (Path(__file__).resolve().parent.parent / "docs" / "limits.md").read_text()
    names = [n for n in vars(limits) if n.isupper()]
    assert names
    missing = [n for n in names if f"`{n}`" not in doc]
    assert not missing, f"not in docs/limits.md: {missing}"
