"""Expand an experiment into points: networks x inputs x meshes x grid x zip x alternatives.

A sweep axis is a dotted path: ``network``, ``input``, ``mesh``, ``evaluator``, or a key of
``chip.``, ``system.`` or ``energy.`` (for example ``energy.offchip_pj_per_bit``). ``grid``
axes form a cartesian product; ``zip`` axes advance together; each of the named
``alternatives`` applies its overrides on each of its cases (``sweep.alternatives``), and
its name becomes the ``alternative`` column. Each point is validated
before anything runs, so a bad sweep value fails fast with its key path.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import Any

from pydantic import ValidationError

from hyperdrive_sim import __version__, limits
from hyperdrive_sim.errors import SpecError
from hyperdrive_sim.readfile import digest_input
from hyperdrive_sim.spec.experiment import ExperimentSpec
from hyperdrive_sim.spec.loader import describe_error, format_key
from hyperdrive_sim.spec.memory import table_digest
from hyperdrive_sim.spec.models import SWEEP_SECTIONS, Mesh, PointSpec
from hyperdrive_sim.workload.network import Network

SECTIONS = SWEEP_SECTIONS


def _axes(spec: ExperimentSpec) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Sweep columns and the list of their value tuples, in a fixed order."""
    sweep = spec.sweep
    grid = dict(sweep.grid) if sweep else {}
    zipped = dict(sweep.zip) if sweep else {}
    grid_values = list(itertools.product(*grid.values())) if grid else [()]
    zip_values = list(zip(*zipped.values(), strict=True)) if zipped else [()]
    combos = [z + g for z in zip_values for g in grid_values]
    return list(zipped) + list(grid), combos


#: the results column naming a point's alternative (``sweep.alternatives``)
ALTERNATIVE = "alternative"


def _alternatives(spec: ExperimentSpec) -> tuple[list[str], list[tuple[str | None, dict]]]:
    """Columns the alternatives add (``alternative``, then every section path any of them
    sets, in order of first appearance) and (name, overrides) of each of their points; one
    nameless point without overrides when there are none."""
    alternatives = spec.sweep.alternatives if spec.sweep else []
    if not alternatives:
        return [], [(None, {})]
    points = [(a.name, p) for a in alternatives for p in a.case_points()]
    paths = dict.fromkeys(k for _, p in points for k in p if k.split(".")[0] in SECTIONS)
    return [ALTERNATIVE, *paths], points


def _get(data: dict, path: list[str]) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: dict, path: list[str], value: Any) -> None:
    for key in path[:-1]:
        node = data.get(key)
        if not isinstance(node, dict):
            node = data[key] = {}
        data = node
    data[path[-1]] = value


def count_points(spec: ExperimentSpec) -> int:
    """Points ``expand`` would make, by multiplication (nothing is expanded)."""
    sweep = spec.sweep
    if sweep and sweep.tilings:
        meshes = sum(len(ms) for ms in sweep.tilings.values())
    else:
        meshes = len(spec.meshes) or 1
    combos = sweep.combinations if sweep else 1
    return math.prod((len(spec.networks) or 1, len(spec.inputs) or 1, meshes, combos))


def expand(spec: ExperimentSpec, file: str | None = None) -> tuple[list[str], list[PointSpec]]:
    """All points of ``spec`` in a deterministic order, plus the sweep column names.

    The number of points is checked against ``limits.MAX_POINTS`` before anything is built.
    """
    total = count_points(spec)
    if total > limits.MAX_POINTS:
        raise SpecError(
            f"the experiment has {total} points (networks x inputs x meshes x sweep values), "
            f"more than the limit of {limits.MAX_POINTS}",
            file=file,
            key="sweep" if spec.sweep else "meshes",
        )
    names, combos = _axes(spec)
    alt_columns, alternatives = _alternatives(spec)
    tilings: list[tuple[str | None, Mesh]]
    if spec.sweep and spec.sweep.tilings:
        tilings = [(name, m) for name, ms in spec.sweep.tilings.items() for m in ms]
    else:
        tilings = [(None, m) for m in (spec.meshes or [spec.system.mesh])]
    base = {k: getattr(spec, k).model_dump() for k in SECTIONS}
    points = []
    nets, inputs = spec.networks or [None], spec.inputs or [None]
    for net, res, (tiling, mesh) in itertools.product(nets, inputs, tilings):
        for combo, (alternative, overrides) in itertools.product(combos, alternatives):
            sections = json.loads(json.dumps(base))
            top: dict[str, Any] = {
                "network": net,
                "input": res,
                "mesh": mesh,
                "evaluator": spec.evaluator,
            }
            labels: dict[str, Any] = {"tiling": tiling} if tiling else {}
            for name, value in (*zip(names, combo, strict=True), *overrides.items()):
                head, *rest = name.split(".")
                if head in SECTIONS:
                    _set(sections[head], rest, value)
                else:
                    top[head] = value
                if name not in overrides or name in alt_columns:
                    labels[name] = value
            if alternative is not None:  # every point says what each alternative sets
                labels[ALTERNATIVE] = alternative
                for name in alt_columns[1:]:
                    head, *rest = name.split(".")
                    labels.setdefault(name, _get(sections[head], rest))
            try:
                points.append(PointSpec.model_validate({**top, **sections, "labels": labels}))
            except ValidationError as exc:
                err = exc.errors(include_url=False)[0]
                where = format_key(tuple(err["loc"]))
                raise SpecError(
                    f"a sweep value gives an invalid point ({where}: "
                    f"{describe_error(err)}, point {labels})",
                    file=file,
                    key="sweep",
                ) from None
    columns = (["tiling"] if spec.sweep and spec.sweep.tilings else []) + names + alt_columns
    return columns, points


def point_hash(point: PointSpec, network: Network) -> str:
    """Identity of a point's result: resolved spec, network structure, simulator version, and
    the content of a kernel-reuse weights file and of the memory table (editing either
    changes the result)."""
    weights = point.chip.pruning_weights if uses_weights(point.chip) else None
    payload = json.dumps(
        {
            "version": __version__,
            "point": point.model_dump(mode="json", exclude={"labels"}),
            "network": repr(network),
            "weights": _file_digest(weights),
            "memory": table_digest(point.energy.memory_table),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _file_digest(path: str | None) -> str | None:
    """sha256 of a file's bytes (None without a file; a missing one fails later, clearly)."""
    if not path:
        return None
    return digest_input(
        path, limit=limits.MAX_WEIGHT_BYTES, what="weight file", key="pruning_weights"
    )


def uses_weights(chip) -> bool:
    """Whether a chip option reads the ``pruning_weights`` file (kernel reuse, the kernel
    dictionary)."""
    return chip.pruning == "kernel_reuse" or chip.kernel_dictionary_bits > 0
