"""Robustness under hostile input, round two: one test per class of defect found by fuzzing
the newer commands (explore, fit, sensitivity, --set, weight files) and by reading files a
hostile experiment names. Each expects exit 2 with one line naming the file (or option) and
key, or, for the security cases, that nothing of a private file is read or quoted.

Expected messages, keys and bounds are written by hand from the input and limits.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hyperdrive_sim import limits
from hyperdrive_sim.cli import main
from hyperdrive_sim.errors import InputError, closest
from hyperdrive_sim.readfile import load_arrays, read_input

BASE = "name: t\nnetworks: [resnet18]\ninputs: [64x64]\nmeshes: [1x1]\n"
QUIET = ["--no-plots", "--no-progress", "--executor", "serial"]


def refused(capsys, argv: list[str]) -> str:
    """Run the CLI; assert exit 2 with exactly one error line, and return it."""
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.strip().splitlines() if "warning:" not in line]
    assert len(lines) == 1 and lines[0].startswith("hyperdrive-sim: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


def experiment(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_args(path: Path, tmp_path: Path) -> list[str]:
    return ["run", str(path), *QUIET, "--out", str(tmp_path / "out")]


# --------------------------------------------------------------------------------------------
# 1. unbounded reads: every file is checked (regular, size) before it is read


def test_dev_zero_as_pruning_weights_is_refused_unread(tmp_path, capsys):
    # the weight file used to be hashed in full first: /dev/zero grew without bound
    exp = experiment(tmp_path, BASE + "chip: {pruning: kernel_reuse, pruning_weights: /dev/zero}\n")
    line = refused(capsys, run_args(exp, tmp_path))
    assert "/dev/zero: pruning_weights: expected a weight file, got a device" in line


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, capsys):
    fifo = tmp_path / "w.npz"
    os.mkfifo(fifo)
    exp = experiment(tmp_path, BASE + f"chip: {{pruning: kernel_reuse, pruning_weights: {fifo}}}\n")
    start = time.monotonic()
    line = refused(capsys, run_args(exp, tmp_path))
    assert time.monotonic() - start < 20  # opening it for reading used to block forever
    assert "w.npz: pruning_weights: expected a weight file, got a device, pipe or socket" in line


@pytest.mark.parametrize("name", ["results.json", "exp.yaml"])
def test_fifos_named_as_results_or_experiments_are_refused(tmp_path, capsys, name):
    os.mkfifo(tmp_path / name)
    argv = (
        ["plot", str(tmp_path)] if name == "results.json" else run_args(tmp_path / name, tmp_path)
    )
    assert "got a device, pipe or socket" in refused(capsys, argv)


def test_read_input_stops_at_the_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"x" * 101)
    with pytest.raises(InputError, match="larger than 100 bytes"):
        read_input(path, limit=100, what="YAML file")
    assert read_input(path, limit=101, what="YAML file") == b"x" * 101


def test_an_npz_bomb_is_refused_before_decompressing(tmp_path, monkeypatch):
    # 64 MB of zeros compress to ~64 kB; the limit is checked on the declared sizes
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, a=np.zeros(8 * 1024**2))
    monkeypatch.setattr(limits, "MAX_WEIGHT_BYTES", 1024**2)
    with pytest.raises(InputError, match="once decompressed"):
        load_arrays(path, key="pruning_weights")


def test_an_npy_header_larger_than_its_data_is_refused(tmp_path):
    """A 100-byte file whose header declares 8 GB of data is refused before allocating."""
    path = tmp_path / "lie.npy"
    with path.open("wb") as fh:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 32)
    with pytest.raises(InputError, match="more than the file holds"):
        load_arrays(path)


# --------------------------------------------------------------------------------------------
# 2. memory: the Pareto front is tested in test_pareto.py (100,000 points under 1 GB); the
# sensitivity keeps only MC_CHUNK result rows however many samples


def test_sensitivity_holds_at_most_one_chunk_of_rows(tmp_path, monkeypatch):
    """With MC_CHUNK = 5 and 12 samples the runner is called with at most 5 variants at a
    time, and the quantiles equal those of one unchunked run (a second method)."""
    from hyperdrive_sim import sensitivity as sens
    from hyperdrive_sim.experiment import load_experiment

    spec, base = load_experiment(experiment(tmp_path, BASE))
    whole = sens.sensitivity(spec, base, samples=12, executor="serial", write=False)
    seen: list[int] = []
    serial = sens.RUNNERS["serial"]

    def counting(jobs, *args, **kw):
        seen.append(sum(len(__import__("json").loads(j[1])["variants"]) for j in jobs))
        return serial(jobs, *args, **kw)

    monkeypatch.setattr(sens, "MC_CHUNK", 5)
    monkeypatch.setitem(sens.RUNNERS, "serial", counting)
    chunked = sens.sensitivity(spec, base, samples=12, executor="serial", write=False)
    assert max(seen) <= 5 and sum(seen) > 12
    assert chunked.uncertainty == whole.uncertainty and chunked.tornado == whole.tornado


# --------------------------------------------------------------------------------------------
# 3. sensitivity ranges: checked against the parameter's own type and bounds when read

GE = "expected a number greater than or equal to"
RANGES = [
    ("energy", "offchip_pj_per_bit: {low: -5, high: 10, why: w}", f"low: {GE} 0"),
    ("energy", "reference_voltage_v: {low: 0.5, high: 50, why: w}",
     "high: expected a number less than or equal to 5"),
    ("system", "offchip_bandwidth_gbps: {low: 0, high: 10, why: w}", f"low: {GE} 0.001"),
    ("energy", "offchip_pj_per_bit: {low: '1', high: 10, why: w}", "expected a number, got '1'"),
    ("energy", "offchip_pj_per_bit: {low: true, high: 10, why: w}", "expected a number, got True"),
    ("chip", "fmm_bits: {low: 1.5, high: 10, why: w}", "low: must be a whole number"),
]  # fmt: skip


@pytest.mark.parametrize(("section", "entry", "expected"), RANGES)
def test_ranges_outside_their_parameter_are_refused_naming_the_file(
    tmp_path, capsys, section, entry, expected
):
    included = experiment(tmp_path, f"ranges:\n  {entry}\n", "part.yaml")
    preset = {"energy": "energy/hyperdrive_22fdx", "system": "systems/hyperdrive_mesh",
              "chip": "chips/hyperdrive"}[section]  # fmt: skip
    included.write_text(f"include: {preset}\n" + included.read_text())
    exp = experiment(tmp_path, BASE + f"{section}: {{include: part.yaml}}\n")
    param = entry.split(":")[0]
    line = refused(capsys, ["sensitivity", str(exp), "--samples", "2", "--no-plots",
                            "--out", str(tmp_path / "o")])  # fmt: skip
    # the included file, not the experiment, and the key ranges.<param>
    assert f"part.yaml: {section}.ranges.{param}" in line and expected in line, line


def test_ranges_whose_extremes_together_are_invalid_are_refused(tmp_path, capsys):
    """Every per-action energy may be zero alone, but not all at once (an efficiency needs
    energy): refused before any evaluation, naming the ranges. The board wires' energy is
    zero with their activity; the datapath's per-bit costs only set ratios (never zero)."""
    from hyperdrive_sim.spec.defaults import default_section
    from hyperdrive_sim.spec.models import DATAPATH_PRIMITIVES

    energy = default_section("energy")
    # a SerDes lane's energy is not sampled on the preset's CMOS links: it is set to 0
    unused = "serdes_pj_per_bit"
    zero = [
        k
        for k in energy.model_dump()
        if k.endswith(("_pj", "_per_bit")) and k not in (*DATAPATH_PRIMITIVES, unused)
    ] + ["io_activity"]
    # the per-bit SRAM rule: a memory table's SRAM energies are never zero
    per_bit = (
        "memory_table: null\n  sram_leakage_mw_per_mbit: 0.06\n  "
        "sram_reference_bits: 6400000\n  sram_energy_exponent: 0.5\n  "
    )
    ranges = "".join(f"    {k}: {{low: 0, high: 1, why: w}}\n" for k in zero)
    values = "\n  ".join(f"{k}: 0.5" for k in zero)
    exp = experiment(
        tmp_path,
        BASE + "area: {sram_mm2_per_mbit: 0.2}\nenergy:\n  " + per_bit
        + f"{unused}: 0\n  {values}\n  ranges:\n" + ranges,
    )  # fmt: skip
    line = refused(capsys, ["sensitivity", str(exp), "--samples", "2", "--no-plots",
                            "--out", str(tmp_path / "o")])  # fmt: skip
    assert "energy.ranges" in line and "low end" in line, line


