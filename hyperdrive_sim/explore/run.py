"""``hyperdrive-sim explore``: search a design space and return its Pareto front.

Steps: expand the ``explore:`` block into groups of design points (``space``); drop the
meshes whose chips cannot hold the peak feature maps even with the largest memory (a
lower bound from the 1x1 geometry, no evaluation); evaluate each remaining group once on
the executor and price its variants (``evaluate``); cache each group by its hash; apply
the constraints; rank the feasible points (``pareto``); write ``results.csv``,
``pareto.csv``, ``manifest.json`` and the figures as one set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hyperdrive_sim import __version__
from hyperdrive_sim.errors import SpecError, did_you_mean
from hyperdrive_sim.explore.evaluate import evaluate_group
from hyperdrive_sim.explore.pareto import pareto_ranks
from hyperdrive_sim.explore.refine import (
    JOINED,
    LEFT,
    STAYED_OFF,
    STAYED_ON,
    candidates,
    change,
    movement,
)
from hyperdrive_sim.explore.space import Group, cache_keys, expand_groups, with_evaluator
from hyperdrive_sim.mapping.fit import total_bits
from hyperdrive_sim.report.folders import output_folder, prune_figures
from hyperdrive_sim.report.writers import OutputSet
from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.simulate import resolve_network
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.experiment import ExperimentSpec
from hyperdrive_sim.spec.explore import ALIASES, ExploreSpec
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.sweep.cache import PointCache
from hyperdrive_sim.sweep.executors import RUNNERS

Progress = Callable[[int, int, str], None]
#: columns explore adds to the run columns
EXPLORE_COLUMNS = ("constraints_ok", "violated", "pareto_rank")
#: columns a refined search adds: whether a point was refined, and its rank before
REFINE_COLUMNS = ("refined", "rank_before_refining")


@dataclass(frozen=True)
class Objective:
    column: str
    maximise: bool

    @property
    def label(self) -> str:
        return f"{self.column} ({'max' if self.maximise else 'min'})"


@dataclass(frozen=True)
class ExploreResult:
    """Every design point's row, the objectives and the front."""

    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    objectives: tuple[Objective, ...]
    out_dir: Path | None
    stats: dict[str, int]
    scenarios: tuple[str, ...] = ()
    axes: tuple[str, ...] = ()  # the axis and scenario columns
    refine: str | None = None  # the evaluator the front was refined with
    evaluator: str = "analytic"  # the evaluator of the search (before refining)
    refine_margin: float = 0.0

    @property
    def front(self) -> tuple[dict[str, Any], ...]:
        return tuple(r for r in self.rows if r.get("pareto_rank") == 1)


def objectives_of(explore: ExploreSpec, file: str | None) -> tuple[Objective, ...]:
    """Objectives as result columns; unknown names fail with the allowed ones."""
    out = []
    named: dict[str, str] = {}
    for name, sense in explore.objectives.items():
        column = ALIASES.get(name, name)
        if column not in NUMERIC_COLUMNS:
            raise SpecError(
                f"unknown objective {name!r}{did_you_mean(name, [*ALIASES, *NUMERIC_COLUMNS])}; "
                f"expected a numeric result column or one of {', '.join(ALIASES)}",
                file=file,
                key=f"explore.objectives.{name}",
            )
        if column in named:
            raise SpecError(
                f"{name!r} and {named[column]!r} are the same result column ({column}); "
                "each objective must be a different column (the same column twice, or in "
                "opposite senses, would put every point on the front)",
                file=file,
                key=f"explore.objectives.{name}",
            )
        named[column] = name
        out.append(Objective(column, sense == "max"))
    return tuple(out)


def _check_constraints(explore: ExploreSpec, file: str | None) -> None:
    for i, c in enumerate(explore.constraints):
        if ALIASES.get(c.column, c.column) not in NUMERIC_COLUMNS:
            raise SpecError(
                f"constraint {str(c)!r} names no numeric result column; expected one of "
                f"{', '.join(ALIASES)} or a column such as total_energy_j",
                file=file,
                key=f"explore.constraints[{i}]",
            )


