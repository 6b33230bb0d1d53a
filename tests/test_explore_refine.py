"""Fronts refined by the event model: which points are re-evaluated, the re-ranking (by hand
and against a search evaluated with simpy throughout), the cache, the executors, the
figure and the error messages."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from hyperdrive_sim import cli
from hyperdrive_sim.experiment import load_experiment
from hyperdrive_sim.explore import run as explore_run
from hyperdrive_sim.explore.refine import (
    EVALUATOR_FIXED,
    candidates,
    margins,
    near_feasible,
    shielded,
)
from hyperdrive_sim.explore.run import _rank, _refine, explore, objectives_of
from hyperdrive_sim.explore.space import expand_groups, with_evaluator
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec.explore import Constraint

#: a small space whose simpy evaluations take a fraction of a second each: ResNet-18 at
#: 64x64 on four meshes, two memories (one group per mesh)
SPACE = {
    "name": "refine_space",
    "networks": ["resnet18"],
    "inputs": ["64x64"],
    "explore": {
        "mesh": {"shapes": ["1x1", "1x2", "2x1", "2x2"]},
        "axes": {"chip.fmm_bits": [6_400_000, 12_800_000]},
        "objectives": {"energy": "min", "fps": "max", "silicon_area": "min"},
        "refine": "simpy",
    },
}


def write(tmp_path: Path, data: dict, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def variant(data: dict, **explore) -> dict:
    out = json.loads(json.dumps(data))
    out["explore"].update(explore)
    return out


# -- which points are refined -------------------------------------------------------------------

FPS_AREA = [("fps", True), ("silicon_area_mm2", False)]


def test_a_point_is_shielded_only_beyond_the_margin_in_every_changing_objective():
    """By hand, margin 10%: the front point (fps 110, area 5) shields (fps 99, area 5):
    110 / 1.1 = 100 > 99 and the area (fixed by the spec) is no worse; it does not shield
    (fps 101, area 5) (100 < 101), nor (fps 50, area 4) (smaller area), nor itself."""
    front = np.array([[110.0, 5.0]])
    points = np.array([[99.0, 5.0], [101.0, 5.0], [50.0, 4.0], [110.0, 5.0]])
    tenth = margins([{"fps": 110.0, "silicon_area_mm2": 5.0}], FPS_AREA, 0.1)
    assert tenth.tolist() == [[0.1, 0.0]]
    assert shielded(front, tenth, points, FPS_AREA).tolist() == [True, False, False, False]
    # with no margin, strictly better in fps is enough
    assert shielded(front, 0 * tenth, points, FPS_AREA).tolist() == [True, True, False, False]


def test_the_energy_margin_is_the_leakage_share_of_the_time_margin():
    """The evaluators differ in time; only the leakage (20% of this front point's 1.0 J)
    scales with it: margin 10% -> 2% on the energy. 1.0 x 1.02 = 1.02 < 1.03 shields,
    > 1.01 does not."""
    energy = [("total_energy_j", False)]
    row = {"total_energy_j": 1.0, "leakage_energy_j": 0.2}
    spread = margins([row], energy, 0.1)
    assert spread.tolist() == [[pytest.approx(0.02)]]
    got = shielded(np.array([[1.0]]), spread, np.array([[1.03], [1.01]]), energy)
    assert got.tolist() == [True, False]


def test_the_objectives_an_evaluator_cannot_change_are_equal_in_both():
    """Second method for EVALUATOR_FIXED: the same point with both evaluators."""
    rows = [
        simulate("resnet18", "64x64", mesh="2x2", evaluator=e).row for e in ("analytic", "simpy")
    ]
    assert rows[0]["fps"] != rows[1]["fps"]  # the event model does see something else here
    for column in EVALUATOR_FIXED:
        assert rows[0][column] == rows[1][column], column
    # the frame energy differs by the leakage alone
    leak = rows[1]["leakage_energy_j"] - rows[0]["leakage_energy_j"]
    assert leak != 0
    diff = rows[1]["total_energy_j"] - rows[0]["total_energy_j"]
    assert diff == pytest.approx(leak, rel=1e-9)


def test_a_point_just_missing_a_constraint_is_a_candidate():
    fps30 = [("fps", Constraint(column="fps", op=">=", value=30))]
    row = {"fits": True, "fps": 28.0}
    assert near_feasible(row, fps30, 0.1)  # 2 below 30: within 10% of the bound
    assert not near_feasible({**row, "fps": 26.0}, fps30, 0.1)  # 4 below: not
    assert not near_feasible({**row, "fits": False}, fps30, 0.1)
    chips = [("chips", Constraint(column="chips", op="<=", value=4))]
    assert not near_feasible({"fits": True, "chips": 5}, chips, 0.5)  # fixed by the spec


# -- re-ranking, by hand ------------------------------------------------------------------------

#: hand-made rows per mesh: (analytic fps, simpy fps, silicon area); the area is the same
#: for both evaluators, as it is in the simulator
HAND = {
    "1x1": (100.0, 100.0, 2.0),
    "1x2": (120.0, 105.0, 5.0),  # on the analytic front; simpy puts it behind 2x1
    "2x1": (118.0, 117.0, 5.0),  # 1.7% behind 1x2: within the margin, refined first
    "2x2": (200.0, 150.0, 12.0),
    "1x3": (170.0, 160.0, 13.0),  # 2x2 beats it by 18% > 10%: shielded until 2x2 falls
}


class HandRunner:
    """Hands back the simpy rows of HAND instead of evaluating (and records the groups)."""

    def __init__(self, base: Path):
        self.base = base
        self.calls: list[list[str]] = []

    def rows(self, groups, keys, what=""):
        self.calls.append([str(g.point.mesh) for g in groups])
        done = {}
        for g in groups:
            assert g.point.evaluator == "simpy"
            done[g.key] = [hand_row(str(g.point.mesh), "simpy")]
        return done, 0


def hand_row(mesh: str, evaluator: str) -> dict:
    fa, fs, area = HAND[mesh]
    rows, cols = map(int, mesh.split("x"))
    return {
        "network": "resnet18", "input_w": 64, "input_h": 64, "mesh_rows": rows,
        "mesh_cols": cols, "chips": rows * cols, "fits": True, "status": "ok",
        "evaluator": evaluator, "fps": fa if evaluator == "analytic" else fs,
        "silicon_area_mm2": area,
    }  # fmt: skip


def test_refining_re_ranks_by_hand(tmp_path):
    """Analytic front: 1x1, 1x2, 2x2 and 1x3 ((170, 13): no point has both more fps and
    less area... except 2x2 (200, 12), which dominates it: 1x3 is rank 2, 2x2 beating it by
    200 / 170 = 1.18 > 1.1, so it is not refined in round 1). 2x1 (118, 5) is rank 2 behind
    1x2 (120, 5), within 10%: refined in round 1 with the front.
    After round 1 (simpy): 1x1 (100, 2), 1x2 (105, 5), 2x1 (117, 5), 2x2 (150, 12): 2x1
    dominates 1x2, and 1x3 (170 analytic) is no longer dominated by 2x2 (150): it is on the
    front unrefined, so round 2 refines it (160 > 150: it stays). Final ranks: 1x1 1,
    2x1 1, 1x2 2, 2x2 1, 1x3 1."""
    data = {
        **{k: v for k, v in SPACE.items() if k != "explore"},
        "explore": {
            "mesh": {"shapes": list(HAND)},
            "objectives": {"fps": "max", "silicon_area": "min"},
            "refine": "simpy",
        },
    }
    spec, base = load_experiment(write(tmp_path, data))
    groups = expand_groups(spec, spec.explore, None)
    rows = [hand_row(str(g.point.mesh), "analytic") for g in groups]
    objectives = objectives_of(spec.explore, None)
    _rank(rows, objectives, spec.explore)
    rank = lambda: {f"{r['mesh_rows']}x{r['mesh_cols']}": r["pareto_rank"] for r in rows}  # noqa: E731
    assert rank() == {"1x1": 1, "1x2": 1, "2x1": 2, "2x2": 1, "1x3": 2}
    runner = HandRunner(base)
    stats = _refine(rows, groups, objectives, spec.explore, runner)
    assert runner.calls == [["1x1", "1x2", "2x1", "2x2"], ["1x3"]]
    assert rank() == {"1x1": 1, "1x2": 2, "2x1": 1, "2x2": 1, "1x3": 1}
    assert stats == {
        "refine_rounds": 2, "refined_groups": 5, "refine_cached_groups": 0,
        "refined_points": 5, "joined_front": 2, "left_front": 1, "rank_changed": 3,
    }  # fmt: skip
    by_mesh = {f"{r['mesh_rows']}x{r['mesh_cols']}": r for r in rows}
    assert by_mesh["1x2"]["before_refining"] == {"fps": 120.0, "silicon_area_mm2": 5.0}
    assert by_mesh["1x2"]["rank_before_refining"] == 1 and by_mesh["1x2"]["fps"] == 105.0


def test_candidates_skip_refined_rows_and_other_cases():
    rows = [hand_row(m, "analytic") for m in HAND]
    rows[3]["network"] = "other"  # 2x2 alone in its case: its own front
    for r in rows:
        r["constraints_ok"] = True
    rows[0]["pareto_rank"] = rows[1]["pareto_rank"] = rows[3]["pareto_rank"] = 1
    case = lambda r: (r["network"],)  # noqa: E731
    got = candidates(rows, FPS_AREA, [], case, 0.1, refined=lambda r: r is rows[0])
    # 1x1 is refined already; 1x3 (170, 13) is no longer shielded by 2x2 (another case)
    assert got == [1, 2, 3, 4]


# -- the simulator: values, front, cache, executors ---------------------------------------------


@pytest.fixture(scope="module")
def refined(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refine")
    spec, base = load_experiment(write(tmp, SPACE))
    return explore(spec, base, out_dir=tmp / "out", executor="serial"), tmp


def test_refined_rows_are_the_event_models_and_the_front_is_its_front(refined, tmp_path):
    """Second method: each refined point simulated on its own with simpy; third: the same
    space searched with simpy throughout gives the same front."""
    result, _ = refined
    for row in result.rows:
        if not row["fits"]:
            continue
        assert row["refined"] is True  # margin 10%: every point of this small space
        chip = {"fmm_bits": row["chip.fmm_bits"]}
        mesh = f"{row['mesh_rows']}x{row['mesh_cols']}"
        alone = simulate("resnet18", "64x64", chip, mesh=mesh, evaluator="simpy").row
        for column in ("fps", "total_energy_j", "cycles", "silicon_area_mm2"):
            assert row[column] == alone[column], (mesh, column)
    spec, base = load_experiment(write(tmp_path, SPACE), ["evaluator=simpy"])
    throughout = explore(spec, base, write=False, executor="serial")
    key = lambda r: (r["mesh_rows"], r["mesh_cols"], r["chip.fmm_bits"])  # noqa: E731
    assert {key(r) for r in result.front} == {key(r) for r in throughout.front}
    assert [r["pareto_rank"] for r in result.rows] == [r["pareto_rank"] for r in throughout.rows]


def test_refinement_table_and_manifest(refined):
    result, tmp = refined
    out = tmp / "out"
    with (out / "refinement.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == result.stats["refined_points"] == sum(r["fits"] for r in result.rows)
    for row in table:
        before, after = float(row["fps_analytic"]), float(row["fps_simpy"])
        assert float(row["fps_change"]) == pytest.approx(after / before - 1, rel=1e-9)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["refine"] == "simpy" and manifest["refine_margin"] == 0.1
    with (out / "results.csv").open() as fh:
        assert {r["refined"] for r in csv.DictReader(fh) if r["fits"] == "True"} == {"True"}


def test_a_second_run_does_no_simpy_work(tmp_path, monkeypatch):
    """A plain simpy search fills the cache; refining the same space then evaluates nothing
    with simpy (refined groups share the cache keys), and a second refined run nothing."""
    path = write(tmp_path, SPACE)
    out = tmp_path / "out"
    spec, base = load_experiment(path, ["evaluator=simpy"])
    explore(spec, base, out_dir=out, executor="serial")
    spec, base = load_experiment(path)
    calls = []
    real = explore_run.evaluate_group

    def counted(payload, base, trace=None):
        calls.append(json.loads(payload)["point"]["evaluator"])
        return real(payload, base, trace)

    monkeypatch.setattr(explore_run, "evaluate_group", counted)
    first = explore(spec, base, out_dir=out, executor="serial")
    assert calls == ["analytic"] * 4  # only the analytic search was new
    assert first.stats["refine_cached_groups"] == first.stats["refined_groups"] == 4
    calls.clear()
    second = explore(spec, base, out_dir=out, executor="serial")
    assert calls == [] and second.rows == first.rows


def test_refined_keys_are_the_keys_of_a_simpy_search(tmp_path):
    spec, _ = load_experiment(write(tmp_path, SPACE))
    simpy, _ = load_experiment(write(tmp_path, SPACE), ["evaluator=simpy"])
    groups = expand_groups(spec, spec.explore, None)
    assert [with_evaluator(g, "simpy").key for g in groups] == [
        g.key for g in expand_groups(simpy, simpy.explore, None)
    ]


def test_executors_agree_bit_for_bit(refined, tmp_path):
    result, _ = refined
    spec, base = load_experiment(write(tmp_path, SPACE))
    pool = explore(spec, base, write=False, executor="processes", jobs=2)
    assert pool.rows == result.rows and pool.stats == result.stats


@pytest.mark.slow
def test_dask_agrees_bit_for_bit(refined, tmp_path):
    pytest.importorskip("dask.distributed")
    result, _ = refined
    spec, base = load_experiment(write(tmp_path, SPACE))
    dask = explore(spec, base, write=False, executor="dask", jobs=2)
    assert dask.rows == result.rows and dask.stats == result.stats


def test_figure_marks_refined_points_only_when_there_are_some(refined):
    from hyperdrive_sim.viz.check import figure_problems
    from hyperdrive_sim.viz.pareto import pareto_builds

    result, _ = refined
    objectives = [(o.column, o.maximise) for o in result.objectives[:2]]  # one panel
    mark = "refined with simpy"

    def drawn(rows):
        ((_, build),) = pareto_builds(rows, objectives)
        fig = build()
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        marked = [len(c.get_offsets()) for c in fig.axes[0].collections if c.get_label() == mark]
        return labels, marked, fig

    labels, marked, fig = drawn(result.rows)
    assert figure_problems(fig) == []  # every legend entry drawn, nothing overlapping
    # every point that meets the constraints was refined here, and each is marked once
    assert mark in labels and marked == [sum(bool(r["constraints_ok"]) for r in result.rows)]
    assert "moved by refining" in labels
    assert "front refined with simpy" in fig._suptitle.get_text()
    plain = [{k: v for k, v in r.items() if k not in ("refined", "before_refining")}
             for r in result.rows]  # fmt: skip
    labels, marked, fig = drawn(plain)
    assert not marked and not any("refine" in label for label in labels)
    assert "refined" not in fig._suptitle.get_text()


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"refine": "gem5"}, "explore.refine", "'analytic' or 'simpy'"),
        ({"refine_margin": -0.1}, "explore.refine_margin", "greater than or equal to 0"),
        ({"refine_margin": ".nan"}, "explore.refine_margin", "finite"),
        ({"refine": None, "refine_margin": 0.2}, "explore", "refine_margin is set but refine"),
        ({"axes": {"evaluator": ["analytic", "simpy"]}}, "explore",
         "refine cannot be combined with an evaluator axis"),
    ],
)  # fmt: skip
def test_bad_refine_keys_exit_2_naming_file_and_key(tmp_path, capsys, change, key, words):
    data = variant(SPACE, **change)
    if data["explore"]["refine"] is None:
        del data["explore"]["refine"]
    path = write(tmp_path, data)
    if change.get("refine_margin") == ".nan":
        path.write_text(path.read_text().replace("'.nan'", ".nan"))
    rc = cli.main(["explore", str(path), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and str(path) in err and key in err and words in err, err


@pytest.mark.parametrize("margin", ["-1", "nan", "inf"])
def test_a_bad_refine_margin_option_exits_2(tmp_path, capsys, margin):
    path = write(tmp_path, SPACE)
    rc = cli.main(["explore", str(path), "--out", str(tmp_path / "o"), "--refine-margin", margin])
    err = capsys.readouterr().err
    assert rc == 2 and "--refine-margin: expected a relative margin >= 0" in err, err
    assert not (tmp_path / "o").exists()


def test_an_unknown_refine_evaluator_option_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["explore", str(write(tmp_path, SPACE)), "--refine", "gem5"])
    assert stop.value.code == 2
    assert "--refine: invalid choice: 'gem5'" in capsys.readouterr().err


def test_cli_refine_option_prints_what_moved(tmp_path, capsys):
    data = {**SPACE, "explore": {k: v for k, v in SPACE["explore"].items() if k != "refine"}}
    path = write(tmp_path, data)
    args = ["explore", str(path), "--out", str(tmp_path / "o"), "--no-progress", "--executor",
            "serial", "--no-plots", "--refine", "simpy", "--refine-margin", "0.05"]  # fmt: skip
    assert cli.main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "refined with simpy (margin 5%)" in out
    assert "refinement.csv" in out and (tmp_path / "o" / "refinement.csv").is_file()