# --------------------------------------------------------------------------------------------
# 4. over-long path components: one clear line in every command

LONG = "a" * 300


@pytest.mark.parametrize(
    "argv",
    [
        ["run", f"{LONG}.yaml"],
        ["explore", f"{LONG}.yaml"],
        ["sensitivity", f"{LONG}.yaml"],
        ["plot", LONG],
        ["fit", "resnet18", "--input", "64x64", "--chip", f"{LONG}.yaml"],
    ],
    ids=["run", "explore", "sensitivity", "plot", "fit"],
)
def test_over_long_path_parts_are_one_line(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    line = refused(capsys, argv)
    assert "has 30" in line and "at most 255" in line, line  # 300 or 305 characters


def test_over_long_include_is_one_line(tmp_path, capsys):
    exp = experiment(tmp_path, BASE + f"chip: {{include: {LONG}}}\n")
    line = refused(capsys, run_args(exp, tmp_path))
    assert "chip.include" in line and "at most 255" in line, line


# --------------------------------------------------------------------------------------------
# 5. explore blocks with nonsense

EXPLORE = (
    "name: e\nnetworks: [resnet18]\ninputs: [64x64]\nexplore:\n  mesh: {max_rows: 2, max_cols: 2}\n"
)
NONSENSE = [
    ("  objectives: {energy: min, total_energy_j: min}\n", "explore.objectives.total_energy_j",
     "same result column"),
    ("  objectives: {energy: min, total_energy_j: max}\n", "explore.objectives.total_energy_j",
     "opposite senses"),
    ("  objectives: {energy: min, fps: max}\n  axes: {evaluator: [analytic, bogus]}\n",
     "explore.axes", "unknown evaluator 'bogus'"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "key", "expected"), NONSENSE)
def test_explore_nonsense_is_refused(tmp_path, capsys, extra, key, expected):
    exp = experiment(tmp_path, EXPLORE + extra)
    line = refused(capsys, ["explore", str(exp), *QUIET, "--out", str(tmp_path / "o")])
    assert key in line and expected in line, line


def test_an_empty_mesh_space_is_refused(tmp_path, capsys):
    text = EXPLORE.replace(
        "{max_rows: 2, max_cols: 2}", "{min_rows: 3, max_rows: 4, max_cols: 2, aspect: square}"
    )
    exp = experiment(tmp_path, text + "  objectives: {energy: min, fps: max}\n")
    line = refused(capsys, ["explore", str(exp), *QUIET, "--out", str(tmp_path / "o")])
    assert "explore.mesh" in line and "the space is empty" in line, line


@pytest.mark.parametrize(
    "section",
    [
        "meshes: [1x1]",
        "sweep: {grid: {chip.fmm_bits: [1000000]}}",
        "baselines: [{include: accelerators/yodann}]",
    ],
)
def test_sections_explore_would_ignore_are_refused(tmp_path, capsys, section):
    exp = experiment(tmp_path, EXPLORE + "  objectives: {energy: min, fps: max}\n" + section + "\n")
    line = refused(capsys, ["explore", str(exp), *QUIET, "--out", str(tmp_path / "o")])
    assert f"'{section.split(':')[0]}' is not used beside 'explore'" in line, line


# --------------------------------------------------------------------------------------------
# 6. errors that blame the right place

SETS = [
    ("chip.fmm_bits.x.y=1", "--set: chip.fmm_bits: expected an integer"),
    ("a.b.c.d=1", "--set: a: unknown key"),
    ("name.x=1", "--set: name: expected a string"),
    ("networks=[]", "--set: networks: give at least one entry"),
    ("meshes.0.rows=3", "--set: meshes[0].cols: required key is missing"),
]


@pytest.mark.parametrize(("override", "expected"), SETS)
def test_set_errors_name_the_option(tmp_path, capsys, override, expected):
    exp = experiment(tmp_path, BASE)
    line = refused(capsys, [*run_args(exp, tmp_path), "--set", override])
    assert expected in line, line


def test_a_bad_key_in_an_included_files_ranges_names_that_file(tmp_path, capsys):
    bad = "ranges:\n  offchp_pj_per_bit: {low: 1, high: 2, why: w}\n"
    experiment(tmp_path, "include: energy/hyperdrive_22fdx\n" + bad, "e.yaml")
    exp = experiment(tmp_path, BASE + "energy: {include: e.yaml}\n")
    line = refused(capsys, run_args(exp, tmp_path))
    assert "e.yaml: energy.ranges.offchp_pj_per_bit: unknown parameter" in line, line
    assert "did you mean 'offchip_pj_per_bit'" in line


@pytest.mark.parametrize("option", ["--chip", "--system"])
def test_empty_fit_files_name_the_option(capsys, option):
    line = refused(capsys, ["fit", "resnet18", "--input", "64x64", option, ""])
    assert f"{option}: expected a file path, got an empty string" in line


def test_fit_and_explore_on_a_pipeline_name_the_file(tmp_path, capsys):
    system = experiment(
        tmp_path, "include: systems/hyperdrive_mesh\norganisation: pipeline\n", "p.yaml"
    )
    line = refused(capsys, ["fit", "resnet18", "--input", "64x64", "--system", str(system)])
    assert "p.yaml: system.organisation" in line
    exp = experiment(
        tmp_path,
        EXPLORE + "  objectives: {energy: min, fps: max}\nsystem: {organisation: pipeline}\n",
    )
    line = refused(capsys, ["explore", str(exp), *QUIET, "--out", str(tmp_path / "o")])
    assert "exp.yaml: system.organisation" in line


# --------------------------------------------------------------------------------------------
# 7. silent acceptance


def test_duplicate_yaml_keys_are_refused(tmp_path, capsys):
    exp = experiment(tmp_path, BASE + "name: again\n")
    line = refused(capsys, run_args(exp, tmp_path))
    assert "duplicate key 'name'" in line and "(line 5)" in line, line


def test_an_empty_input_option_is_not_the_default(capsys):
    line = refused(capsys, ["network", "resnet18", "--input", ""])
    assert "--input" in line and "WIDTHxHEIGHT" in line


def test_an_onnx_graph_that_fails_at_an_input_exits_2(tmp_path, capsys, monkeypatch):
    """`run` files an ONNX import failure as bad input (as `network` does), not as a point
    that does not fit. The graph is stood in for by a network failing at 64x64."""
    from hyperdrive_sim import experiment as exp_module
    from hyperdrive_sim.errors import NetworkError

    class Failing:
        def at(self, height, width):
            raise NetworkError("shape of node 'n' does not follow", file="m.onnx", key="layers.n")

    monkeypatch.setattr(exp_module, "resolve_network", lambda ref, base=None: Failing())
    exp = experiment(tmp_path, BASE.replace("[resnet18]", "[{onnx: m.onnx}]"))
    line = refused(capsys, run_args(exp, tmp_path))
    assert "m.onnx: layers.n: shape of node 'n' does not follow" in line
    assert not (tmp_path / "out").exists()


def test_a_bad_scheduler_is_refused_even_when_everything_is_cached(tmp_path, capsys):
    exp = experiment(tmp_path, BASE)
    assert main(run_args(exp, tmp_path)) == 0  # every point now in the cache
    argv = ["run", str(exp), "--no-plots", "--no-progress", "--out", str(tmp_path / "out")]
    line = refused(capsys, [*argv, "--executor", "dask", "--scheduler", "::garbage::"])
    assert "--scheduler: expected a scheduler address" in line


# --------------------------------------------------------------------------------------------
# 8. corrupt weight archives


def test_verify_with_a_corrupt_zip_is_one_line(tmp_path, capsys):
    bad = tmp_path / "w.npz"
    bad.write_bytes(b"PK\x03\x04 this is no archive")
    line = refused(
        capsys, ["verify", "--network", "resnet18", "--input", "32x32", "--weights", str(bad)]
    )
    assert "w.npz: cannot read the weights (BadZipFile" in line


# --------------------------------------------------------------------------------------------
# 9. temporary files of a killed run


def test_a_killed_runs_temporary_file_is_removed_on_resume(tmp_path):
    """A cache entry half-written by a process that died is removed when the cache is next
    opened; one of a live process (a concurrent run) is kept."""
    from hyperdrive_sim.report.writers import _owner_tag
    from hyperdrive_sim.sweep.cache import PointCache

    cache = tmp_path / "cache"
    cache.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    host = _owner_tag().split("-")[1]
    stale = cache / f".abc.json.{dead}-{host}.x1y2.tmp"
    live = cache / f".def.json.{_owner_tag()}.z3w4.tmp"
    stale.write_text("{")
    live.write_text("{")
    PointCache(cache)
    assert not stale.exists() and live.exists()


# --------------------------------------------------------------------------------------------
# 10. security of include: and of error messages


def test_include_of_a_system_file_is_refused_and_not_read(tmp_path, capsys):
    exp = experiment(tmp_path, BASE + "chip: {include: /etc/passwd}\n")
    line = refused(capsys, run_args(exp, tmp_path))
    assert "chip.include" in line and "root:" not in line


def test_include_outside_the_experiments_folder_needs_permission(tmp_path, capsys, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "chip.yaml").write_text("include: chips/hyperdrive\nfmm_bits: 12800000\n")
    project = tmp_path / "project"
    project.mkdir()
    exp = experiment(project, BASE + f"chip: {{include: {elsewhere / 'chip.yaml'}}}\n")
    monkeypatch.delenv("HYPERDRIVE_SIM_INCLUDE_PATH", raising=False)
    line = refused(capsys, run_args(exp, tmp_path))
    assert "chip.include" in line and "outside the folders includes may read" in line
    # named with --include-dir (or the environment variable), it is read
    assert main(["--include-dir", str(elsewhere), *run_args(exp, tmp_path)]) == 0


def test_a_symlink_out_of_the_folder_is_refused(tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s.yaml").write_text("tile_rows: 4\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "link.yaml").symlink_to(secret / "s.yaml")
    exp = experiment(project, BASE + "chip: {include: link.yaml}\n")
    line = refused(capsys, run_args(exp, tmp_path))
    assert "outside the folders includes may read" in line


PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
SHADOW = "root:*:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n"


@pytest.mark.parametrize("content", [PRIVATE, SHADOW], ids=["key", "shadow"])
@pytest.mark.parametrize("how", ["run", "fit-chip", "include"])
def test_errors_never_quote_a_file_that_is_no_spec(tmp_path, capsys, content, how):
    private = experiment(tmp_path, content, "private.yaml")
    if how == "run":
        argv = run_args(private, tmp_path)
    elif how == "fit-chip":
        argv = ["fit", "resnet18", "--input", "64x64", "--chip", str(private)]
    else:
        argv = run_args(experiment(tmp_path, BASE + "chip: {include: private.yaml}\n"), tmp_path)
    line = refused(capsys, argv)
    assert "private.yaml" in line
    for secret in ("OPENSSH", "b3Blbn", "root:", "20228", "daemon"):
        assert secret not in line, line


def test_files_without_a_yaml_suffix_are_never_parsed(tmp_path, capsys):
    private = tmp_path / "id_rsa"
    private.write_text(PRIVATE)
    line = refused(capsys, run_args(private, tmp_path))
    assert "ends in .yaml or .yml" in line and "OPENSSH" not in line


# --------------------------------------------------------------------------------------------
# 11. ONNX external data: only a regular, single-link file inside the model's folder


def _model_with_external_weights(folder: Path, location: str) -> Path:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 1, 1, 1], vals=[1.0] * 4)
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("float_data")
    for k, v in {"location": location, "offset": "0", "length": "16"}.items():
        entry = weight.external_data.add()
        entry.key, entry.value = k, v
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1], name="conv")
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], [weight]))
    path = folder / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "traversal", "absolute"])