#: result columns that hold numbers (objectives and constraints may name them)
NUMERIC_COLUMNS = frozenset(RESULT_COLUMNS) - {
    "network", "evaluator", "accelerator", "operating_point", "fits", "reason", "status",
    "point_id",
}  # fmt: skip


def _prune(groups: list[Group], base: Path) -> tuple[list[Group], dict[str, str]]:
    """Split off groups whose mesh has too few chips for the peak maps at the largest memory.

    A mesh of k chips holds at most k x fmm_bits; the 1x1 geometry gives the most any layer
    needs at once over the whole map (halos aside, which only add). No evaluation needed.
    """
    keep, pruned, bounds = [], {}, {}
    for g in groups:
        p = g.point
        sig = (str(p.network), str(p.input), p.chip.model_dump_json(exclude={"fmm_bits"}))
        sig += (p.system.fusion,)
        if sig not in bounds:
            net = resolve_network(p.network, base).at(p.input.height, p.input.width)
            hw1 = Hardware(p.chip, p.system, p.energy, Mesh(rows=1, cols=1), p.area)
            bounds[sig] = total_bits(net, hw1)
        need = bounds[sig]
        if p.mesh.chips * p.chip.fmm_bits < need:
            pruned[g.key] = (
                f"does not fit: the maps need {need:,} bits at the peak, more than "
                f"{p.mesh.chips} chips x {p.chip.fmm_bits:,} bits of FMM hold"
            )
        else:
            keep.append(g)
    return keep, pruned


def _pruned_rows(group: Group, reason: str) -> list[dict[str, Any]]:
    rows = []
    for v in group.variants:
        p = v.point
        row = dict.fromkeys(RESULT_COLUMNS)
        row.update(
            network=str(p.network), input_h=p.input.height, input_w=p.input.width,
            mesh_rows=p.mesh.rows, mesh_cols=p.mesh.cols, chips=p.mesh.chips,
            evaluator=p.evaluator, accelerator=p.chip.name, operating_point=p.chip.operating_point,
            voltage_v=p.chip.point.voltage_v, frequency_mhz=p.chip.point.frequency_mhz,
            fmm_capacity_bits=p.chip.fmm_bits, fits=False, reason=reason, status="infeasible",
            **v.labels,
        )  # fmt: skip
        rows.append(row)
    return rows


def case_of(row: dict[str, Any], explore: ExploreSpec) -> tuple:
    """What a front is computed for: network, input and the scenario values."""
    return (
        row["network"],
        row["input_w"],
        row["input_h"],
        *(row.get(k) for k in explore.scenarios),
    )


def _column(name: str) -> str:
    return ALIASES.get(name, name)


def _rank(rows: list[dict], objectives: tuple[Objective, ...], explore: ExploreSpec) -> None:
    """Mark constraint violations and Pareto ranks in place, per network and input."""
    for row in rows:
        bad = [str(c) for c in explore.constraints if not c.holds(row.get(_column(c.column)))]
        row["constraints_ok"] = row["fits"] is True and not bad
        row["violated"] = "; ".join(bad) if row["fits"] else "does not fit"
        row["pareto_rank"] = None
    by_case: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        if row["constraints_ok"]:
            by_case.setdefault(case_of(row, explore), []).append(i)
    for idx in by_case.values():
        values = np.array([[rows[i][o.column] for o in objectives] for i in idx], dtype=float)
        ranks = pareto_ranks(values, [o.maximise for o in objectives])
        for i, r in zip(idx, ranks, strict=True):
            rows[i]["pareto_rank"] = int(r)


