"""``hyperdrive-sim sensitivity``: how far the answers move over the assumed values' ranges.

Every assumed number of the presets carries a range (``ranges:`` in its YAML: low, high,
why). For each point of an experiment this module evaluates

- one-at-a-time (OAT) variants: each ranged parameter at its low and at its high end, the
  others at their preset values (the tornado chart);
- a seeded Monte-Carlo: ``samples`` draws of every ranged parameter at once (log-uniform
  over a positive range, uniform over one that includes zero), giving p5 / p50 / p95 of
  each metric.

Parameters of the energy and area tables only change prices, so their variants share the
point's one evaluation and are re-priced (the grouping of ``explore``); system and chip
parameters change what is counted and are evaluated per variant. A parameter that is a
sweep axis of the experiment, or that an alternative of it sets, is the experiment's choice
and is not sampled. The same
experiment, samples and seed give the same numbers, bit for bit, on any executor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperdrive_sim import __version__
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.explore.evaluate import evaluate_group
from hyperdrive_sim.explore.space import Group, Variant
from hyperdrive_sim.report.writers import OutputSet
from hyperdrive_sim.spec.models import SWEEP_SECTIONS, ExperimentSpec, PointSpec
from hyperdrive_sim.sweep.executors import RUNNERS
from hyperdrive_sim.sweep.points import expand

#: metrics summarised, as (column, how it is computed from a results row)
METRICS: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "total_energy_j": lambda r: r.get("total_energy_j"),
    "system_tops_per_w": lambda r: r.get("system_tops_per_w"),
    "io_share": lambda r: (
        (r["offchip_io_energy_j"] + r["c2c_io_energy_j"]) / r["total_energy_j"]
        if r.get("total_energy_j")
        else None
    ),
    "fps": lambda r: r.get("fps"),
    "silicon_area_mm2": lambda r: r.get("silicon_area_mm2"),
}
QUANTILES = (5, 50, 95)
#: columns that name a point in the output tables
POINT_COLUMNS = ("point", "network", "input_w", "input_h", "mesh_rows", "mesh_cols")
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Param:
    """An assumed parameter of one section of a point, with its plausible range."""

    section: str
    key: str
    base: float
    low: float
    high: float
    integer: bool

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}"

    def value(self, x: float) -> float | int:
        return round(x) if self.integer else float(x)

    def draw(self, u: float) -> float:
        """The value at quantile ``u`` of the parameter's distribution: log-uniform over a
        positive range (the ranges are mostly "a factor of k either way", so the median
        stays at the preset), uniform over one that includes zero."""
        if self.low > 0:
            return float(self.low * (self.high / self.low) ** u)
        return self.low + u * (self.high - self.low)


def uncertain_params(point: PointSpec, fixed: set[str]) -> list[Param]:
    """Every ranged parameter of the point's sections, except the ``fixed`` paths."""
    out = []
    for section in SWEEP_SECTIONS:
        spec = getattr(point, section)
        for key, r in sorted(spec.ranges.items()):
            path = f"{section}.{key}"
            if path in fixed:
                continue
            base = getattr(spec, key)
            out.append(Param(section, key, base, r.low, r.high, isinstance(base, int)))
    return out


@dataclass(frozen=True)
class SensitivityResult:
    """Per point: the base row, OAT rows and Monte-Carlo quantiles."""

    uncertainty: tuple[dict[str, Any], ...]
    tornado: tuple[dict[str, Any], ...]
    out_dir: Path | None
    samples: int
    seed: int


def _variant(point: PointSpec, changes: dict[Param, float]) -> PointSpec:
    """``point`` with the given parameters changed, each changed section validated once."""
    by_section: dict[str, dict[str, Any]] = {}
    for p, x in changes.items():
        by_section.setdefault(p.section, {})[p.key] = p.value(x)
    update = {}
    for section, values in by_section.items():
        data = getattr(point, section).model_dump()
        data.update(values)
        update[section] = SWEEP_SECTIONS[section].model_validate(data)
    return point.model_copy(update=update)


def _groups(variants: list[tuple[str, PointSpec]], tag: str) -> list[Group]:
    """Variants grouped by what the plan depends on (not prices, not the system)."""
    groups: dict[str, list[Variant]] = {}
    for label, v in variants:
        plan_part = v.model_dump_json(exclude={"energy", "area", "system", "labels"})
        key = hashlib.sha256(f"{__version__}{tag}{plan_part}".encode()).hexdigest()[:32]
        groups.setdefault(key, []).append(Variant({"variant": label}, v))
    return [
        Group(key, max(vs, key=lambda x: x.point.chip.fmm_bits).point, tuple(vs))
        for key, vs in groups.items()
    ]


