"""Property-based fuzzing of every input language: experiment YAML, network YAML, spec
overrides and the command line.

The property (docs/limits.md): any input either runs (exit 0, every numeric result finite
and non-negative) or is refused with exit 2 and exactly one line that starts with
``hyperdrive-sim: error:`` -- never a traceback, an internal error, a hang or a memory blow-up.
Examples are derandomised so CI runs the same bounded budget every time (120 examples per
language, 60 argument lists; ``HYPERDRIVE_FUZZ_EXAMPLES=N`` runs N by hand); the resource
test runs the worst inputs in a child process whose peak memory is measured.

The newer surface (explore blocks, sensitivity ranges and options, fit arguments, --set
paths, every dataflow option) is held to the same property, and its error line must also
name a file or option before the message; each example runs under an alarm (a hang fails)
and may not grow the process by 1 GB. Its slower commands get a sixth (explore,
sensitivity) or a third (--set) of the budget.
"""

from __future__ import annotations

import csv
import math
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperdrive_sim import cli

REPO = Path(__file__).resolve().parent.parent
BASE: dict = {
    "name": "fuzz",
    "networks": ["resnet18"],
    "inputs": ["64x64"],
    "meshes": ["1x1"],
    "chip": {"include": "chips/hyperdrive"},
    "system": {"include": "systems/hyperdrive_mesh"},
    "energy": {"include": "energy/hyperdrive_22fdx"},
}
CHIP_KEYS = (
    "tile_rows", "tile_cols", "fmpus_per_tile", "fmm_bits", "border_buffer_bits",
    "weight_buffer_blocks", "activation_bits", "weight_bits", "operating_point",
    "activation_mode", "scaling_factors", "pruning", "weight_cache_bits", "operating_points",
    # dataflow options of the chip
    "fuse_pooling", "weight_cache_policy", "kernel_dictionary_bits", "binary_keep_first_last",
    "pruning_seed",
)  # fmt: skip
SYSTEM_KEYS = (
    "mesh", "weight_distribution", "corner_routing", "offchip_bandwidth_gbps",
    "offchip_latency_ns", "link_bandwidth_gbps", "link_latency_ns",
    # dataflow options of the system
    "border_exchange", "partitioning", "organisation", "pipeline_stages", "frames", "batch",
)  # fmt: skip
ENERGY_KEYS = (
    "reference_voltage_v", "binary_mac_pj", "fp16_add_pj", "fmm_read_pj_per_bit",
    "offchip_pj_per_bit", "c2c_pj_per_bit", "logic_leakage_mw_per_chip",
    "dynamic_voltage_exponent", "leakage_voltage_exponent",
)  # fmt: skip
TOP_KEYS = ("name", "networks", "inputs", "meshes", "evaluator", "sweep", "output_dir")

#: values that broke earlier releases, plus ordinary ones so that some examples run
NASTY = st.sampled_from(
    [
        None, True, False, "3", "", "abc", -1, 0, 1, 2, 7, 3.5, -0.0, 1e-300, 1e308, 10**30,
        2**31, 2**63, "1x1", "2x2", "0x2", "100000x100000", "2147483648x1", "64x64",
        "1000000000x1000000000", [], {}, [1, 2], {"a": 1}, "x" * 300, [[[[1]]]],
        {"include": "chips/hyperdrive"}, {"include": "nope"}, "resnet18", "nope.yaml",
        float("nan"), float("inf"), "analytic", "simpy", "bus", "chain",
        # values of the dataflow options, so that valid combinations are reached too
        "streamed", "bulk", "hybrid", "channel", "spatial", "pipeline", "tiled", "lru",
        "most_used", "relay", "diagonal", "binary", "fp16", "kernel_reuse", "none", 4, 64, 65,
        256, 257,
    ]
)  # fmt: skip
NUMBERS = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)
VALUES = st.one_of(NASTY, NUMBERS, st.text(max_size=12))


def _section_key(section: str, keys: tuple[str, ...]):
    return st.tuples(st.just(section), st.sampled_from(keys))


MUTATION_KEYS = st.one_of(
    st.tuples(st.sampled_from(TOP_KEYS)),
    _section_key("chip", CHIP_KEYS),
    _section_key("system", SYSTEM_KEYS),
    _section_key("energy", ENERGY_KEYS),
    st.tuples(st.just("unknown_key")),
)
MUTATIONS = st.lists(st.tuples(MUTATION_KEYS, VALUES, st.booleans()), min_size=1, max_size=3)