def explore_experiment(
    source: str | Path,
    *,
    overrides: Sequence[str] = (),
    out_dir: str | Path | None = None,
    executor: str = "processes",
    jobs: int | None = None,
    scheduler: str | None = None,
    cache: bool = True,
    progress: Progress | bool | None = None,
    plots: bool = True,
) -> ExploreResult:
    """Load an experiment with an ``explore:`` block (a file or a bundled name), search its
    design space, write the output set and, with ``plots``, the Pareto figures."""
    from hyperdrive_sim.experiment import _progress, load_experiment, prepare_output

    spec, base = load_experiment(source, overrides)
    file = str(loader.find_experiment(source))
    target = output_folder(spec.name, spec.output_dir, out_dir, overrides, sub="explore")
    if spec.explore is None:
        raise SpecError(
            "this experiment has no explore: block; run it with `hyperdrive-sim run`",
            file=file,
            key="explore",
        )
    prepare_output(target, file)
    result = explore(
        spec, base, file=file, out_dir=target, executor=executor, jobs=jobs,
        scheduler=scheduler, cache=cache, progress=_progress(progress),
    )  # fmt: skip
    if plots:  # the figures of this search only: those of cases it no longer has go
        prune_figures(target / "figures", keep=draw_pareto(result))
    return result


def draw_pareto(result: ExploreResult) -> list[Path]:
    """The Pareto figures of a written explore result, in ``<out>/figures/``."""
    from hyperdrive_sim.viz.pareto import pareto_figures

    if result.out_dir is None:
        return []
    objectives = [(o.column, o.maximise) for o in result.objectives]
    return pareto_figures(result.rows, objectives, result.out_dir / "figures", result.scenarios)


@dataclass(frozen=True)
class _Runner:
    """Where groups are evaluated: the executor, its options, the cache and the progress."""

    base: Path
    store: PointCache | None
    executor: str
    jobs: int | None
    scheduler: str | None
    progress: Progress | None

    def rows(self, groups: list[Group], keys: dict[str, str], what: str = "") -> tuple[dict, int]:
        """Rows of each group by group key, from the cache or evaluated on the executor
        (an internal error gives every variant a ``failed`` row, never cached); and how
        many groups came from the cache."""
        done: dict[str, list[dict[str, Any]]] = {}
        if self.store is not None:
            for g in groups:
                hit = self.store.get_payload(keys[g.key])
                if hit is not None:
                    done[g.key] = hit["rows"]
        cached = len(done)
        runs = [(keys[g.key], g.payload(), None) for g in groups if g.key not in done]
        group_of = {keys[g.key]: g for g in groups}
        total = len(groups)
        if self.progress:
            self.progress(cached, total, "cached" if cached else "starting")

        def on_done(key: str, entry: dict[str, Any]) -> None:
            group = group_of[key]
            if "rows" not in entry:  # an internal error: every variant reports it
                reason = (entry.get("row") or {}).get("reason") or "internal error"
                rows = _pruned_rows(group, reason)
                for row in rows:
                    row["status"] = "failed"
                done[group.key] = rows
            else:
                if self.store is not None:
                    self.store.put_payload(key, entry)
                done[group.key] = entry["rows"]
            if self.progress:
                p = group.point
                self.progress(len(done), total, f"{what}{p.network} {p.input} on {p.mesh}")

        if runs:
            executor = self.executor
            run = RUNNERS["serial" if executor == "processes" and len(runs) == 1 else executor]
            run(runs, str(self.base), on_done, workers=self.jobs, scheduler=self.scheduler,
                task=evaluate_group)  # fmt: skip
        return done, cached


def _group_keys(groups: list[Group], base: Path) -> dict[str, str]:
    return cache_keys(groups, base, lambda g, net: g.key + net)


