"""The command line: bad input gives one clear line and exit code 2, never a traceback.

Every malformed input below runs ``python -m hyperdrive_sim run`` in a subprocess and checks
the product rule: exit code 2, exactly one line on stderr naming the
file, the key path and what was expected, no "Traceback", and no results files written.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hyperdrive_sim import __version__, cli

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
CHIP_PRESET = REPO / "configs" / "chips" / "hyperdrive.yaml"
RESULT_FILES = ("results.csv", "results.json", "layers.csv", "manifest.json")

#: the shared experiment every case starts from; cases override top-level keys
TEMPLATE: dict = {
    "name": "cli_case",
    "networks": ["resnet18"],
    "inputs": ["224x224"],
    "meshes": ["2x2"],
    "chip": {"include": str(CHIP_PRESET)},  # by absolute path
    "system": {"include": "systems/hyperdrive_mesh"},  # resolved in the bundled configs/
    "energy": {"include": "energy/hyperdrive_22fdx"},
    "evaluator": "analytic",
}


def experiment(**overrides) -> str:
    """YAML text of the template with some top-level keys replaced."""
    return yaml.safe_dump({**TEMPLATE, **overrides}, sort_keys=False)


def with_section(section: str, **keys) -> str:
    """YAML text of the template with keys added to one included section."""
    return experiment(**{section: {**TEMPLATE[section], **keys}})


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hyperdrive_sim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@dataclass(frozen=True)
class Case:
    """One malformed input: the files to write, the file to run, what stderr must name."""

    id: str
    files: dict[str, str]
    file: str  # the file the message must name (its base name)
    key: str | None  # the key path the message must name (None: whole-file problem)
    expected: tuple[str, ...]  # hints of what was expected, all must appear
    main: str = "exp.yaml"


RAW_TEMPLATE = """name: cli_case
networks: [resnet18]
inputs: [224x224]
meshes: [2x2]
chip: {include: chips/hyperdrive}
system: {include: systems/hyperdrive_mesh}
energy: {include: energy/hyperdrive_22fdx}
"""

CASES = [
    Case(
        "unknown-top-level-key",
        {"exp.yaml": experiment(bogus=1)},
        "exp.yaml",
        "bogus",
        ("unknown key", "expected one of", "networks"),
    ),
    Case(
        "misspelled-chip-key",
        {"exp.yaml": with_section("chip", tile_rowz=4)},
        "exp.yaml",
        "chip.tile_rowz",
        ("unknown key", "did you mean 'tile_rows'"),
    ),
    Case(
        "wrong-type",
        {"exp.yaml": with_section("chip", fmm_bits="big")},
        "exp.yaml",
        "chip.fmm_bits",
        ("expected an integer", "'big'"),
    ),
    Case(
        "negative-size",
        {"exp.yaml": with_section("chip", fmm_bits=-5)},
        "exp.yaml",
        "chip.fmm_bits",
        ("greater than 0", "-5"),
    ),
    Case(
        "zero-tile-rows",
        {"exp.yaml": with_section("chip", tile_rows=0)},
        "exp.yaml",
        "chip.tile_rows",
        ("greater than 0",),
    ),
    Case(
        "zero-offchip-bandwidth",
        {"exp.yaml": with_section("system", offchip_bandwidth_gbps=0)},
        "exp.yaml",
        "system.offchip_bandwidth_gbps",
        ("greater than", "got 0"),  # the bound (0 or a minimum) is the spec's
    ),
    Case(
        "zero-link-bandwidth",
        {"exp.yaml": with_section("system", link_bandwidth_gbps=0)},
        "exp.yaml",
        "system.link_bandwidth_gbps",
        ("greater than", "got 0"),  # the bound (0 or a minimum) is the spec's
    ),
    Case(
        "infinite-bandwidth",
        {"exp.yaml": with_section("system", offchip_bandwidth_gbps=float("inf"))},  # .inf
        "exp.yaml",
        "system.offchip_bandwidth_gbps",
        ("finite number",),
    ),
    Case(
        "boolean-as-integer",
        {"exp.yaml": with_section("chip", fmm_bits=True)},  # YAML `true` is not 1
        "exp.yaml",
        "chip.fmm_bits",
        ("integer",),
    ),
    Case(
        "negative-latency",
        {"exp.yaml": with_section("system", link_latency_ns=-1)},
        "exp.yaml",
        "system.link_latency_ns",
        ("greater than or equal to 0",),
    ),
    Case(
        "bad-mesh-string",
        {"exp.yaml": experiment(meshes=["4by4"])},
        "exp.yaml",
        "meshes[0]",
        ("ROWSxCOLS", "'4by4'"),
    ),
    Case(
        "mesh-0x2-quoted",
        {"exp.yaml": experiment(meshes=["0x2"])},
        "exp.yaml",
        "meshes[0]",
        ("must be positive", "'0x2'"),
    ),
    Case(  # unquoted, YAML reads 0x2 as the hexadecimal number 2
        "mesh-0x2-unquoted-hex",
        {"exp.yaml": RAW_TEMPLATE.replace("meshes: [2x2]", "meshes: [0x2]")},
        "exp.yaml",
        "meshes[0]",
        ("ROWSxCOLS", "quote it"),
    ),
    Case(
        "system-mesh-not-a-mesh",
        {"exp.yaml": with_section("system", mesh="two")},
        "exp.yaml",
        "system.mesh",
        ("ROWSxCOLS",),
    ),
    Case(
        "bad-input-resolution",
        {"exp.yaml": experiment(inputs=["224by224"])},
        "exp.yaml",
        "inputs[0]",
        ("WIDTHxHEIGHT", "'224by224'"),
    ),
    Case(
        "zero-input-resolution",
        {"exp.yaml": experiment(inputs=["0x224"])},
        "exp.yaml",
        "inputs[0]",
        ("must be positive",),
    ),
    Case(
        "unknown-network",
        {"exp.yaml": experiment(networks=["resnet35"])},
        "exp.yaml",
        "networks[0]",
        ("unknown network 'resnet35'", "did you mean", "resnet34"),
    ),
    Case(
        "missing-network-file",
        {"exp.yaml": experiment(networks=["nets/missing.yaml"])},
        "missing.yaml",
        None,
        ("not found",),
    ),
    Case(
        "malformed-network-yaml",
        {
            "exp.yaml": experiment(networks=["bad_net.yaml"]),
            "bad_net.yaml": "name: bad\nlayers:\n  - {type: conv, out: 8, kernal: 3}\n",
        },
        "bad_net.yaml",
        "layers[0].kernal",
        ("unknown key", "did you mean 'kernel'"),
    ),
    Case(
        "network-yaml-syntax-error",
        {
            "exp.yaml": experiment(networks=["broken_net.yaml"]),
            "broken_net.yaml": "name: broken\nlayers: [\n",
        },
        "broken_net.yaml",
        None,
        ("line 3",),
    ),
    Case(
        "unknown-evaluator",
        {"exp.yaml": experiment(evaluator="magic")},
        "exp.yaml",
        "evaluator",
        ("'analytic' or 'simpy'", "'magic'"),
    ),
    Case(
        "unknown-weight-distribution",
        {"exp.yaml": with_section("system", weight_distribution="ring")},
        "exp.yaml",
        "system.weight_distribution",
        ("'bus' or 'chain'", "'ring'"),
    ),
    Case(
        "undefined-operating-point",
        {"exp.yaml": with_section("chip", operating_point="turbo")},
        "exp.yaml",
        "chip.operating_point",
        ("'turbo'", "efficient, nominal"),
    ),
    Case(
        "yaml-syntax-error",
        {"exp.yaml": "name: x\nnetworks: [resnet18\ninputs: [224x224]\n"},
        "exp.yaml",
        None,
        ("YAML syntax error", "line 3"),
    ),
    Case(
        "yaml-tab-indentation",
        {"exp.yaml": "name: x\n\tnetworks: [resnet18]\n"},
        "exp.yaml",
        None,
        ("YAML syntax error", "line 2"),
    ),
    Case("empty-file", {"exp.yaml": ""}, "exp.yaml", None, ("empty", "mapping")),
    Case(
        "file-is-a-list",
        {"exp.yaml": "- resnet18\n- 224x224\n"},
        "exp.yaml",
        None,
        ("expected a mapping", "got a list"),
    ),
    Case(
        "section-not-a-mapping",
        {"exp.yaml": experiment(chip=5)},
        "exp.yaml",
        "chip",
        ("expected a mapping", "got 5"),
    ),
    Case("missing-experiment-file", {}, "nothere.yaml", None, ("not found",), main="nothere.yaml"),
    Case(
        "missing-include",
        {"exp.yaml": experiment(chip={"include": "chips/nothere"})},
        "exp.yaml",
        "chip.include",
        ("'chips/nothere' not found", "configs/"),
    ),
    Case(
        "include-cycle",
        {
            "a.yaml": experiment(chip={"include": "b.yaml"}),
            "b.yaml": "include: a.yaml\n",
        },
        "b.yaml",
        "include",
        ("include cycle", "a.yaml -> b.yaml -> a.yaml"),
        main="a.yaml",
    ),
    Case(
        "error-in-included-file",
        {
            "exp.yaml": experiment(chip={"include": "my_chip.yaml"}),
            "my_chip.yaml": "include: chips/hyperdrive\ntile_rows: -3\n",
        },
        "my_chip.yaml",
        "chip.tile_rows",
        ("greater than 0",),
    ),
    Case(
        "sources-unknown-parameter",
        {"exp.yaml": with_section("chip", sources={"frobnicate": "assumption: none"})},
        "exp.yaml",
        "chip.sources",
        ("unknown parameter 'frobnicate'",),
    ),
    Case(
        "empty-networks-list",
        {"exp.yaml": experiment(networks=[])},
        "exp.yaml",
        "'networks'",
        ("at least one",),
    ),
    Case(
        "bad-experiment-name",
        {"exp.yaml": experiment(name="my run!")},
        "exp.yaml",
        "name",
        ("A-Za-z0-9_.-", "'my run!'"),
    ),
    Case(
        "unknown-sweep-axis",
        {"exp.yaml": experiment(sweep={"grid": {"chip.tile_rowz": [1, 2]}})},
        "exp.yaml",
        "sweep",
        ("chip.tile_rowz", "allowed", "tile_rows"),
    ),
    Case(
        "invalid-sweep-value",
        {"exp.yaml": experiment(sweep={"grid": {"system.link_bandwidth_gbps": [1.6, 0]}})},
        "exp.yaml",
        "sweep",
        ("system.link_bandwidth_gbps", "greater than", "got 0"),
    ),
]


def assert_one_clear_line(result: subprocess.CompletedProcess) -> str:
    """Exit code 2, one ``hyperdrive-sim: error:`` line on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hyperdrive-sim: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def case_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Run every case once, a few at a time (process start-up dominates), keyed by id."""

    def one(case: Case) -> tuple[subprocess.CompletedProcess, Path]:
        folder = tmp_path_factory.mktemp(case.id)
        for name, text in case.files.items():
            (folder / name).write_text(text, encoding="utf-8")
        out = folder / "out"
        args = ("run", case.main, "--out", str(out), "--no-progress", "--no-plots")
        return run_cli(*args, cwd=folder), out

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return dict(zip([c.id for c in CASES], pool.map(one, CASES), strict=True))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line_and_exit_2(case: Case, case_runs):
    result, out = case_runs[case.id]
    line = assert_one_clear_line(result)
    assert case.file in line, f"file {case.file!r} not named: {line}"
    if case.key is not None:
        assert case.key in line, f"key {case.key!r} not named: {line}"
    for hint in case.expected:
        assert hint in line, f"{hint!r} not in: {line}"
    assert result.stdout == ""
    # no half-written output: nothing (or at least no results) in the output folder
    written = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert not set(written) & set(RESULT_FILES), written
    assert not any(name.endswith(".tmp") for name in written), written


def test_at_least_22_distinct_malformed_inputs():
    assert len({c.id for c in CASES}) == len(CASES) >= 22


def test_key_paths_are_dotted_and_indexed(tmp_path: Path):
    """The key is printed right after the file: ``FILE: chip.fmm_bits: ...``."""
    (tmp_path / "exp.yaml").write_text(with_section("chip", fmm_bits=-1))
    line = assert_one_clear_line(run_cli("run", "exp.yaml", "--no-progress", cwd=tmp_path))
    assert f"{tmp_path / 'exp.yaml'}: chip.fmm_bits: expected a number greater than 0" in line


def test_failed_run_leaves_existing_out_folder_without_results(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "exp.yaml").write_text(experiment(networks=["nets/missing.yaml"]))
    result = run_cli("run", "exp.yaml", "--out", str(out), "--no-progress", cwd=tmp_path)
    assert_one_clear_line(result)
    assert list(out.iterdir()) == []


def test_out_that_is_a_file_is_bad_input(tmp_path: Path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    result = run_cli("run", str(QUICKSTART), "--out", str(target), "--no-progress")
    line = assert_one_clear_line(result)
    assert "taken" in line and "expected a folder" in line
    assert target.read_text() == "not a folder"


def test_network_unknown_name_exits_2():
    line = assert_one_clear_line(run_cli("network", "nope"))
    assert "unknown network 'nope'" in line
    assert "resnet18" in line  # lists what was expected


def test_network_bad_input_resolution_exits_2():
    line = assert_one_clear_line(run_cli("network", "resnet18", "--input", "224by224"))
    assert "--input" in line and "WIDTHxHEIGHT" in line


def test_network_malformed_yaml_file_exits_2(tmp_path: Path):
    path = tmp_path / "net.yaml"
    path.write_text("name: n\nlayers:\n  - {type: convv, out: 8}\n")
    line = assert_one_clear_line(run_cli("network", str(path)))
    assert "net.yaml" in line and "layers[0].type" in line and "did you mean 'conv'" in line


def test_plot_of_a_folder_without_results_exits_2(tmp_path: Path):
    line = assert_one_clear_line(run_cli("plot", str(tmp_path)))
    assert "results.json" in line


def test_run_quickstart_writes_tables(tmp_path: Path):
    out = tmp_path / "quick"
    result = run_cli("run", str(QUICKSTART), "--out", str(out), "--no-progress", "--no-plots")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in RESULT_FILES:
        assert (out / name).is_file(), name
    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        rows = list(reader)
    required = (
        "network", "input_h", "input_w", "mesh_rows", "mesh_cols", "chips", "evaluator",
        "cycles", "latency_s", "fps", "ops", "core_energy_j", "onchip_mem_energy_j",
        "offchip_io_energy_j", "c2c_io_energy_j", "leakage_energy_j", "total_energy_j",
        "core_tops_per_w", "system_tops_per_w", "offchip_bits", "weight_bits", "c2c_bits",
        "utilization", "fits",
    )  # fmt: skip
    assert len(required) == 24
    missing = [c for c in required if c not in header]
    assert not missing, missing
    assert len(rows) == 4  # quickstart: 1x1, 2x2, 3x3 and 4x4
    one = next(r for r in rows if (r["mesh_rows"], r["mesh_cols"]) == ("1", "1"))
    assert one["fits"] == "False"
    assert one["cycles"] == ""
    assert "layer '" in one["reason"]  # names the layer that does not fit
    fitting = [r for r in rows if r["fits"] == "True"]
    assert fitting and all(int(r["cycles"]) > 0 for r in fitting)
    payload = json.loads((out / "results.json").read_text())
    assert len(payload["rows"]) == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["points"] == 4
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_schema_writes_json_schemas(tmp_path: Path):
    out = tmp_path / "schemas"
    result = run_cli("schema", "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("experiment", "chip", "system", "energy", "area", "network"):
        schema = json.loads((out / f"{name}.schema.json").read_text())
        assert schema["$schema"].endswith("2020-12/schema"), name
    # a chip written in full must give every key: the strict branch (the other allows include:)
    strict = json.loads((out / "chip.schema.json").read_text())["$defs"]["ChipSpec"]["anyOf"][0]
    assert "fmm_bits" in strict["properties"] and "fmm_bits" in strict["required"]


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_internal_fault_exits_1_without_traceback(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("invariant broke\nsecond line")

    monkeypatch.setattr(cli, "cmd_networks", broken)
    assert cli.main(["networks"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert "internal error: RuntimeError: invariant broke second line" in err


def test_debug_shows_the_traceback(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("invariant broke")

    monkeypatch.setattr(cli, "cmd_networks", broken)
    assert cli.main(["--debug", "networks"]) == 1
    assert "Traceback" in capsys.readouterr().err


# --- user mistakes that used to be internal errors (in-process, with capsys) -------------

QUICK = """name: t
networks: [resnet18]
inputs: [{inputs}]
meshes: [1x1]
chip: {{include: chips/hyperdrive{chip}}}
system: {{include: systems/hyperdrive_mesh}}
energy: {{include: energy/hyperdrive_22fdx}}
"""


def quick(tmp_path: Path, inputs: str = "64x64", chip: str = "") -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(QUICK.format(inputs=inputs, chip=chip))
    return path


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("hyperdrive-sim: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "file not found"),
        (b"not a zip archive", "cannot read the weights"),
    ],
    ids=["missing", "not-a-zip"],
)
def test_bad_pruning_weights_file_exits_2(tmp_path, monkeypatch, capsys, content, expected):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "w.npz").write_bytes(content)
    exp = quick(tmp_path, chip=", pruning: kernel_reuse, pruning_weights: w.npz")
    assert cli.main(["run", str(exp), "--out", "out", "--no-progress", "--no-plots"]) == 2
    line = one_error_line(capsys)
    assert "w.npz: pruning_weights: " + expected in line
    assert not (tmp_path / "out").exists()  # refused before any folder was made


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--seed", "-1"], "--seed: expected a seed of 0 or more, got -1"),
        (["--mesh", "17x1"], "--mesh: mesh 17x1 is too large for the numerical check: at most 16"),
    ],
)
def test_verify_options_out_of_range_exit_2(capsys, args, expected):
    # 16 = limits.MAX_VERIFY_MESH_SIDE
    assert cli.main(["verify", "--network", "resnet18", "--input", "32x32", *args]) == 2
    assert expected in one_error_line(capsys)


def test_scheduler_without_dask_executor_exits_2(tmp_path, capsys):
    args = ["run", str(quick(tmp_path)), "--scheduler", "tcp://h:8786", "--out", str(tmp_path)]
    assert cli.main(args) == 2
    line = one_error_line(capsys)
    assert "--scheduler" in line and "--executor dask" in line


def test_unparseable_scheduler_address_exits_2(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "out"
    args = ["run", str(quick(tmp_path)), "--executor", "dask", "--scheduler", "::garbage::",
            "--out", str(out), "--no-progress", "--no-plots"]  # fmt: skip
    assert cli.main(args) == 2
    line = one_error_line(capsys)
    # refused by its form before anything runs (a run served from the cache never connects)
    assert "--scheduler: expected a scheduler address" in line and "'::garbage::'" in line
    assert not out.exists()  # the folder made for the run is removed again


@pytest.mark.parametrize(
    "content, expected",
    [
        ("[1, 2]", "results.json: is a JSON list, not an object"),
        ('{"columns": "x", "rows": []}', "results.json: columns: expected a list of column"),
        ('{"columns": ["network", "input_h", "input_w", "fits"], "rows": [1]}',
         "results.json: rows: expected a list of row objects"),
        ("{not json", "results.json: cannot read it as JSON"),
    ],
)  # fmt: skip
def test_plot_of_a_malformed_results_json_exits_2(tmp_path, capsys, content, expected):
    (tmp_path / "results.json").write_text(content)
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert expected in one_error_line(capsys)


def test_trace_with_the_analytic_evaluator_writes_its_schedule(tmp_path, capsys):
    """--trace on analytic points writes the closed-form schedule: one track per chip whose
    busy time equals the point's busy cycles (chips.csv), and the off-chip interface track
    whose busy time is the image plus weight transfer time (bits / bits per cycle)."""
    out = tmp_path / "out"
    args = ["run", str(quick(tmp_path)), "--trace", "--out", str(out), "--no-progress"]
    assert cli.main(["--debug", *args]) == 0, capsys.readouterr().err
    traces = sorted((out / "traces").glob("*.json"))
    assert len(traces) == 1
    events = json.loads(traces[0].read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    spans = [e for e in events if e.get("ph") == "X"]
    freq_mhz = 100  # the efficient operating point of chips/hyperdrive
    chips = list(csv.DictReader((out / "chips.csv").open()))
    idle = ("stall: weights", "stall: halo", "wait: image", "wait: partial vector")
    for chip in chips:
        name = f"chip ({chip['chip_row']},{chip['chip_col']})"
        tid = next(
            e["tid"] for e in events if e.get("name") == "thread_name" and e["args"]["name"] == name
        )
        busy = sum(
            e["dur"] for e in spans if e["pid"] == 1 and e["tid"] == tid and e["name"] not in idle
        )
        assert busy * freq_mhz == pytest.approx(int(chip["busy_cycles"]), rel=1e-9, abs=1)
    assert any(e["cat"] == "off-chip" and e["name"].startswith("weights") for e in spans)


def _die_on_32(point_json: str, base: str, trace=None):
    """run_point, except that the worker process dies on the 32x32 point (as if killed)."""
    from hyperdrive_sim.spec.models import PointSpec
    from hyperdrive_sim.sweep.executors import REAL_RUN_POINT

    if PointSpec.model_validate_json(point_json).input.width == 32:
        os._exit(9)
    return REAL_RUN_POINT(point_json, base, trace)


def test_a_killed_worker_exits_4_and_keeps_finished_points(tmp_path, monkeypatch, capsys):
    from hyperdrive_sim.sweep import executors

    # the forked worker sees the patched module attribute; jobs=1 runs 64x64 first
    monkeypatch.setattr(executors, "REAL_RUN_POINT", executors.run_point, raising=False)
    monkeypatch.setattr(executors, "run_point", _die_on_32)
    out = tmp_path / "out"
    args = ["run", str(quick(tmp_path, "64x64, 32x32")), "--jobs", "1", "--out", str(out),
            "--no-progress", "--no-plots"]  # fmt: skip
    assert cli.main(args) == 4  # errors.WorkerLost.exit_code, docs/limits.md
    line = one_error_line(capsys)
    assert "a worker process died (killed, or out of memory); finished points are cached" in line
    assert len(list((out / "cache").glob("*.json"))) == 1  # the 64x64 point
    monkeypatch.undo()
    assert cli.main(args) == 0
    assert "1 computed, 1 from cache" in capsys.readouterr().out


def test_networks_table_columns_line_up_for_the_longest_name(capsys):
    """Every row's numbers end where the header's do, whatever the longest zoo name (the
    28-character deeplabv3_mobilenet_v3_large once pushed its row out of line)."""
    from hyperdrive_sim.workload.zoo import ZOO

    assert cli.main(["networks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1 : 1 + len(ZOO)]
    ends = [header.index(col) + len(col) for col in ("layers", "GMAC@224", "Mweights")]
    for row in rows:
        for end in ends:
            assert row[end - 1].isdigit(), (row, end)
            assert row[end] in " *", (row, end)


def test_run_table_labels_rows_that_differ_only_by_evaluator(tmp_path: Path, capsys):
    """A grid over the evaluator gives rows with the same network, input and mesh: the note
    says which evaluator each row is, since the table has no evaluator column."""
    exp = tmp_path / "exp.yaml"
    grid = {"grid": {"evaluator": ["analytic", "simpy"]}}
    exp.write_text(experiment(inputs=["64x64"], sweep=grid))
    args = ["run", str(exp), "--out", str(tmp_path / "out"), "--no-progress", "--no-plots"]
    assert cli.main(args) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resnet18")]
    assert [row.split()[-1] for row in rows] == ["evaluator=analytic", "evaluator=simpy"]


@pytest.mark.parametrize(
    ("setting", "named"),
    [("input=64x64", "--set: input: unknown key (did you mean 'inputs'?)"),
     ("bogus=1", "--set: bogus: unknown key; expected one of: area,")],
)  # fmt: skip
def test_a_top_level_set_typo_is_named_as_a_set_typo(tmp_path: Path, capsys, setting, named):
    """A --set key unknown at the top of the experiment once read as "none of the keys here
    is one this section knows; is it the right file?", blaming the experiment file."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(experiment())
    assert cli.main(["run", str(exp), "--no-plots", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "right file" not in err
