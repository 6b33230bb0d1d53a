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

Each evaluated group is cached in ``<out>/cache`` (as ``run`` caches its points) under the
hash of its payload (every variant's resolved spec) and its network's structure, so a
re-run, or a run resumed after Ctrl-C, recomputes nothing that is done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from hyperdrive_sim import __version__
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.explore.evaluate import evaluate_group
from hyperdrive_sim.explore.space import Group, Variant, cache_keys
from hyperdrive_sim.report.folders import output_folder
from hyperdrive_sim.report.writers import OutputSet
from hyperdrive_sim.spec.experiment import ExperimentSpec
from hyperdrive_sim.spec.loader import describe_error
from hyperdrive_sim.spec.models import SWEEP_SECTIONS, PointSpec
from hyperdrive_sim.sweep.cache import PointCache
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
#: variants evaluated at once: only this many result rows are held in memory, whatever the
#: number of samples (Monte-Carlo rows are reduced to their metrics as they arrive)
MC_CHUNK = 1000


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


#: ranged parameters that a spec does not use, by the condition under which it does not
UNUSED = {
    "chip.ternary_zero_fraction": lambda point: point.chip.weight_format != "ternary",
    "energy.serdes_pj_per_bit": lambda point: point.system.link_technology != "serdes",
}


def uncertain_params(point: PointSpec, fixed: set[str]) -> list[Param]:
    """Every ranged parameter of the point's sections, except the ``fixed`` paths and those
    the point does not use (``UNUSED``)."""
    out = []
    for section in SWEEP_SECTIONS:
        spec = getattr(point, section)
        for key, r in sorted(spec.ranges.items()):
            path = f"{section}.{key}"
            if path in fixed or (path in UNUSED and UNUSED[path](point)):
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
    #: evaluated groups: how many in all, computed now, taken from the cache
    stats: dict[str, int] = field(default_factory=dict)


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
        groups.setdefault(key, []).append(Variant({"variant": label, "point": tag}, v))
    return [
        Group(key, max(vs, key=lambda x: x.point.chip.fmm_bits).point, tuple(vs))
        for key, vs in groups.items()
    ]


def _variants(
    point: PointSpec, params: list[Param], draws: np.ndarray, samples: int, file: str | None
) -> Iterator[tuple[str, PointSpec]]:
    """The base point, each parameter at its low and high end, then the Monte-Carlo
    samples, made one at a time (only MC_CHUNK of them are held at once). A variant the
    spec refuses is bad input naming the ranges, never an internal error."""
    yield "base", point
    for p in params:
        for end in ("low", "high"):
            yield f"{end}:{p.path}", _checked(point, {p: getattr(p, end)}, file, [p], end)
    for s in range(samples):
        changes = {p: p.draw(draws[s, k]) for k, p in enumerate(params)}
        yield f"mc:{s}", _checked(point, changes, file, params, f"sample {s}")


def _checked(
    point: PointSpec, changes: dict[Param, float], file: str | None, blamed: list[Param], what: str
) -> PointSpec:
    try:
        return _variant(point, changes)
    except ValidationError as exc:
        problem = describe_error(exc.errors(include_url=False)[0])
        raise InputError(
            f"the spec is invalid at the range's {what}: {problem}; narrow the range",
            file=file,
            key=(
                f"{blamed[0].section}.ranges.{blamed[0].key}"
                if len(blamed) == 1
                else ", ".join(sorted({f"{p.section}.ranges" for p in blamed}))
            ),
        ) from None


def _check_extremes(point: PointSpec, params: list[Param], file: str | None) -> None:
    """Every parameter at its low end together, and at its high end together, must still be
    a valid spec (each range end alone was checked when the file was read): an energy table
    whose every energy may be zero is refused here, naming the parameters, not mid-run."""
    for end in ("low", "high"):
        try:
            _variant(point, {p: getattr(p, end) for p in params})
        except ValidationError as exc:
            problem = describe_error(exc.errors(include_url=False)[0])
            sections = sorted({p.section for p in params})
            raise InputError(
                f"with every ranged parameter at its {end} end the spec is invalid: {problem}; "
                "narrow the ranges",
                file=file,
                key=", ".join(f"{s}.ranges" for s in sections),
            ) from None


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
    cache: bool = True,
) -> SensitivityResult:
    """OAT and Monte-Carlo over the ranges of every point of ``spec`` that fits.

    Writes to ``out_dir``, else ``<the spec's output folder>/sensitivity/``; with ``write``
    and ``cache``, evaluated groups are cached there and reused by a re-run.
    """
    if samples < 1:
        raise InputError(f"expected at least 1 sample, got {samples}", key="--samples")
    _columns, points = expand(spec, file)
    swept = set(spec.sweep.grid) | set(spec.sweep.zip) if spec.sweep else set()
    for alternative in spec.sweep.alternatives if spec.sweep else ():  # what each one sets
        swept.update(*alternative.case_points())
    fixed = {path for path in swept if "." in path}
    plans = []
    for i, point in enumerate(points):
        params = uncertain_params(point, fixed)
        _check_extremes(point, params, file)
        plans.append(
            (i, point, params, np.random.default_rng([seed, i]).random((samples, len(params))))
        )
    total = sum(1 + 2 * len(params) + samples for _, _, params, _ in plans)
    fixed_rows: dict[int, dict[str, dict[str, Any]]] = {i: {} for i, _, _, _ in plans}
    mc_values = {i: {name: [] for name in METRICS} for i, _, _, _ in plans}
    mc_fit = dict.fromkeys(fixed_rows, 0)
    done = 0
    target = output_folder(spec.name, spec.output_dir, out_dir, sub="sensitivity")
    store = PointCache(target / "cache") if write and cache else None
    stats = {"groups": 0, "computed": 0, "cached": 0}
    if progress:
        progress(0, total, "starting")

    def keep(i: int, label: str, row: dict[str, Any] | None) -> None:
        """A variant's row: base and one-at-a-time rows are kept, Monte-Carlo rows are
        reduced to their metrics at once (memory stays bounded by MC_CHUNK rows)."""
        if not label.startswith("mc:"):
            fixed_rows[i][label] = row
        elif row and row.get("fits"):
            mc_fit[i] += 1
            for name, metric in METRICS.items():
                mc_values[i][name].append(metric(row))

    def take(group: Group, rows: list[dict[str, Any]]) -> None:
        nonlocal done
        for v, row in zip(group.variants, rows, strict=True):
            keep(int(v.labels["point"]), v.labels["variant"], row)
        done += len(group.variants)
        if progress:
            progress(done, total, "")

    def run_chunk(chunk: list[tuple[int, str, PointSpec]]) -> None:
        groups = [
            g
            for i in dict.fromkeys(i for i, _, _ in chunk)
            for g in _groups([(label, v) for j, label, v in chunk if j == i], str(i))
        ]
        keys = _cache_keys(groups, base)
        by_key = {keys[g.key]: g for g in groups}

        def on_done(key: str, entry: dict[str, Any]) -> None:
            if "rows" not in entry:
                reason = (entry.get("row") or {}).get("reason") or "internal error"
                raise InputError(f"a sensitivity variant failed: {reason}", key="sensitivity")
            if store is not None:
                store.put_payload(key, entry)
            take(by_key[key], entry["rows"])

        jobs_list = []
        for key, group in by_key.items():
            hit = store.get_payload(key) if store is not None else None
            if hit is not None:
                stats["cached"] += 1
                take(group, hit["rows"])
            else:
                jobs_list.append((key, group.payload(), None))
        stats["groups"] += len(groups)
        stats["computed"] += len(jobs_list)
        if not jobs_list:
            return
        serial = executor == "processes" and len(jobs_list) == 1
        run = RUNNERS["serial" if serial else executor]
        run(jobs_list, str(base), on_done, workers=jobs, scheduler=scheduler, task=evaluate_group)

    chunk: list[tuple[int, str, PointSpec]] = []
    for i, point, params, draws in plans:
        for label, variant in _variants(point, params, draws, samples, file):
            chunk.append((i, label, variant))
            if len(chunk) >= MC_CHUNK:
                run_chunk(chunk)
                chunk = []
    if chunk:
        run_chunk(chunk)
    uncertainty: list[dict[str, Any]] = []
    tornado: list[dict[str, Any]] = []
    for i, point, params, _ in plans:
        _summarise(i, point, params, fixed_rows[i], mc_values[i], mc_fit[i], uncertainty, tornado)
    result = SensitivityResult(
        tuple(uncertainty), tuple(tornado), target if write else None, samples, seed,
        stats,
    )  # fmt: skip
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


def _cache_keys(groups: list[Group], base: Path) -> dict[str, str]:
    """Cache key of each group: its payload (every variant's resolved spec, so samples and
    seed are in it) with the simulator version and its network's structure."""
    return cache_keys(
        groups, base, lambda g, net: f"sensitivity {__version__}\n{g.payload()}\n{net}"
    )


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


def _summarise(i, point, params, got, mc_values, mc_fit, uncertainty, tornado) -> None:
    base = got["base"]
    fields = _point_fields(i, point)
    row: dict[str, Any] = {**fields, "fits": bool(base and base.get("fits"))}
    row["samples_fit"] = mc_fit
    for name, metric in METRICS.items():
        row[name] = metric(base) if row["fits"] else None
        qs = _quantiles(mc_values[name])
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
