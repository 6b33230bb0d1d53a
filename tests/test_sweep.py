"""Sweeps: expansion, infeasible points, cache and resume, executor equivalence."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperdrive_sim.errors import SpecError
from hyperdrive_sim.experiment import load_experiment, run_experiment
from hyperdrive_sim.sweep.points import expand

REPO = Path(__file__).resolve().parent.parent

BASE = """
chip: {include: chips/hyperdrive}
system: {include: systems/hyperdrive_mesh}
energy: {include: energy/hyperdrive_22fdx}
"""


def write_exp(tmp_path: Path, body: str, name: str = "exp") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}\n{BASE}")
    return path


def test_grid_is_cartesian_and_zip_is_paired(tmp_path):
    path = write_exp(
        tmp_path,
        """
networks: [resnet18]
inputs: [224x224]
meshes: [2x2]
sweep:
  grid:
    energy.offchip_pj_per_bit: [5, 21]
    chip.operating_point: [efficient, nominal]
  zip:
    system.link_bandwidth_gbps: [0.8, 1.6, 3.2]
    system.link_latency_ns: [40, 20, 10]
""",
    )
    spec, _ = load_experiment(path)
    columns, points = expand(spec)
    # 2 x 2 grid values times 3 zipped pairs = 12 points
    assert len(points) == 12
    assert columns == [
        "system.link_bandwidth_gbps",
        "system.link_latency_ns",
        "energy.offchip_pj_per_bit",
        "chip.operating_point",
    ]
    pairs = {(p.system.link_bandwidth_gbps, p.system.link_latency_ns) for p in points}
    assert pairs == {(0.8, 40), (1.6, 20), (3.2, 10)}
    combos = {(p.energy.offchip_pj_per_bit, p.chip.operating_point) for p in points}
    assert len(combos) == 4
    # the override changes only the swept key
    assert {p.energy.c2c_pj_per_bit for p in points} == {spec.energy.c2c_pj_per_bit}


def test_tilings_add_a_column_and_network_can_be_an_axis(tmp_path):
    path = write_exp(
        tmp_path,
        """
sweep:
  tilings: {square: [2x2, 4x4], wide: [2x4]}
  zip:
    network: [resnet18, resnet34]
    input: [224x224, 320x320]