def _refine(
    rows: list[dict[str, Any]],
    groups: list[Group],
    objectives: tuple[Objective, ...],
    ex: ExploreSpec,
    runner: _Runner,
) -> dict[str, int]:
    """Refine the ranked ``rows`` in place (see ``explore.refine``): re-evaluate the groups
    of the points within the margin of the front with ``ex.refine``, re-rank, and repeat
    until no unrefined point is within the margin. Returns the counts for the manifest."""
    start, at = {}, 0
    for g in groups:
        start[g.key] = at
        at += len(g.variants)
    group_of_row = [g for g in groups for _ in g.variants]
    for row in rows:
        row["rank_before_refining"] = row["pareto_rank"]
        row["refined"] = row["evaluator"] == ex.refine
    sense = [(o.column, o.maximise) for o in objectives]
    constraints = [(_column(c.column), c) for c in ex.constraints]
    done_groups: set[str] = set()
    stats = {"refine_rounds": 0, "refined_groups": 0, "refine_cached_groups": 0}
    while True:
        picked = candidates(
            rows, sense, constraints, lambda r: case_of(r, ex), ex.refine_margin,
            refined=lambda r: r["refined"],
        )  # fmt: skip
        todo = list({group_of_row[i].key: group_of_row[i] for i in picked}.values())
        todo = [g for g in todo if g.key not in done_groups]
        if not todo:
            break
        again = {g.key: with_evaluator(g, ex.refine) for g in todo}
        keys = _group_keys(list(again.values()), runner.base)
        done, cached = runner.rows(list(again.values()), keys, f"{ex.refine}: ")
        for g in todo:
            refined = again[g.key]
            at = start[g.key]
            for k, row in enumerate(done[refined.key]):
                old = rows[at + k]
                rows[at + k] = {
                    **row,
                    "point_id": keys[refined.key],
                    "rank_before_refining": old["rank_before_refining"],
                    "refined": row.get("status") != "failed",
                    "before_refining": {o.column: old.get(o.column) for o in objectives},
                }
        done_groups |= set(again)
        stats["refine_rounds"] += 1
        stats["refined_groups"] += len(todo)
        stats["refine_cached_groups"] += cached
        _rank(rows, objectives, ex)
    stats["refined_points"] = sum(  # re-evaluated, and fit (the rows of refinement.csv)
        "before_refining" in r and r["refined"] and r["fits"] is True for r in rows
    )
    moved = [movement(r["rank_before_refining"], r["pareto_rank"]) for r in rows]
    stats["joined_front"] = moved.count(JOINED)
    stats["left_front"] = moved.count(LEFT)
    stats["rank_changed"] = sum(
        r["rank_before_refining"] != r["pareto_rank"] for r in rows if "before_refining" in r
    )
    return stats


def refinement_rows(result: ExploreResult) -> list[dict[str, Any]]:
    """One row per refined point: where it ranked before and after, what happened to its
    place on the front, and each objective before, after and its relative change; by case,
    then the points whose place changed most first."""
    out = []
    for r in result.rows:
        if "before_refining" not in r or r.get("fits") is not True:
            continue
        row = {k: r.get(k) for k in REFINE_KEYS}
        row.update({k: r.get(k) for k in result.axes})
        row["rank_before"] = r["rank_before_refining"]
        row["rank_after"] = r["pareto_rank"]
        row["front"] = movement(r["rank_before_refining"], r["pareto_rank"])
        for o in result.objectives:
            before, after = r["before_refining"][o.column], r.get(o.column)
            row[f"{o.column}_{result.evaluator}"] = before
            row[f"{o.column}_{result.refine}"] = after
            row[f"{o.column}_change"] = change(before, after)
        out.append(row)
    order = {JOINED: 0, LEFT: 1, STAYED_ON: 2, STAYED_OFF: 3}

    def rank_shift(row: dict[str, Any]) -> int:
        before, after = row["rank_before"], row["rank_after"]
        return -abs(before - after) if before and after else 0

    return sorted(
        out, key=lambda row: (
            tuple(str(row.get(k)) for k in ("network", "input_w", "input_h", *result.scenarios)),
            order[row["front"]], rank_shift(row),
        ),
    )  # fmt: skip


