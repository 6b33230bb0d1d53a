"""Property-based fuzzing of every input language: experiment YAML, network YAML, spec
overrides and the command line.

The property (docs/limits.md): any input either runs (exit 0, every numeric result finite
and non-negative) or is refused with exit 2 and exactly one line that starts with
``hyperdrive-sim: error:`` -- never a traceback, an internal error, a hang or a memory blow-up.
Examples are derandomised so CI runs the same bounded budget every time (120 examples per
language, 60 argument lists; ``HYPERDRIVE_FUZZ_EXAMPLES=N`` runs N by hand); the resource
test runs the worst inputs in a child process whose peak memory is measured.
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
)  # fmt: skip
SYSTEM_KEYS = (
    "mesh", "weight_distribution", "corner_routing", "offchip_bandwidth_gbps",
    "offchip_latency_ns", "link_bandwidth_gbps", "link_latency_ns",
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