""",
    )
    spec, _ = load_experiment(path)
    columns, points = expand(spec)
    assert columns == ["tiling", "network", "input"]
    assert len(points) == 3 * 2
    assert {(p.labels["tiling"], str(p.mesh)) for p in points} == {
        ("square", "2x2"),
        ("square", "4x4"),
        ("wide", "2x4"),
    }
    assert {(str(p.network), p.input.width) for p in points} == {
        ("resnet18", 224),
        ("resnet34", 320),
    }


@pytest.mark.parametrize(
    "sweep, expected",
    [
        ("grid: {chip.fmm_bitz: [1]}", "chip has no key 'fmm_bitz'"),
        ("grid: {colour: [1]}", "not a spec path"),
        ("zip: {chip.fmm_bits: [1, 2], energy.offchip_pj_per_bit: [1]}", "equal lengths"),
        ("grid: {chip.fmm_bits: [-5]}", "sweep"),
    ],
)
def test_bad_sweeps_name_the_problem(tmp_path, sweep, expected):
    path = write_exp(tmp_path, f"networks: [resnet18]\ninputs: [224x224]\nsweep:\n  {sweep}")
    with pytest.raises(SpecError, match=expected) as info:
        spec, _ = load_experiment(path)
        expand(spec, str(path))
    assert str(path) in str(info.value)


def test_infeasible_points_are_kept_with_reason(tmp_path):
    path = write_exp(tmp_path, "networks: [resnet34]\ninputs: [224x224]\nmeshes: [1x1, 2x2, 16x16]")
    result = run_experiment(path, out_dir=tmp_path / "out", executor="serial", plots=False)
    fits = [row["fits"] for row in result.rows]
    assert fits == [False, True, False]
    assert "feature-map memory" in result.rows[0]["reason"]
    # 7x7 maps of layer4 cannot be split over 16 chip rows
    assert "16x16 mesh" in result.rows[2]["reason"]
    assert result.stats["infeasible"] == 2


def test_a_network_that_cannot_run_at_a_resolution_is_infeasible_not_fatal(tmp_path):
    # YOLOv3 concatenates maps that only line up when both sides divide by 32.
    path = write_exp(tmp_path, "networks: [yolov3]\ninputs: [1000x1000]\nmeshes: [6x6]")
    result = run_experiment(path, out_dir=tmp_path / "out", executor="serial", plots=False)
    assert result.rows[0]["fits"] is False
    # 1000 is not a multiple of 32 (1000 / 32 = 31.25); the next one is 1024
    assert "multiples of 32" in result.rows[0]["reason"]
    assert "try 1024x1024" in result.rows[0]["reason"]


def _rows(folder: Path) -> list[dict]:
    return json.loads((folder / "results.json").read_text())["rows"]


def test_cache_reuses_points_and_recomputes_corrupt_entries(tmp_path):
    path = write_exp(tmp_path, "networks: [resnet18]\ninputs: [224x224]\nmeshes: [2x2, 3x3, 4x4]")
    out = tmp_path / "out"
    first = run_experiment(path, out_dir=out, executor="serial", plots=False)
    assert first.stats["computed"] == 3
    again = run_experiment(path, out_dir=out, executor="serial", plots=False)
    assert (again.stats["computed"], again.stats["cached"]) == (0, 3)
    assert again.rows == first.rows
    entries = sorted((out / "cache").glob("*.json"))
    entries[0].write_text('{"row": {"truncated')  # a half-written entry
    repaired = run_experiment(path, out_dir=out, executor="serial", plots=False)
    assert (repaired.stats["computed"], repaired.stats["cached"]) == (1, 2)
    assert repaired.rows == first.rows
    forced = run_experiment(path, out_dir=out, executor="serial", plots=False, cache=False)
    assert forced.stats["computed"] == 3


def test_changing_a_parameter_misses_the_cache(tmp_path):
    out = tmp_path / "out"
    body = "networks: [resnet18]\ninputs: [224x224]\nmeshes: [2x2]"
    run_experiment(write_exp(tmp_path, body), out_dir=out, executor="serial", plots=False)
    changed = write_exp(tmp_path, body + "\nevaluator: analytic\nsweep:\n  grid: "
                        "{energy.offchip_pj_per_bit: [7]}")  # fmt: skip
    result = run_experiment(changed, out_dir=out, executor="serial", plots=False)
    assert result.stats["computed"] == 1


def test_resume_after_kill_recomputes_nothing_finished(tmp_path):
    meshes = ", ".join(f"{r}x{c}" for r in range(2, 9) for c in range(2, 9))
    path = write_exp(tmp_path, f"networks: [resnet18, resnet34]\ninputs: [224x224]\n"
                               f"meshes: [{meshes}]")  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hyperdrive_sim", "run", str(path), "--out", str(out),
           "--executor", "serial", "--no-progress", "--no-plots"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = out / "cache"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(cache.glob("*.json"))) < 5:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}
    assert 5 <= len(done_before) < 98, "the run should be killed part-way"
    assert not (out / "results.csv").exists(), "no half-written results"

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{98 - len(done_before)} computed, {len(done_before)} from cache" in done.stdout
    for name, mtime in done_before.items():
        assert (cache / name).stat().st_mtime_ns == mtime, "finished points are not rewritten"
    assert len(_rows(out)) == 98


def test_executors_give_identical_results(tmp_path):
    path = write_exp(
        tmp_path,
        "networks: [resnet18, mobilenet_v2]\ninputs: [224x224, 320x240]\nmeshes: [2x2, 2x3]",
    )
    serial = run_experiment(path, out_dir=tmp_path / "s", executor="serial", plots=False)
    procs = run_experiment(path, out_dir=tmp_path / "p", executor="processes", jobs=2,
                           plots=False)  # fmt: skip
    assert serial.rows == procs.rows
    assert serial.layers == procs.layers
    assert (tmp_path / "s/results.csv").read_bytes() == (tmp_path / "p/results.csv").read_bytes()


def test_dask_executor_matches_serial(tmp_path):
    pytest.importorskip("dask.distributed")
    path = write_exp(tmp_path, "networks: [resnet18]\ninputs: [224x224]\nmeshes: [2x2, 3x3]")
    serial = run_experiment(path, out_dir=tmp_path / "s", executor="serial", plots=False)
    dask = run_experiment(path, out_dir=tmp_path / "d", executor="dask", jobs=2, plots=False)
    assert serial.rows == dask.rows


def test_cli_passes_the_executor_and_cache_options(tmp_path):
    path = write_exp(tmp_path, "networks: [resnet18]\ninputs: [224x224]\nmeshes: [2x2]")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hyperdrive_sim", "run", str(path), "--out", str(out),
           "--executor", "serial", "--no-progress", "--no-plots"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    again = subprocess.run([*cmd, "--no-cache"], check=True, capture_output=True, text=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"] == "serial"
    assert "1 computed, 0 from cache" in again.stdout


@pytest.mark.parametrize("evaluator", ["analytic", "simpy"])
def test_chips_table_accounts_for_every_cycle(tmp_path, evaluator):
    import csv

    path = write_exp(tmp_path, f"networks: [resnet18]\ninputs: [224x224]\nmeshes: [1x1, 2x2, 2x3]"
                               f"\nevaluator: {evaluator}")  # fmt: skip
    out = tmp_path / "out"
    result = run_experiment(path, out_dir=out, executor="serial", plots=False)
    rows = list(csv.DictReader((out / "chips.csv").open()))
    feasible = [r for r in result.rows if r["fits"]]
    # one row per chip of every point that fits (1x1 does not: FMM overflow)
    assert len(rows) == sum(r["chips"] for r in feasible) == 4 + 6
    cycles = {r["point_id"]: r["cycles"] for r in feasible}
    for row in rows:
        busy, idle = int(row["busy_cycles"]), int(row["idle_cycles"])
        stalls = sum(int(row[k]) for k in ("stall_weight_cycles", "stall_border_cycles",
                                           "stall_io_cycles"))  # fmt: skip
        assert idle >= 0 and busy + stalls + idle == cycles[row["point_id"]]
    # per-chip MACs add up to the network's MACs
    for pid in cycles:
        assert sum(int(r["macs"]) for r in rows if r["point_id"] == pid) == 1_814_073_344


# -- named alternatives (sweep.alternatives) ------------------------------------------------

ALTERNATIVES = """
sweep:
  alternatives:
    - name: reference
      cases:
        - {network: resnet18, input: 224x224, mesh: [2x2, 4x4]}
    - name: streamed
      set: {system.border_exchange: streamed}
      cases:
        - {network: resnet18, input: 224x224, mesh: 2x2}
        - {network: resnet18, input: 448x448, mesh: 4x4, evaluator: simpy}
    - name: fused and bigger
      set: {chip.fuse_pooling: true, chip.fmm_bits: 12800000}