FUZZ = settings(
    # CI's budget; HYPERDRIVE_FUZZ_EXAMPLES=2000 runs a deeper pass by hand
    max_examples=int(os.environ.get("HYPERDRIVE_FUZZ_EXAMPLES", "120")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _mutate(mutations) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value, delete in mutations:
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            if delete:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    return data


def _check_outcome(rc: int, err: str, out_dir: Path) -> None:
    """The fuzz property: exit 0 with sane numbers, or exit 2 with one line."""
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("hyperdrive-sim: error:")]
    if rc == 2:
        assert len(errors) == 1, err
        return
    assert rc == 0, f"exit {rc}: {err}"
    assert not errors, err
    with (out_dir / "results.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for key, cell in row.items():
                try:
                    value = float(cell)
                except (TypeError, ValueError):
                    continue
                assert math.isfinite(value) and value >= 0, f"{key} = {cell}"


def _run(tmp: Path, argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main(argv)
    return rc, capsys.readouterr().err


@FUZZ
@given(mutations=MUTATIONS)
def test_experiment_fuzz(tmp_path_factory, capsys, mutations) -> None:
    tmp = tmp_path_factory.mktemp("exp")
    path = tmp / "exp.yaml"
    try:
        text = yaml.safe_dump(_mutate(mutations), sort_keys=False)
    except (yaml.YAMLError, OverflowError):
        return
    path.write_text(text, encoding="utf-8")
    out = tmp / "out"
    argv = ["run", str(path), "--no-plots", "--no-progress", "--executor", "serial"]
    rc, err = _run(tmp, [*argv, "--out", str(out)], capsys)
    _check_outcome(rc, err, out)


LAYER_TYPES = (
    "conv", "pool", "global_pool", "dense", "add", "concat", "channel_slice",
    "channel_shuffle", "upsample", "bogus",
)  # fmt: skip
LAYER_KEYS = (
    "out", "kernel", "stride", "padding", "groups", "dilation", "mode", "factor", "start",
    "stop", "inputs", "name",
)  # fmt: skip
LAYERS = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(LAYER_TYPES)},
        optional={k: VALUES for k in LAYER_KEYS},
    ),
    min_size=0,
    max_size=5,
)


@FUZZ
@given(layers=LAYERS, shape=st.sampled_from(["32x32", "1x1", "7x5", "16384x1"]))
def test_network_fuzz(tmp_path_factory, capsys, layers, shape) -> None:
    tmp = tmp_path_factory.mktemp("net")
    try:
        net_text = yaml.safe_dump({"name": "fz", "layers": layers}, sort_keys=False)
    except (yaml.YAMLError, OverflowError):
        return
    (tmp / "net.yaml").write_text(net_text, encoding="utf-8")
    exp = {**BASE, "networks": ["net.yaml"], "inputs": [shape]}
    (tmp / "exp.yaml").write_text(yaml.safe_dump(exp), encoding="utf-8")
    out = tmp / "out"
    argv = ["run", str(tmp / "exp.yaml"), "--no-plots", "--no-progress", "--executor", "serial"]
    rc, err = _run(tmp, [*argv, "--out", str(out)], capsys)
    _check_outcome(rc, err, out)
    rc, err = _run(tmp, ["network", str(tmp / "net.yaml"), "--input", shape], capsys)
    assert rc in (0, 2) and "Traceback" not in err and "internal error" not in err, err


@FUZZ
@given(text=st.text(max_size=200))
def test_yaml_text_fuzz(tmp_path_factory, capsys, text) -> None:
    """Arbitrary text as an experiment file: a clean refusal or (rarely) a valid run."""
    tmp = tmp_path_factory.mktemp("txt")
    path = tmp / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    out = tmp / "out"
    rc, err = _run(
        tmp, ["run", str(path), "--no-plots", "--no-progress", "--out", str(out)], capsys
    )
    assert rc == 2, err
    _check_outcome(rc, err, out)


ARGS = st.lists(
    st.sampled_from(
        [
            "run",
            "plot",
            "verify",
            "networks",
            "network",
            "schema",
            "--out",
            "--evaluator",
            "simpy",
            "analytic",
            "--executor",
            "serial",
            "dask",
            "--jobs",
            "0",
            "-1",
            "--scheduler",
            "::garbage::",
            "--no-cache",
            "--trace",
            "--no-plots",
            "--set",
            "chip.fmm_bits=1",
            "chip.nope=1",
            "=",
            "--input",
            "64x64",
            "0x0",
            "--mesh",
            "100000x100000",
            "2x2",
            "--seed",
            "--network",
            "resnet18",
            "nope",
            "--precision",
            "fp8",
            "/dev/null",
            "/proc/x",
            "--show",
            "quickstart",
        ]
    ),
    max_size=6,
)


