"""Spec loading: include + overrides, error locations, value parsing, unit conversions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from hyperdrive_sim.errors import InputError, SpecError
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.experiment import ExperimentSpec
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import (
    ChipSpec,
    EnergyTable,
    Mesh,
    NetworkRef,
    Resolution,
    SystemSpec,
)

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"

SECTIONS = """
system: {include: systems/hyperdrive_mesh}
energy: {include: energy/hyperdrive_22fdx}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_experiment(path: Path) -> ExperimentSpec:
    return loader.validate(ExperimentSpec, loader.load(path))


def experiment_text(chip: str, name: str = "exp") -> str:
    return f"name: {name}\nnetworks: [resnet18]\ninputs: [224x224]\nchip: {chip}\n{SECTIONS}"


def preset_chip() -> ChipSpec:
    return loader.validate(ChipSpec, loader.load(CONFIGS / "chips" / "hyperdrive.yaml"))


def preset_hardware(**chip_changes) -> Hardware:
    chip = ChipSpec.model_validate({**preset_chip().model_dump(), **chip_changes})
    system = loader.validate(SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml"))
    energy = loader.validate(EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml"))
    return Hardware(chip, system, energy, system.mesh)


# --------------------------------------------------------------------------------------------
# include + overrides


def test_include_with_override_replaces_one_key_and_keeps_the_rest(tmp_path):
    path = write(
        tmp_path, "exp.yaml", experiment_text("{include: chips/hyperdrive, fmm_bits: 8000000}")
    )
    chip = load_experiment(path).chip
    assert chip.fmm_bits == 8_000_000
    preset = preset_chip()
    kept = {"fmm_bits", "sources"}
    assert chip.model_dump(exclude=kept) == preset.model_dump(exclude=kept)
    assert preset.fmm_bits != 8_000_000
    # the preset's provenance no longer describes the overridden value; the rest is kept
    assert chip.sources["fmm_bits"] == "set in exp.yaml"
    assert {k: v for k, v in chip.sources.items() if k != "fmm_bits"} == {
        k: v for k, v in preset.sources.items() if k != "fmm_bits"
    }


def test_override_deep_merges_nested_mappings(tmp_path):
    chip = "{include: chips/hyperdrive, operating_points: {efficient: {frequency_mhz: 50}}}"
    spec = load_experiment(write(tmp_path, "exp.yaml", experiment_text(chip)))
    points = spec.chip.operating_points
    assert points["efficient"].frequency_mhz == 50
    assert points["efficient"].voltage_v == 0.5  # kept from the preset
    assert set(points) == {"efficient", "nominal"}  # the other point is kept too


def test_override_can_add_a_new_operating_point_and_select_it(tmp_path):
    chip = (
        "{include: chips/hyperdrive, operating_point: turbo, "
        "operating_points: {turbo: {voltage_v: 0.9, frequency_mhz: 400}}}"
    )
    spec = load_experiment(write(tmp_path, "exp.yaml", experiment_text(chip)))
    assert spec.chip.point.frequency_mhz == 400
    assert set(spec.chip.operating_points) == {"efficient", "nominal", "turbo"}


def test_nested_includes_apply_overrides_outermost_last(tmp_path):
    write(tmp_path, "chips/small.yaml", "include: chips/hyperdrive\ntile_rows: 4\nfmm_bits: 1000\n")
    chip = "{include: chips/small.yaml, fmm_bits: 2000}"
    spec = load_experiment(write(tmp_path, "exp.yaml", experiment_text(chip)))
    assert spec.chip.tile_rows == 4  # from small.yaml
    assert spec.chip.fmm_bits == 2000  # the experiment overrides small.yaml
    assert spec.chip.tile_cols == preset_chip().tile_cols  # from the bundled preset


def test_include_next_to_the_file_wins_over_the_bundled_one(tmp_path):
    write(tmp_path, "chips/hyperdrive.yaml", "include: ../orig.yaml\ntile_rows: 3\n")
    write(tmp_path, "orig.yaml", (CONFIGS / "chips/hyperdrive.yaml").read_text())
    spec = load_experiment(
        write(tmp_path, "exp.yaml", experiment_text("{include: chips/hyperdrive}"))
    )
    assert spec.chip.tile_rows == 3


def test_include_by_absolute_path(tmp_path):
    chip = f"{{include: {CONFIGS / 'chips' / 'hyperdrive.yaml'}}}"
    spec = load_experiment(write(tmp_path, "exp.yaml", experiment_text(chip)))
    assert spec.chip == preset_chip()


def test_include_at_top_level_then_override(tmp_path):
    write(tmp_path, "base.yaml", experiment_text("{include: chips/hyperdrive}", name="base"))
    path = write(tmp_path, "exp.yaml", "include: base.yaml\nname: derived\ninputs: [64x32]\n")
    spec = load_experiment(path)
    assert spec.name == "derived"
    assert spec.inputs == [Resolution(height=32, width=64)]
    assert [str(n) for n in spec.networks] == ["resnet18"]


# --------------------------------------------------------------------------------------------
# errors name the file the user has to edit, and the key path


def test_error_in_an_included_file_names_that_file(tmp_path):
    chip_file = write(tmp_path, "my_chip.yaml", "include: chips/hyperdrive\ntile_rows: -3\n")
    path = write(tmp_path, "exp.yaml", experiment_text("{include: my_chip.yaml}"))
    with pytest.raises(SpecError) as info:
        load_experiment(path)
    assert info.value.file == str(chip_file.resolve())
    assert info.value.key == "chip.tile_rows"
    assert "greater than 0" in info.value.detail


def test_error_in_an_override_names_the_including_file(tmp_path):
    path = write(tmp_path, "exp.yaml", experiment_text("{include: chips/hyperdrive, fmm_bits: x}"))
    with pytest.raises(SpecError) as info:
        load_experiment(path)
    assert info.value.file == str(path.resolve())
    assert info.value.key == "chip.fmm_bits"
    assert "expected an integer" in str(info.value)


def test_unknown_key_points_at_the_key_and_suggests_a_name(tmp_path):
    path = write(tmp_path, "exp.yaml", experiment_text("{include: chips/hyperdrive, tile_rowz: 2}"))
    with pytest.raises(SpecError) as info:
        load_experiment(path)
    assert info.value.key == "chip.tile_rowz"
    assert "did you mean 'tile_rows'" in info.value.detail
    assert info.value.exit_code == 2


def test_undefined_operating_point_points_at_the_key(tmp_path):
    path = write(
        tmp_path, "exp.yaml", experiment_text("{include: chips/hyperdrive, operating_point: x}")
    )
    with pytest.raises(SpecError) as info:
        load_experiment(path)
    assert info.value.key == "chip.operating_point"
    assert "efficient, nominal" in info.value.detail


def test_unknown_zoo_network_names_the_list_entry(tmp_path):
    text = experiment_text("{include: chips/hyperdrive}").replace("resnet18", "resnet19")
    with pytest.raises(SpecError) as info:
        load_experiment(write(tmp_path, "exp.yaml", text))
    assert info.value.key == "networks[0]"
    assert "did you mean 'resnet18'" in info.value.detail


def test_include_cycle(tmp_path):
    write(tmp_path, "a.yaml", "include: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "include: a.yaml\n")
    with pytest.raises(SpecError, match=r"include cycle: a\.yaml -> b\.yaml -> a\.yaml"):
        loader.load(tmp_path / "a.yaml")


def test_self_include_is_a_cycle(tmp_path):
    write(tmp_path, "a.yaml", "chip: {include: a.yaml}\n")
    with pytest.raises(SpecError, match="include cycle"):
        loader.load(tmp_path / "a.yaml")


def test_missing_include_names_the_include_key(tmp_path):
    path = write(tmp_path, "exp.yaml", experiment_text("{include: chips/nothere}"))
    with pytest.raises(SpecError) as info:
        loader.load(path)
    assert info.value.key == "chip.include"
    assert "'chips/nothere' not found" in info.value.detail


def test_included_file_must_hold_a_mapping(tmp_path):
    write(tmp_path, "list.yaml", "- 1\n- 2\n")
    path = write(tmp_path, "exp.yaml", experiment_text("{include: list.yaml}"))
    with pytest.raises(SpecError, match="must hold a mapping") as info:
        loader.load(path)
    assert info.value.file.endswith("list.yaml")


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: x\nchip: {a: 1\nsystem: 2\n")
    with pytest.raises(SpecError, match=r"line \d+, column \d+") as info:
        loader.load(path)
    assert info.value.file == str(path.resolve())


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        loader.load(tmp_path / "nothere.yaml")
    with pytest.raises(SpecError, match="empty"):
        loader.load(write(tmp_path, "empty.yaml", "# only a comment\n"))


def test_non_string_keys_are_rejected(tmp_path):
    with pytest.raises(SpecError, match="keys must be strings"):
        loader.load(write(tmp_path, "k.yaml", "chip: {1: 2}\n"))


def test_spec_errors_are_input_errors_with_exit_code_2():
    error = SpecError("expected x", file="f.yaml", key="chip.fmm_bits")
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    assert str(error) == "f.yaml: chip.fmm_bits: expected x"


def test_format_key():
    assert loader.format_key(("layers", 2, "kernel")) == "layers[2].kernel"
    assert loader.format_key(("meshes", 0)) == "meshes[0]"
    assert loader.format_key(()) == ""


# --------------------------------------------------------------------------------------------
# Mesh, Resolution and NetworkRef parsing


def test_resolution_is_width_by_height():
    res = Resolution.model_validate("1920x1080")
    assert (res.width, res.height) == (1920, 1080)
    assert str(res) == "1920x1080"


def test_mesh_is_rows_by_cols():
    mesh = Mesh.model_validate("4x2")
    assert (mesh.rows, mesh.cols, mesh.chips) == (4, 2, 8)
    assert str(mesh) == "4x2"


@pytest.mark.parametrize("text", ["4x2", "4X2", "4×2", " 4 x 2 ", [4, 2]])
def test_mesh_spellings(text):
    assert Mesh.model_validate(text) == Mesh(rows=4, cols=2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4by4", "ROWSxCOLS"),
        ("4x", "ROWSxCOLS"),
        ("4x4x4", "ROWSxCOLS"),
        ("0x2", "positive"),
        ("2x-1", "ROWSxCOLS"),
        (2, "quote it"),  # what YAML makes of an unquoted 0x2
        ([1, 2, 3], "ROWSxCOLS"),
        ([1.5, 2], "ROWSxCOLS"),
        (True, "ROWSxCOLS"),
    ],
)
def test_bad_meshes(value, message):
    with pytest.raises(ValidationError, match=message):
        Mesh.model_validate(value)


@pytest.mark.parametrize("value", ["1920by1080", "0x1080", "1920x0", 548])
def test_bad_resolutions(value):
    with pytest.raises(ValidationError, match="input resolution"):
        Resolution.model_validate(value)


def test_network_ref_forms():
    assert NetworkRef.model_validate("resnet18").zoo == "resnet18"
    assert NetworkRef.model_validate("nets/my.yaml").file == "nets/my.yaml"
    with pytest.raises(ValidationError, match="exactly one"):
        NetworkRef.model_validate({"zoo": "resnet18", "file": "x.yaml"})


# --------------------------------------------------------------------------------------------
# Hardware: bandwidths and latencies in chip-clock cycles


def test_hardware_conversions_at_100_mhz():
    hw = preset_hardware()
    assert hw.chip.point.frequency_mhz == 100  # the preset's 'efficient' point
    assert hw.frequency_hz == 100e6
    # 12.8 Gbit/s / 100 MHz = 12.8e9 / 1e8 = 128 bits per cycle
    assert hw.offchip_bits_per_cycle == pytest.approx(128)
    # 100 ns * 100 MHz = 100e-9 s * 1e8 /s = 10 cycles
    assert hw.offchip_latency_cycles == 10
    # 1.6 Gbit/s / 100 MHz = 16 bits per cycle on a chip-to-chip link
    assert hw.link_bits_per_cycle == pytest.approx(16)
    # 20 ns * 100 MHz = 2 cycles
    assert hw.link_latency_cycles == 2
    # peak: M * N * C = 7 * 7 * 16 = 784 binary MACs per cycle per chip, 2x2 mesh = 4 chips
    assert hw.peak_macs_per_cycle == 784 * 4


def test_hardware_conversions_at_300_mhz():
    hw = preset_hardware(operating_point="nominal")
    assert hw.frequency_hz == 300e6
    assert hw.voltage_v == 0.8
    # 12.8e9 / 3e8 = 42.67 bits per cycle: the same memory is slower per chip cycle
    assert hw.offchip_bits_per_cycle == pytest.approx(12.8e9 / 300e6)
    # 20 ns * 300 MHz = 20e-9 s * 3e8 /s = 6 cycles
    assert hw.link_latency_cycles == 6


def test_latency_rounds_up_to_whole_cycles():
    hw = preset_hardware(
        operating_points={"p": {"voltage_v": 0.5, "frequency_mhz": 40}}, operating_point="p"
    )
    # 100 ns * 40 MHz = 4 cycles exactly; 20 ns * 40 MHz = 0.8 -> rounded up to 1 cycle
    assert hw.offchip_latency_cycles == 4
    assert hw.link_latency_cycles == 1


@pytest.mark.parametrize(("mhz", "cycles"), [(300, 30), (30, 3)])
def test_exact_latencies_are_not_rounded_up_by_float_error(mhz, cycles):
    hw = preset_hardware(
        operating_points={"p": {"voltage_v": 0.5, "frequency_mhz": mhz}}, operating_point="p"
    )
    # 100 ns * 300 MHz = 30 cycles; 100 ns * 30 MHz = 3 cycles (exact, nothing to round)
    assert hw.offchip_latency_cycles == cycles


# --------------------------------------------------------------------------------------------
# frozen values


def test_specs_are_frozen():
    chip = preset_chip()
    with pytest.raises(ValidationError, match="frozen"):
        chip.fmm_bits = 1  # type: ignore[misc]
    mesh = Mesh.model_validate("2x2")
    with pytest.raises(ValidationError, match="frozen"):
        mesh.rows = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        chip.point.voltage_v = 1.0  # type: ignore[misc]


def test_hardware_is_frozen():
    hw = preset_hardware()
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.mesh = Mesh(rows=1, cols=1)  # type: ignore[misc]


def test_specs_reject_infinite_numbers():
    system = loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml").data
    with pytest.raises(ValidationError, match="finite"):
        SystemSpec.model_validate({**system, "offchip_bandwidth_gbps": float("inf")})


# --------------------------------------------------------------------------------------------
# defaults, --set overrides, experiments by name

BARE = "name: exp\nnetworks: [resnet18]\ninputs: [224x224]\n"


def test_omitted_sections_default_to_the_bundled_presets(tmp_path):
    spec = load_experiment(write(tmp_path, "exp.yaml", BARE))
    # the presets loaded directly from their files, sources included
    assert spec.chip == preset_chip()
    assert spec.system == loader.validate(
        SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml")
    )
    assert spec.energy == loader.validate(
        EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml")
    )


def test_a_section_without_include_overrides_the_preset(tmp_path):
    spec = load_experiment(write(tmp_path, "exp.yaml", BARE + "chip: {fmm_bits: 12800000}\n"))
    kept = {"fmm_bits", "sources"}
    assert spec.chip.fmm_bits == 12_800_000
    assert spec.chip.model_dump(exclude=kept) == preset_chip().model_dump(exclude=kept)
    assert spec.chip.sources["fmm_bits"] == "set in exp.yaml"


def test_a_section_with_include_is_not_merged_with_the_default(tmp_path):
    text = BARE + "energy: {include: energy/hyperdrive_journal}\n"
    spec = load_experiment(write(tmp_path, "exp.yaml", text))
    assert spec.energy.name == "hyperdrive_journal"
    assert spec.energy.binary_mac_pj == 0.2436  # configs/energy/hyperdrive_journal.yaml


def test_overrides_set_values_after_includes_and_defaults(tmp_path):
    path = write(tmp_path, "exp.yaml", BARE)
    sets = ["chip.fmm_bits=12800000", "energy.offchip_pj_per_bit=10", "meshes=[2x2,4x4]"]
    spec = loader.validate(ExperimentSpec, loader.load(path, sets))
    assert spec.chip.fmm_bits == 12_800_000
    assert spec.energy.offchip_pj_per_bit == 10.0
    assert [str(m) for m in spec.meshes] == ["2x2", "4x4"]
    assert spec.energy.sources["offchip_pj_per_bit"] == "set in --set"


def test_an_override_below_sweep_grid_keeps_the_dotted_axis_name(tmp_path):
    path = write(tmp_path, "exp.yaml", BARE)
    sets = ["sweep.grid.energy.offchip_pj_per_bit=[1, 2]"]
    spec = loader.validate(ExperimentSpec, loader.load(path, sets))
    assert spec.sweep.grid == {"energy.offchip_pj_per_bit": [1, 2]}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("chip.fmm_bits=true", "--set: chip.fmm_bits: expected an integer, got True"),
        ("chip.fmm_bitz=1", "--set: chip.fmm_bitz: unknown key (did you mean 'fmm_bits'?)"),
        ("meshes.3=1x1", "--set: meshes[3]: index 3 is outside the list"),
        ("fmm_bits", "--set: expected KEY=VALUE"),
    ],
)
def test_override_errors_name_the_override(tmp_path, override, message):
    path = write(tmp_path, "exp.yaml", BARE + "meshes: [1x1]\n")
    with pytest.raises(SpecError) as info:
        loader.validate(ExperimentSpec, loader.load(path, [override]))
    assert str(info.value).startswith(message)


def test_find_experiment_by_path_or_bundled_name(tmp_path):
    own = write(tmp_path, "mine.yaml", BARE)
    assert loader.find_experiment(own) == own
    expected = REPO / "experiments" / "quickstart.yaml"
    assert loader.find_experiment("quickstart") == expected
    assert loader.find_experiment("quickstart.yaml") == expected
    with pytest.raises(SpecError, match=r"bundled: .*quickstart") as info:
        loader.find_experiment("quikstart")
    assert info.value.file == "quikstart"


def test_yaml_exponent_numbers_without_a_dot_are_numbers():
    # YAML 1.1 reads 1e-3 as a string; users (and YAML 1.2) mean a number. Quoted stays text.
    assert loader.parse_yaml("[1e-3, 2E5, 1.5e3, '3', 0x10]", "x") == [0.001, 2e5, 1500.0, "3", 16]