"""


def test_alternatives_run_their_overrides_on_their_cases(tmp_path):
    path = write_exp(tmp_path, ALTERNATIVES)
    with pytest.raises(SpecError, match="give at least one entry in 'networks'"):
        load_experiment(path)  # the last alternative has no case: no network for it
    case = "      cases: [{network: resnet18, input: 224x224, mesh: 3x3}]\n"
    path = write_exp(tmp_path, ALTERNATIVES.replace("bigger\n", "bigger\n" + case))
    spec, _ = load_experiment(path)
    columns, points = expand(spec, str(path))
    # the alternative's name, then every section path any alternative sets, first seen first
    assert columns == ["alternative", "system.border_exchange", "chip.fuse_pooling",
                       "chip.fmm_bits"]  # fmt: skip
    # 2 meshes + 2 cases + 1 case: 5 points, alternatives and cases in file order
    got = [(p.labels["alternative"], str(p.network), p.input.width, f"{p.mesh.rows}x{p.mesh.cols}",
            p.evaluator) for p in points]  # fmt: skip
    assert got == [
        ("reference", "resnet18", 224, "2x2", "analytic"),
        ("reference", "resnet18", 224, "4x4", "analytic"),
        ("streamed", "resnet18", 224, "2x2", "analytic"),
        ("streamed", "resnet18", 448, "4x4", "simpy"),
        ("fused and bigger", "resnet18", 224, "3x3", "analytic"),
    ]
    # every point names the value of every column, its own or the preset's
    # (configs/chips/hyperdrive.yaml: fmm_bits 6,400,000, no fused pooling; bulk exchange)
    assert points[0].labels == {"alternative": "reference", "system.border_exchange": "bulk",
                                "chip.fuse_pooling": False, "chip.fmm_bits": 6_400_000}  # fmt: skip
    assert points[3].system.border_exchange == "streamed" and not points[3].chip.fuse_pooling
    assert points[4].chip.fuse_pooling and points[4].chip.fmm_bits == 12_800_000
    assert points[4].labels["system.border_exchange"] == "bulk"


def test_alternatives_give_the_zip_they_replace(tmp_path):
    """The same points as the equivalent zip of lists, so results (and cache entries,
    hashed without labels) are the same."""
    zipped = write_exp(tmp_path, """