def test_onnx_external_data_outside_the_model_is_refused(tmp_path, kind):
    from hyperdrive_sim.techniques.kernel_reuse import load_weights

    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    location = {"symlink": "w.bin", "hardlink": "w.bin", "traversal": "../outside.bin",
                "absolute": str(outside)}[kind]  # fmt: skip
    if kind == "symlink":
        (model_dir / "w.bin").symlink_to(outside)
    elif kind == "hardlink":
        os.link(outside, model_dir / "w.bin")
    path = _model_with_external_weights(model_dir, location)
    with pytest.raises(InputError, match="external data"):
        load_weights(path)


def test_onnx_external_data_beside_the_model_is_read(tmp_path):
    from hyperdrive_sim.techniques.kernel_reuse import load_weights

    (tmp_path / "w.bin").write_bytes(np.array([1, -2, 3, -4], dtype=np.float32).tobytes())
    weights = load_weights(_model_with_external_weights(tmp_path, "w.bin"))
    assert weights["conv"].ravel().tolist() == [1, -2, 3, -4]


# --------------------------------------------------------------------------------------------
# issue 21: error messages


def test_did_you_mean_prefers_the_nearest_number():
    # resnet35 is one edit from resnet34 and two from resnet50
    assert closest("resnet35", ["resnet18", "resnet34", "resnet50", "resnet152"]) == "resnet34"
    assert closest("resnet51", ["resnet18", "resnet34", "resnet50", "resnet152"]) == "resnet50"
    assert closest("zzz", ["resnet18"]) is None


