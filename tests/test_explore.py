"""Design-space exploration: every size priced, fronts checked by brute force, pruning and
re-pricing checked against a plain sweep that evaluates every point on its own."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from hyperdrive_sim import cli
from hyperdrive_sim.experiment import load_experiment, run_experiment
from hyperdrive_sim.explore.run import explore
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec.defaults import default_section

#: a small space: meshes where ResNet-18 at 256x256 does not fit (too few chips), memories on both
#: sides of its peak, a plan axis (operating point) and a scenario (off-chip energy)
SPACE = {
    "name": "small_space",
    "networks": ["resnet18"],
    "inputs": ["256x256"],
    "explore": {
        "mesh": {"max_rows": 3, "max_cols": 3},
        "axes": {
            "chip.fmm_bits": [1_000_000, 3_200_000, 6_400_000],
            "chip.operating_point": ["efficient", "nominal"],
        },
        "scenarios": {"energy.offchip_pj_per_bit": [10, 21]},
        "objectives": {"energy": "min", "fps": "max", "silicon_area": "min"},
        "constraints": ["fps >= 100"],
    },
}
KEYS = ("mesh_rows", "mesh_cols", "chip.fmm_bits", "chip.operating_point")


def write(tmp_path: Path, data: dict, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explore")
    spec, base = load_experiment(write(tmp, SPACE))
    return explore(spec, base, out_dir=tmp / "out", executor="serial"), tmp


def test_every_design_point_matches_a_plain_sweep(explored):
    """Second method: the same points as an ordinary sweep, each planned and evaluated on its
    own (no grouping, no pruning, no re-pricing). Every point the sweep finds feasible is
    feasible in the exploration with the same numbers, and vice versa."""
    result, tmp = explored
    ex = SPACE["explore"]
    sweep = {
        **{k: v for k, v in SPACE.items() if k != "explore"},
        "name": "plain",
        "meshes": [f"{r}x{c}" for r in range(1, 4) for c in range(1, 4)],
        "sweep": {"grid": {**ex["axes"], **ex["scenarios"]}},
    }
    plain = run_experiment(write(tmp, sweep, "plain.yaml"), write=False, executor="serial")
    key = lambda r: (r["mesh_rows"], r["mesh_cols"], r["chip.fmm_bits"],  # noqa: E731
                     r["chip.operating_point"], r["energy.offchip_pj_per_bit"])  # fmt: skip
    explored_rows = {key(r): r for r in result.rows}
    assert len(explored_rows) == len(plain.rows) == 9 * 3 * 2 * 2
    for row in plain.rows:
        mine = explored_rows[key(row)]
        assert mine["fits"] == row["fits"], key(row)
        for col in ("total_energy_j", "fps", "leakage_energy_j", "silicon_area_mm2", "cycles"):
            if row["fits"]:
                assert mine[col] == pytest.approx(row[col], rel=1e-12), (key(row), col)
    assert result.stats["pruned_groups"] > 0  # the check above covered pruned groups too


def test_front_is_non_dominated_by_brute_force(explored):
    result, _ = explored
    objectives = [(o.column, -1.0 if o.maximise else 1.0) for o in result.objectives]
    for pj in (10, 21):
        ok = [
            r for r in result.rows
            if r["constraints_ok"] and r["energy.offchip_pj_per_bit"] == pj
        ]  # fmt: skip
        cost = np.array([[r[c] * s for c, s in objectives] for r in ok])
        front = [i for i, r in enumerate(ok) if r["pareto_rank"] == 1]
        assert front
        for i in range(len(ok)):
            dominated = any(
                (cost[j] <= cost[i]).all() and (cost[j] < cost[i]).any() for j in range(len(ok))
            )
            assert dominated == (i not in front)
    assert all(r["fps"] >= 100 for r in result.rows if r["constraints_ok"])
    assert all(r["pareto_rank"] is None for r in result.rows if not r["constraints_ok"])


def _loglog(x0: float, y0: float, x1: float, y1: float, x: float) -> float:
    """y at x on the straight line through (x0, y0) and (x1, y1) in log-log."""
    t = math.log(x / x0) / math.log(x1 / x0)
    return y0 ** (1 - t) * y1**t


#: configs/memory/cacti_22nm.yaml, itrs-lstp, 16-bit words: (bits, read pJ, write pJ,
#: leakage mW, area mm2) of the 64, 128 and 256 kbit macros
M64 = (65536, 1.00376, 0.693235, 0.00174755, 0.00720668)
M128 = (131072, 1.79286, 1.04327, 0.00297331, 0.0142427)
M256 = (262144, 2.12375, 1.37416, 0.00594661, 0.0291054)


def _bank(lo: tuple, hi: tuple, bits: int) -> list[float]:
    return [_loglog(lo[0], lo[k], hi[0], hi[k], bits) for k in range(1, 5)]


def test_doubling_the_memory_costs_what_the_tables_say():
    """Hand derivation from the memory table: the preset FMM is one bank per Tile-PU of
    ceil(6.4 Mbit / 49) = 130,613 bits (between the 64 and 128 kbit macros); 12.8 Mbit makes
    261,225-bit banks (between 128 and 256 kbit). Area and leakage are 49 banks' worth
    (leakage x 0.5/0.8 from CACTI's Vdd), a read or write costs the bank's energy per access
    / 16 bits x (0.5/0.8)^2. The cores grow; the 2x2 dies stay pad-limited at 11.8336 mm2
    (see test_chip_area_by_hand). The counts (cycles, bits) do not change."""
    chip = default_section("chip")
    one = {"frames": 1}  # one frame alone: a larger FMM would let the next image in earlier
    small = simulate("resnet18", "128x128", chip, one, mesh="2x2")
    big = simulate("resnet18", "128x128", chip.model_copy(update={"fmm_bits": 12_800_000}),
                   one, mesh="2x2")  # fmt: skip
    assert big.counts.total_cycles == small.counts.total_cycles
    rs, ws, ls, as_ = _bank(M64, M128, 130_613)
    rb, wb, lb, ab = _bank(M128, M256, 261_225)
    extra_area = 49 * (ab - as_)  # about 0.73 mm2
    assert big.row["core_area_mm2"] - small.row["core_area_mm2"] == pytest.approx(extra_area)
    assert big.row["chip_area_mm2"] == small.row["chip_area_mm2"] == pytest.approx(11.8336)
    seconds = small.row["latency_s"]
    extra_leak = big.row["leakage_energy_j"] - small.row["leakage_energy_j"]
    leak_mw = 49 * (lb - ls) * 0.5 / 0.8  # about 0.091 mW per chip
    assert extra_leak == pytest.approx(4 * leak_mw * 1e-3 * seconds, rel=1e-9)
    dyn = (0.5 / 0.8) ** 2 * 1e-12 / 16
    fmm_j = lambda r, rd, wr: (r.counts.fmm_read_bits.sum() * rd  # noqa: E731
                               + r.counts.fmm_write_bits.sum() * wr) * dyn  # fmt: skip
    wbuf_j = small.row["onchip_mem_energy_j"] - fmm_j(small, rs, ws)
    assert big.row["onchip_mem_energy_j"] == pytest.approx(fmm_j(big, rb, wb) + wbuf_j, rel=1e-9)
    assert rb / rs == pytest.approx(1.187, rel=1e-3)  # a read 1.19x dearer


def test_chip_area_by_hand():
    """7x7 Tile-PUs with 16 FMPUs: 49 x (0.00028 + 16 x 0.00056) = 0.45276 mm2; 6.4 Mbit of
    FMM: 49 banks of 130,613 bits, each interpolated between CACTI's 64 and 128 kbit macros
    (0.00720668 and 0.0142427 mm2): about 0.695 mm2; ResNet-18's largest weight block (16
    channels x 512 x 3 x 3 bits) doubled: 147,456 bits = 147.456 kbit x 0.0017 = 0.2506752
    mm2; control 0.1 mm2: a core of about 1.50 mm2. Pads on a 2x2 mesh: 26 off-chip + 8
    directed ports x (16 + 2) = 170 signal pads and 85 power/ground pads, 64 per side at
    50 um plus two 120 um corners: a 3.44 mm side, more than the core's sqrt(1.50) + 0.24 =
    1.46 mm: a pad-limited 11.8336 mm2 die."""
    r = simulate("resnet18", "128x128", mesh="2x2")
    sram = 49 * _bank(M64, M128, 130_613)[3]
    core = 0.45276 + sram + 0.2506752 + 0.1
    assert r.row["core_area_mm2"] == pytest.approx(core, rel=1e-12)
    assert r.row["chip_area_mm2"] == pytest.approx(3.44**2, rel=1e-12)
    assert r.row["pad_limited"] is True
    assert r.row["silicon_area_mm2"] == pytest.approx(4 * 3.44**2, rel=1e-12)
    one = simulate("resnet18", "128x128", default_section("chip").model_copy(
        update={"fmm_bits": 12_800_000}), mesh="1x1")  # fmt: skip
    # a single chip has no link ports: 26 signal + 13 power pads need a 0.74 mm side; its
    # banks are 261,225 bits, and the core inside the ring sets the die
    big_sram = 49 * _bank(M128, M256, 261_225)[3]
    assert one.row["pad_limited"] is False
    side = (core - sram + big_sram) ** 0.5 + 0.24
    assert one.row["chip_area_mm2"] == pytest.approx(side**2, rel=1e-12)


def test_outputs_and_cached_rerun(tmp_path, capsys):
    path = write(tmp_path, SPACE)
    args = ["explore", str(path), "--out", str(tmp_path / "o"), "--no-progress",
            "--executor", "serial", "--no-plots"]  # fmt: skip
    assert cli.main(args) == 0, capsys.readouterr().err
    first = capsys.readouterr().out
    assert "Pareto front, resnet18 at 256x256, energy.offchip_pj_per_bit = 10" in first
    with (tmp_path / "o" / "pareto.csv").open() as fh:
        front = list(csv.DictReader(fh))
    with (tmp_path / "o" / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 9 * 3 * 2 * 2 and front and all(r["pareto_rank"] == "1" for r in front)
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["constraints"] == ["fps >= 100"]
    assert cli.main(args) == 0
    again = capsys.readouterr().out
    assert f"0 evaluated, {manifest['evaluated_groups']} from cache" in again
    with (tmp_path / "o" / "pareto.csv").open() as fh:
        assert list(csv.DictReader(fh)) == front


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"objectives": {"energy": "min", "speed": "max"}}, "explore.objectives.speed",
         "unknown objective 'speed'"),
        ({"constraints": ["watts <= 3"]}, "explore.constraints[0]", "names no numeric"),
        ({"constraints": ["fps >> 3"]}, "explore.constraints", "COLUMN OP NUMBER"),
        ({"mesh": {"max_rows": 2}}, "explore.mesh", "max_rows and max_cols"),
        ({"axes": {"chip.fmm_bits": []}}, "explore.axes.chip.fmm_bits", "at least 1"),
        ({"axes": {"chip.fmm_bit": [1]}}, "explore.axes", "no key 'fmm_bit'"),
        ({"mesh": {"max_rows": 64, "max_cols": 64},
          "axes": {"chip.fmm_bits": list(range(1_000_000, 1_000_030))}}, "explore",
         "over the limit"),
        ({"objectives": {"energy": "min"}}, "explore.objectives", "at least 2"),
    ],
)  # fmt: skip
def test_bad_explore_blocks_exit_2_naming_the_key(tmp_path, capsys, change, key, words):
    data = json.loads(json.dumps(SPACE))
    data["explore"].update(change)
    path = write(tmp_path, data)
    rc = cli.main(["explore", str(path), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and str(path) in err and key in err and words in err, err


def test_run_refuses_nothing_silently_without_explore_block(tmp_path, capsys):
    data = {k: v for k, v in SPACE.items() if k != "explore"}
    rc = cli.main(["explore", str(write(tmp_path, data)), "--out", str(tmp_path / "o")])
    assert rc == 2 and "no explore: block" in capsys.readouterr().err


def test_same_answer_on_every_executor(tmp_path):
    """Serial and process-pool searches give identical rows, bit for bit."""
    data = json.loads(json.dumps(SPACE))
    data["explore"]["mesh"] = {"max_rows": 2, "max_cols": 2}
    spec, base = load_experiment(write(tmp_path, data))
    serial = explore(spec, base, write=False, executor="serial")
    pool = explore(spec, base, write=False, executor="processes", jobs=2)
    assert serial.rows == pool.rows


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["fit", "nope", "--input", "64x64"], "unknown network 'nope'"),
        (["fit", "resnet18", "--input", "64x64", "--mesh", "2x"], "--mesh"),
        (["fit", "yolov3", "--input", "1920x1080"], "multiples of 32"),
    ],
)
def test_fit_refuses_bad_input_before_printing_anything(capsys, args, words):
    assert cli.main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err