sweep:
  zip:
    network: [resnet18, resnet18, resnet18]
    input: [224x224, 224x224, 224x224]
    mesh: [2x2, 4x4, 2x2]
    system.border_exchange: [bulk, bulk, streamed]
""", name="zipped")  # fmt: skip
    named = write_exp(tmp_path, """
sweep:
  alternatives:
    - {name: reference, cases: [{network: resnet18, input: 224x224, mesh: [2x2, 4x4]}]}
    - name: streamed
      set: {system.border_exchange: streamed}
      cases: [{network: resnet18, input: 224x224, mesh: 2x2}]
""", name="named")  # fmt: skip

    def dumps(path):
        return [p.model_dump_json(exclude={"labels"}) for p in expand(load_experiment(path)[0])[1]]

    assert dumps(zipped) == dumps(named)


@pytest.mark.parametrize(
    "alternatives, expected",
    [
        ("[{name: a, set: {system.batch: [1, 2]}}]", "an alternative sets one value"),
        ("[{name: a, set: {system.bach: 2}}]", "system has no key 'bach'"),
        ("[{name: a}, {name: a}]", "'a' is named twice"),
        ("[{name: a, set: {system.batch: 2}, cases: [{system.batch: 1}]}]", "both in 'set'"),
        ("[{name: a, set: {energy.offchip_pj_per_bit: 5}}]", "also a sweep axis"),
        ("[{name: 'a=b'}]", "a name has no '='"),
        ("[{set: {system.batch: 2}}]", "name"),
    ],
)
def test_bad_alternatives_name_the_problem(tmp_path, alternatives, expected):
    body = (
        "networks: [resnet18]\ninputs: [224x224]\nsweep:\n"
        f"  grid: {{energy.offchip_pj_per_bit: [5, 21]}}\n  alternatives: {alternatives}"
    )
    path = write_exp(tmp_path, body)
    with pytest.raises(SpecError, match=expected) as info:
        load_experiment(path)
    assert f"{path}: sweep" in str(info.value)  # the file and the key path


def test_points_sharing_a_result_keep_their_own_alternative(tmp_path):
    """ "bulk, said twice" resolves to the reference's point (bulk is the preset): one result,
    two rows, each named by its own alternative, also when the result comes from the cache
    of a run whose alternatives had other names."""
    body = """
networks: [resnet18]
inputs: [224x224]
meshes: [2x2]
sweep:
  alternatives:
    - {name: reference}
    - {name: "bulk, said twice", set: {system.border_exchange: bulk}}
"""
    path = write_exp(tmp_path, body)
    out = tmp_path / "out"
    first = run_experiment(path, out_dir=out, executor="serial", plots=False)
    assert [r["alternative"] for r in first.rows] == ["reference", "bulk, said twice"]
    assert first.rows[0]["point_id"] == first.rows[1]["point_id"]
    path.write_text(path.read_text().replace("reference", "preset"))
    again = run_experiment(path, out_dir=out, executor="serial", plots=False)
    assert again.stats["cached"] == 1
    assert [r["alternative"] for r in again.rows] == ["preset", "bulk, said twice"]
    with (out / "layers.csv").open(newline="") as f:
        names = {row["alternative"] for row in csv.DictReader(f)}
    assert names == {"preset", "bulk, said twice"}