#: columns of refinement.csv that name the point (the axes follow)
REFINE_KEYS = (
    "network", "input_w", "input_h", "mesh_rows", "mesh_cols", "chips", "fmm_capacity_bits",
    "operating_point",
)  # fmt: skip


def explore(
    spec: ExperimentSpec,
    base: Path,
    *,
    file: str | None = None,
    out_dir: str | Path | None = None,
    executor: str = "processes",
    jobs: int | None = None,
    scheduler: str | None = None,
    cache: bool = True,
    progress: Progress | None = None,
    write: bool = True,
) -> ExploreResult:
    """Evaluate the design space of ``spec.explore`` and rank it (refined with a second
    evaluator when it asks so); write the output set."""
    if spec.explore is None:
        raise SpecError(
            "this experiment has no explore: block; run it with `hyperdrive-sim run`",
            file=file,
            key="explore",
        )
    ex = spec.explore
    objectives = objectives_of(ex, file)
    _check_constraints(ex, file)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    groups = expand_groups(spec, ex, file)
    keys = _group_keys(groups, base)
    todo, pruned = _prune(groups, base)
    target = output_folder(spec.name, spec.output_dir, out_dir, sub="explore")
    store = PointCache(target / "cache") if write and cache else None
    runner = _Runner(base, store, executor, jobs, scheduler, progress)
    done, cached = runner.rows(todo, keys)
    rows: list[dict[str, Any]] = []
    for g in groups:
        group_rows = done.get(g.key) or _pruned_rows(g, pruned.get(g.key, "not evaluated"))
        rows.extend({**r, "point_id": keys[g.key]} for r in group_rows)
    _rank(rows, objectives, ex)
    refine_stats = _refine(rows, groups, objectives, ex, runner) if ex.refine else {}
    axis_columns = [k for k in ex.all_axes if k not in RESULT_COLUMNS]
    extra = REFINE_COLUMNS if ex.refine else ()
    columns = (*RESULT_COLUMNS, *axis_columns, *EXPLORE_COLUMNS, *extra)
    stats = {
        "points": len(rows),
        "groups": len(groups),
        "pruned_groups": len(pruned),
        "evaluated_groups": len(todo) - cached,
        "cached_groups": cached,
        "ok": sum(r["fits"] is True for r in rows),
        "failed": sum(r.get("status") == "failed" for r in rows),
        "meet_constraints": sum(bool(r["constraints_ok"]) for r in rows),
        "front": sum(r["pareto_rank"] == 1 for r in rows),
        **refine_stats,
    }
    result = ExploreResult(
        columns, tuple(rows), objectives, target if write else None, stats,
        tuple(ex.scenarios), tuple(axis_columns), ex.refine, spec.evaluator, ex.refine_margin,
    )  # fmt: skip
    if write:
        front = sorted(
            (r for r in rows if r["pareto_rank"] == 1),
            key=lambda r: tuple(r[o.column] * (-1 if o.maximise else 1) for o in objectives),
        )
        with OutputSet(target) as out:
            out.csv("results.csv", columns, rows)
            out.csv("pareto.csv", columns, front)
            if ex.refine:
                table = refinement_rows(result)
                out.csv("refinement.csv", refinement_columns(result), table)
            out.json(
                "manifest.json",
                {
                    "simulator_version": __version__,
                    "experiment_file": file,
                    "started": started,
                    "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                    "executor": executor,
                    "objectives": [o.label for o in objectives],
                    "constraints": [str(c) for c in ex.constraints],
                    **({"refine": ex.refine, "refine_margin": ex.refine_margin}
                       if ex.refine else {}),
                    **stats,
                },
            )  # fmt: skip
    return result


def refinement_columns(result: ExploreResult) -> tuple[str, ...]:
    """The columns of refinement.csv."""
    per_objective = [
        f"{o.column}_{suffix}"
        for o in result.objectives
        for suffix in (result.evaluator, result.refine, "change")
    ]
    return (*REFINE_KEYS, *result.axes, "rank_before", "rank_after", "front", *per_objective)