def test_several_problems_are_listed_in_full(tmp_path, capsys):
    exp = experiment(tmp_path, BASE + "chip: {tile_rows: -1, tile_cols: -2}\n")
    line = refused(capsys, run_args(exp, tmp_path))
    assert "chip.tile_rows: expected a number greater than 0, got -1" in line
    assert "also chip.tile_cols: expected a number greater than 0, got -2" in line


def test_a_sweep_axis_typo_gets_a_suggestion(tmp_path, capsys):
    exp = experiment(tmp_path, BASE + "sweep: {grid: {chip.fmm_bit: [1000000]}}\n")
    assert "did you mean 'fmm_bits'" in refused(capsys, run_args(exp, tmp_path))


def test_a_missing_onnx_file_is_file_not_found(tmp_path, capsys):
    line = refused(capsys, ["network", str(tmp_path / "missing.onnx")])
    assert "missing.onnx: file not found" in line


SIZES = [
    ("1080x1920", True),  # full HD turned round
    ("720x1280", True),
    ("480x640", True),  # VGA turned round
    ("1920x1080", False),
    ("600x700", False),  # portrait, but neither standard nor taller than 16:9
    ("224x224", False),
    ("8x18", False),  # a small test image, not a video frame
    ("400x1000", True),  # taller than 16:9
]


@pytest.mark.parametrize(("size", "warned"), SIZES)
def test_a_likely_swapped_input_is_warned_about(capsys, size, warned):
    assert main(["network", "resnet18", "--input", size, "--json"]) == 0
    err = capsys.readouterr().err
    assert ("WIDTHxHEIGHT" in err and "portrait" in err) is warned, err
    assert "error" not in err


def test_every_file_read_goes_through_the_checked_reader():
    """The mechanism, not the cases: no module reads a file but hyperdrive_sim.readfile
    (the figure code hashes its own source files, which are the package's)."""
    import re

    import hyperdrive_sim

    package = Path(hyperdrive_sim.__file__).parent
    reads = re.compile(
        r"\.read_text\(|\.read_bytes\(|np\.load\(|onnx\.load\(|json\.load\(|(?<![\w.])open\("
    )
    allowed = {"readfile.py", "report/writers.py"}  # writers: its own temp files, /proc
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            own_source = 'add(f"code' in code  # the figure code hashes its own files
            if reads.search(code) and name not in allowed and not own_source:
                found.append(f"{name}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
    # the pattern does find the reads it looks for
    for read in ("p.read_text()", "p.read_bytes()", "np.load(p)", "with open(p) as fh:"):
        assert reads.search(read), read
