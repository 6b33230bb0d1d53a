"""Expand an ``explore:`` block into design points, grouped so that work is shared.

Axes split in two kinds. *Plan axes* (any ``chip.``, ``system.`` key or ``evaluator``,
except the memory size) change what the evaluator computes. *Price axes* (``energy.``,
``area.`` and ``chip.fmm_bits``) change only prices or whether the maps fit: the counts
of one evaluation serve every combination of them. A group is one network, input, mesh
and plan-axis combination with all its price-axis variants; it is evaluated once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from hyperdrive_sim import __version__, limits
from hyperdrive_sim.errors import SpecError
from hyperdrive_sim.mapping.fit import require_tiled
from hyperdrive_sim.spec.experiment import ExperimentSpec
from hyperdrive_sim.spec.explore import ExploreSpec
from hyperdrive_sim.spec.memory import table_digest
from hyperdrive_sim.spec.models import SWEEP_SECTIONS, Mesh, PointSpec

#: the memory size is priced (area, leakage, access energy) and checked, never evaluated
MEMORY_AXIS = "chip.fmm_bits"
PRICE_SECTIONS = ("energy", "area")


def is_price_axis(path: str) -> bool:
    return path == MEMORY_AXIS or path.split(".")[0] in PRICE_SECTIONS


@dataclass(frozen=True)
class Variant:
    """One design point of a group: its price-axis values and resolved specs."""

    labels: dict[str, Any]
    point: PointSpec


@dataclass(frozen=True)
class Group:
    """Design points that share one evaluation (same network, input, mesh, plan axes)."""

    key: str
    point: PointSpec  # the point evaluated: the group's largest memory
    variants: tuple[Variant, ...]

    def payload(self) -> str:
        """JSON a worker needs: the evaluated point and every variant's point."""
        return json.dumps(
            {
                "point": self.point.model_dump(mode="json"),
                "variants": [v.point.model_dump(mode="json") for v in self.variants],
            }
        )


def cache_keys(groups: list[Group], base, text) -> dict[str, str]:
    """Cache key of each group: the sha256 of ``text(group, fingerprint)``, where the
    fingerprint is the structure of the group's network and the content of its variants'
    memory tables (so an edited network file or table is never served from the cache),
    resolved once per network."""
    from hyperdrive_sim.simulate import resolve_network

    fingerprints: dict[str, str] = {}
    keys = {}
    for g in groups:
        ref = str(g.point.network)
        if ref not in fingerprints:
            fingerprints[ref] = repr(resolve_network(g.point.network, base))
        tables = sorted({v.point.energy.memory_table or "" for v in g.variants})
        memory = " ".join(f"{t}:{table_digest(t or None)}" for t in tables)
        keys[g.key] = hashlib.sha256(
            text(g, f"{fingerprints[ref]}\n{memory}").encode()
        ).hexdigest()[:32]
    return keys


def _set(data: dict, path: list[str], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


def _product(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def count_points(spec: ExperimentSpec, explore: ExploreSpec) -> int:
    """Design points of the space, computed without expanding it."""
    per_net = len(explore.mesh.meshes()) * math.prod(len(v) for v in explore.all_axes.values())
    return len(spec.networks) * len(spec.inputs) * per_net


def expand_groups(spec: ExperimentSpec, explore: ExploreSpec, file: str | None) -> list[Group]:
    """Every group of the space in a deterministic order (network, input, mesh, plan axes)."""
    total = count_points(spec, explore)
    if total > limits.MAX_POINTS:
        raise SpecError(
            f"the design space has {total:,} points, over the limit of {limits.MAX_POINTS:,}; "
            "narrow the mesh bounds or the axes",
            file=file,
            key="explore",
        )
    axes = explore.all_axes
    plan_axes = {k: v for k, v in axes.items() if not is_price_axis(k)}
    price_axes = {k: v for k, v in axes.items() if is_price_axis(k)}
    base = {k: getattr(spec, k).model_dump() for k in SWEEP_SECTIONS}
    #: validated sections and their JSON, by (section, the axis values that touch it)
    sections: dict[tuple, tuple[Any, str]] = {}

    def section(name: str, values: dict[str, Any]) -> tuple[Any, str]:
        own = tuple((k, json.dumps(v)) for k, v in values.items() if k.split(".")[0] == name)
        if (name, own) in sections:
            return sections[name, own]
        data = json.loads(json.dumps(base[name]))
        for path, value in values.items():
            head, *rest = path.split(".")
            if head == name:
                _set(data, rest, value)
        try:
            obj = SWEEP_SECTIONS[name].model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise SpecError(
                f"an axis value gives an invalid {name} ({where}: "
                f"{err['msg'].removeprefix('Value error, ')}; values {values})",
                file=file,
                key="explore.axes",
            ) from None
        sections[name, own] = (obj, obj.model_dump_json())
        return sections[name, own]

    def point(net, res, mesh: Mesh, values: dict[str, Any], evaluator: str):
        specs = {name: section(name, values) for name in SWEEP_SECTIONS}
        ident = _ident(net, res, mesh, evaluator, [j for _, j in specs.values()])
        require_tiled(specs["system"][0], "explore", file)
        p = PointSpec(
            network=net,
            input=res,
            mesh=mesh,
            evaluator=evaluator,
            labels=values,
            **{k: obj for k, (obj, _) in specs.items()},
        )
        return p, ident

    groups = []
    for net, res, mesh in itertools.product(spec.networks, spec.inputs, explore.mesh.meshes()):
        for plan_values in _product(plan_axes):
            evaluator = plan_values.get("evaluator", spec.evaluator)
            built = [
                (values, *point(net, res, mesh, values, evaluator))
                for values in ({**plan_values, **pv} for pv in _product(price_axes))
            ]
            variants = tuple(Variant(values, p) for values, p, _ in built)
            largest = max(variants, key=lambda v: v.point.chip.fmm_bits)
            groups.append(Group(_group_key([i for _, _, i in built]), largest.point, variants))
    return groups


def _ident(net: Any, res: Any, mesh: Mesh, evaluator: str, sections: list[str]) -> str:
    """What a design point is evaluated from: network, input, mesh, evaluator and the JSON
    of each spec section (in ``SWEEP_SECTIONS`` order)."""
    return json.dumps([str(net), str(res), str(mesh), evaluator, *sections])


def _group_key(idents: list[str]) -> str:
    payload = json.dumps([__version__, *idents])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def with_evaluator(group: Group, evaluator: str) -> Group:
    """The same group evaluated with ``evaluator``; its key is the one ``expand_groups``
    gives that group in a space evaluated with ``evaluator`` (so the cache is shared)."""

    def again(p: PointSpec) -> PointSpec:
        return p.model_copy(update={"evaluator": evaluator})

    variants = tuple(Variant(v.labels, again(v.point)) for v in group.variants)
    idents = [
        _ident(
            p.network, p.input, p.mesh, evaluator,
            [getattr(p, name).model_dump_json() for name in SWEEP_SECTIONS],
        )
        for p in (v.point for v in variants)
    ]  # fmt: skip
    return Group(_group_key(idents), again(group.point), variants)