def _quantiles(values: Sequence[float | None]) -> dict[int, float | None]:
    v = np.array([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return dict.fromkeys(QUANTILES)
    return {q: float(np.percentile(v, q)) for q in QUANTILES}


def sensitivity(
    spec: ExperimentSpec,
    base: Path,
    *,
    file: str | None = None,
    samples: int = 200,
    seed: int = 0,
    out_dir: str | Path | None = None,
    executor: str = "processes",
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    write: bool = True,
) -> SensitivityResult:
    """OAT and Monte-Carlo over the ranges of every point of ``spec`` that fits."""
    if samples < 1:
        raise InputError(f"expected at least 1 sample, got {samples}", key="--samples")
    _columns, points = expand(spec, file)
    swept = set(spec.sweep.grid) | set(spec.sweep.zip) if spec.sweep else set()
    for alternative in spec.sweep.alternatives if spec.sweep else ():  # what each one sets
        swept.update(*alternative.case_points())
    fixed = {path for path in swept if "." in path}
    plans: list[tuple[int, PointSpec, list[Param], list[tuple[str, PointSpec]]]] = []
    for i, point in enumerate(points):
        params = uncertain_params(point, fixed)
        rng = np.random.default_rng([seed, i])
        draws = rng.random((samples, len(params)))
        variants: list[tuple[str, PointSpec]] = [("base", point)]
        for p in params:
            variants.append((f"low:{p.path}", _variant(point, {p: p.low})))
            variants.append((f"high:{p.path}", _variant(point, {p: p.high})))
        for s in range(samples):
            changes = {p: p.draw(draws[s, k]) for k, p in enumerate(params)}
            variants.append((f"mc:{s}", _variant(point, changes)))
        plans.append((i, point, params, variants))
    per_point = [_groups(variants, str(i)) for i, _, _, variants in plans]
    groups = [g for gs in per_point for g in gs]
    rows: dict[str, list[dict[str, Any]]] = {}

    def on_done(key: str, entry: dict[str, Any]) -> None:
        if "rows" not in entry:
            reason = (entry.get("row") or {}).get("reason") or "internal error"
            raise InputError(f"a sensitivity variant failed: {reason}", key="sensitivity")
        rows[key] = entry["rows"]
        if progress:
            progress(len(rows), len(groups), "")

    jobs_list = [(g.key, g.payload(), None) for g in groups]
    run = RUNNERS["serial" if executor == "processes" and len(jobs_list) == 1 else executor]
    run(jobs_list, str(base), on_done, workers=jobs, scheduler=scheduler, task=evaluate_group)
    uncertainty: list[dict[str, Any]] = []
    tornado: list[dict[str, Any]] = []
    for (i, point, params, _), gs in zip(plans, per_point, strict=True):
        got = {
            v.labels["variant"]: row
            for g in gs
            for v, row in zip(g.variants, rows[g.key], strict=True)
        }
        _summarise(i, point, params, got, samples, uncertainty, tornado)
    target = Path(out_dir or spec.output_dir or Path("results") / spec.name)
    result = SensitivityResult(
        tuple(uncertainty), tuple(tornado), target if write else None, samples, seed
    )
    if write:
        with OutputSet(target) as out:
            out.csv("uncertainty.csv", _uncertainty_columns(), uncertainty)
            out.csv("tornado.csv", _tornado_columns(), tornado)
            out.json(
                "sensitivity.json",
                {
                    "simulator_version": __version__,
                    "experiment_file": file,
                    "samples": samples,
                    "seed": seed,
                    "parameters": sorted({t["parameter"] for t in tornado}),
                },
            )
    return result


def _point_fields(i: int, point: PointSpec) -> dict[str, Any]:
    return {
        "point": i,
        "network": str(point.network),
        "input_w": point.input.width,
        "input_h": point.input.height,
        "mesh_rows": point.mesh.rows,
        "mesh_cols": point.mesh.cols,
        **{k: json.dumps(v) if isinstance(v, (list, dict)) else v
           for k, v in point.labels.items()},
    }  # fmt: skip


def _summarise(i, point, params, got, samples, uncertainty, tornado) -> None:
    base = got["base"]
    fields = _point_fields(i, point)
    row: dict[str, Any] = {**fields, "fits": bool(base and base.get("fits"))}
    mc = [got[f"mc:{s}"] for s in range(samples)]
    fits = [r for r in mc if r and r.get("fits")]
    row["samples_fit"] = len(fits)
    for name, metric in METRICS.items():
        row[name] = metric(base) if row["fits"] else None
        qs = _quantiles([metric(r) for r in fits])
        for q in QUANTILES:
            row[f"{name}_p{q}"] = qs[q]
    uncertainty.append(row)
    if not row["fits"]:
        return
    for p in params:
        lo, hi = got[f"low:{p.path}"], got[f"high:{p.path}"]
        entry = {**fields, "parameter": p.path, "base_value": p.base, "low": p.low,
                 "high": p.high}  # fmt: skip
        for name, metric in METRICS.items():
            entry[f"{name}_at_low"] = metric(lo) if lo and lo.get("fits") else None
            entry[f"{name}_at_high"] = metric(hi) if hi and hi.get("fits") else None
        tornado.append(entry)


def _uncertainty_columns() -> list[str]:
    cols = [*POINT_COLUMNS, "fits", "samples_fit"]
    for name in METRICS:
        cols += [name, *(f"{name}_p{q}" for q in QUANTILES)]
    return cols


def _tornado_columns() -> list[str]:
    cols = [*POINT_COLUMNS, "parameter", "base_value", "low", "high"]
    for name in METRICS:
        cols += [f"{name}_at_low", f"{name}_at_high"]
    return cols


__all__ = ["METRICS", "Param", "SensitivityResult", "sensitivity", "uncertain_params"]