@settings(FUZZ, max_examples=FUZZ.max_examples // 2)
@given(argv=ARGS)
def test_cli_fuzz(tmp_path_factory, capsys, argv) -> None:
    """Random argument lists: argparse usage errors (exit 2) or one-line errors."""
    tmp = tmp_path_factory.mktemp("cli")
    if "run" in argv:
        argv = [*argv, "--out", str(tmp / "o"), "--no-progress"]
    capsys.readouterr()
    here = os.getcwd()
    os.chdir(tmp)
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help/--version exit 0
        rc = exc.code
    finally:
        os.chdir(here)
    err = capsys.readouterr().err
    assert rc in (0, 1, 2, 3), err
    assert "Traceback" not in err, err
    assert "internal error" not in err, err


#: inputs that once exhausted memory or time; each must be refused quickly and cheaply
BOMBS = {
    "alias_bomb": "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
    ),
    "deep_networks": "name: x\nnetworks: " + "[" * 700 + "]" * 700 + "\n",
    "huge_mesh": yaml.safe_dump({**BASE, "meshes": ["100000x100000"]}),
    "huge_input": yaml.safe_dump({**BASE, "inputs": ["1000000000x1000000000"]}),
    "huge_grid": yaml.safe_dump(
        {
            **BASE,
            "sweep": {
                "grid": {
                    "energy.offchip_pj_per_bit": list(range(1, 3163)),
                    "energy.c2c_pj_per_bit": list(range(1, 3163)),
                }
            },
        }
    ),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_resource_bombs_refused_cheaply(tmp_path, name) -> None:
    """Each bomb exits 2 in one line, in a child process whose peak RSS stays under 1 GB."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(BOMBS[name], encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import resource, sys
        from hyperdrive_sim import cli
        rc = cli.main(["run", {str(path)!r}, "--no-plots", "--no-progress",
                       "--out", {str(tmp_path / "out")!r}])
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak_kb={{peak_kb}}")
        sys.exit(rc)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("hyperdrive-sim: error:")
    peak_kb = int(proc.stdout.split("peak_kb=")[1])
    assert peak_kb < 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"


def test_dev_zero_refused(tmp_path) -> None:
    """An endless special file is refused without being read into memory."""
    proc = subprocess.run(
        [sys.executable, "-m", "hyperdrive_sim", "run", "/dev/zero", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "/dev/zero" in proc.stderr and "Traceback" not in proc.stderr
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 1024 * 1024


# --------------------------------------------------------------------------------------------
# The newer surface: explore blocks, sensitivity ranges and options, fit arguments, --set
# paths. Same property, and the error line names a file or option and a key.

#: examples of the slower commands (each evaluates many variants): a fraction of the budget
FEW = settings(FUZZ, max_examples=max(2, FUZZ.max_examples // 6))
#: an example that takes longer than this is a hang
HANG_SECONDS = 120


def _guarded(argv: list[str], capsys, cwd: Path | None = None) -> tuple[int, str]:
    """Run the CLI with an alarm against hangs and a bound on the memory it adds."""
    import signal

    def hang(*_):
        raise AssertionError(f"no answer within {HANG_SECONDS} s: {argv}")

    capsys.readouterr()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_SECONDS)
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        try:
            rc = cli.main(argv)
        except SystemExit as exc:  # argparse usage errors
            rc = exc.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(here)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 1024 * 1024, f"the process grew by {grown_kb / 1024:.0f} MB: {argv}"
    return rc, capsys.readouterr().err


def _names_its_place(err: str) -> None:
    """The one error line says where: a file or option, and usually a key, before the
    message (``hyperdrive-sim: error: WHERE: ...``)."""
    line = next(x for x in err.splitlines() if x.startswith("hyperdrive-sim: error:"))
    where = line.removeprefix("hyperdrive-sim: error: ").split(": ")[0]
    assert (where and " " not in where.strip()) or where.startswith("--"), line


def _check_tables(rc: int, err: str, out_dir: Path, tables: tuple[str, ...]) -> None:
    """Exit 0 with finite non-negative numbers in every table, or exit 2 in one line."""
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [x for x in err.splitlines() if x.startswith("hyperdrive-sim: error:")]
    if rc == 2:
        if err.startswith("usage:"):  # argparse: a usage line, then the error naming the option
            assert "error: argument" in err or "error: unrecognized" in err or "required" in err
            return
        assert len(errors) == 1, err
        _names_its_place(err)
        return
    assert rc == 0, f"exit {rc}: {err}"
    for table in tables:
        with (out_dir / table).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for key, cell in row.items():
                    if key in ("fits", "constraints_ok") or not cell:
                        continue
                    try:
                        value = float(cell)
                    except (TypeError, ValueError):
                        continue
                    assert math.isfinite(value) and value >= 0, f"{table}: {key} = {cell}"


SIDES = st.sampled_from([None, -1, 0, 1, 2, 3, "2", 2.5, True, 65, 10**9, [], "x"])
OBJECTIVE_NAMES = st.sampled_from(
    ["energy", "fps", "latency", "chips", "area", "efficiency", "total_energy_j",
     "energy_per_frame", "silicon_area_mm2", "network", "reason", "bogus", ""]
)  # fmt: skip
AXIS_PATHS = st.sampled_from(
    ["chip.fmm_bits", "chip.operating_point", "energy.offchip_pj_per_bit", "system.batch",
     "system.border_exchange", "evaluator", "mesh", "network", "chip.nope", "bogus", ""]
)  # fmt: skip
AXIS_VALUES = st.lists(
    st.sampled_from([1, 0, -1, 6400000, 12800000, 2.5, "analytic", "bogus", None, "2x2", [], {}]),
    max_size=3,
)
EXPLORE_BLOCKS = st.fixed_dictionaries(
    {
        "mesh": st.one_of(
            st.fixed_dictionaries(
                {"max_rows": SIDES, "max_cols": SIDES},
                optional={
                    "min_rows": SIDES,
                    "min_cols": SIDES,
                    "aspect": st.sampled_from(["any", "square", "wide", "tall", "x"]),
                },
            ),
            st.fixed_dictionaries({"shapes": st.lists(NASTY, max_size=3)}),
            VALUES,
        ),
        "objectives": st.one_of(
            st.dictionaries(
                OBJECTIVE_NAMES, st.sampled_from(["min", "max", "most", 1]), max_size=4
            ),
            VALUES,
        ),
    },
    optional={
        "axes": st.dictionaries(AXIS_PATHS, AXIS_VALUES, max_size=2),
        "scenarios": st.dictionaries(AXIS_PATHS, AXIS_VALUES, max_size=1),
        "constraints": st.lists(
            st.sampled_from(
                [
                    "fps >= 1",
                    "chips <= 4",
                    "energy < 1",
                    "bogus > 1",
                    "fps >>= 3",
                    "",
                    "fps >= nan",
                    3,
                ]
            ),
            max_size=2,
        ),
    },
)


@FEW
@given(block=EXPLORE_BLOCKS, extra=st.sampled_from([{}, {"meshes": ["1x1"]}, {"sweep": {}}]))
def test_explore_block_fuzz(tmp_path_factory, capsys, block, extra) -> None:
    tmp = tmp_path_factory.mktemp("explore")
    data = {k: v for k, v in BASE.items() if k != "meshes"} | extra | {"explore": block}
    try:
        text = yaml.safe_dump(data, sort_keys=False)
    except (yaml.YAMLError, OverflowError):
        return
    (tmp / "exp.yaml").write_text(text, encoding="utf-8")
    out = tmp / "out"
    argv = ["explore", str(tmp / "exp.yaml"), "--no-plots", "--no-progress", "--executor",
            "serial", "--out", str(out)]  # fmt: skip
    rc, err = _guarded(argv, capsys)
    _check_tables(rc, err, out, ("results.csv", "pareto.csv"))


RANGE_PARAMS = st.sampled_from(
    [("energy", "offchip_pj_per_bit"), ("energy", "reference_voltage_v"),
     ("energy", "binary_mac_pj"), ("system", "offchip_bandwidth_gbps"), ("system", "batch"),
     ("system", "link_latency_ns"), ("chip", "fmm_bits"), ("chip", "tile_rows"),
     ("chip", "pruning"), ("energy", "nope"), ("area", "sram_mm2_per_mbit")]
)  # fmt: skip
RANGE_ENDS = st.one_of(
    st.sampled_from([0, 1, 2, 0.5, -5, 50, 1e5, 1e300, "1", True, None, [], 10**30]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)
RANGES = st.lists(
    st.tuples(
        RANGE_PARAMS,
        st.fixed_dictionaries(
            {"low": RANGE_ENDS, "high": RANGE_ENDS},
            optional={"why": st.sampled_from(["w", "", 3])},
        ),
    ),
    max_size=3,
)
SAMPLE_OPTIONS = st.lists(
    st.sampled_from(["--samples", "--seed", "1", "2", "0", "-1", "10001", "x", "--jobs", "0",
                     "--set", "energy.ranges.offchip_pj_per_bit.low=-1"]),
    max_size=4,
)  # fmt: skip


@FEW
@given(ranges=RANGES, options=SAMPLE_OPTIONS)
def test_sensitivity_fuzz(tmp_path_factory, capsys, ranges, options) -> None:
    tmp = tmp_path_factory.mktemp("sens")
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for (section, key), entry in ranges:
        data.setdefault(section, {}).setdefault("ranges", {})[key] = entry
    try:
        text = yaml.safe_dump(data, sort_keys=False)
    except (yaml.YAMLError, OverflowError):
        return
    (tmp / "exp.yaml").write_text(text, encoding="utf-8")
    out = tmp / "out"
    argv = ["sensitivity", str(tmp / "exp.yaml"), "--samples", "2", *options, "--no-plots",
            "--no-progress", "--executor", "serial", "--out", str(out)]  # fmt: skip
    if "10001" not in options and any(o.isdigit() and int(o) > 3 for o in options):
        return  # many samples: slow, not hostile
    rc, err = _guarded(argv, capsys)
    _check_tables(rc, err, out, ("uncertainty.csv", "tornado.csv"))


FIT_ARGS = st.lists(
    st.sampled_from(["--input", "64x64", "1080x1920", "0x0", "", "100000x1", "--chip",
                     "chip.yaml", "nope.yaml", "/dev/zero", "--system", "system.yaml",
                     "--mesh", "2x2", "65x1", "x", "resnet18", "nope", "net.yaml"]),
    max_size=7,
)  # fmt: skip
CHIP_VALUES = st.dictionaries(st.sampled_from(CHIP_KEYS), VALUES, max_size=2)
SYSTEM_VALUES = st.dictionaries(st.sampled_from(SYSTEM_KEYS), VALUES, max_size=2)


@FUZZ
@given(args=FIT_ARGS, chip=CHIP_VALUES, system=SYSTEM_VALUES)
def test_fit_fuzz(tmp_path_factory, capsys, args, chip, system) -> None:
    tmp = tmp_path_factory.mktemp("fit")
    try:
        chip_text = yaml.safe_dump({"include": "chips/hyperdrive", **chip})
        system_text = yaml.safe_dump({"include": "systems/hyperdrive_mesh", **system})
    except (yaml.YAMLError, OverflowError):
        return
    (tmp / "chip.yaml").write_text(chip_text, encoding="utf-8")
    (tmp / "system.yaml").write_text(system_text, encoding="utf-8")
    (tmp / "net.yaml").write_text("name: n\nlayers: []\n", encoding="utf-8")
    rc, err = _guarded(["fit", *args], capsys, cwd=tmp)
    assert rc in (0, 2), err
    _check_tables(rc, err, tmp, ())


SET_PARTS = st.sampled_from(
    ["chip", "system", "energy", "area", "sweep", "grid", "zip", "meshes", "networks",
     "inputs", "name", "explore", "0", "1", "5", "fmm_bits", "tile_rows", "mesh", "ranges",
     "offchip_pj_per_bit", "low", "batch", "border_exchange", "sources", "include", "x", ""]
)  # fmt: skip
SET_VALUES = st.sampled_from(
    ["1", "-1", "0", "[]", "{}", "{a: 1}", "x", "2x2", "1e300", "null", "[1x1, 2x2]",
     "{low: 0, high: 1, why: w}", "streamed", "'", "[[[[", "*a", "&a [*a]", "12800000"]
)  # fmt: skip


@settings(FUZZ, max_examples=max(2, FUZZ.max_examples // 3))  # each valid one runs a point
@given(sets=st.lists(st.tuples(st.lists(SET_PARTS, min_size=1, max_size=5), SET_VALUES),
                     min_size=1, max_size=3))  # fmt: skip
def test_set_path_fuzz(tmp_path_factory, capsys, sets) -> None:
    tmp = tmp_path_factory.mktemp("set")
    (tmp / "exp.yaml").write_text(yaml.safe_dump(BASE), encoding="utf-8")
    out = tmp / "out"
    overrides = [x for parts, value in sets for x in ("--set", f"{'.'.join(parts)}={value}")]
    argv = ["run", str(tmp / "exp.yaml"), *overrides, "--no-plots", "--no-progress",
            "--executor", "serial", "--out", str(out)]  # fmt: skip
    rc, err = _guarded(argv, capsys)
    _check_tables(rc, err, out, ("results.csv",))
