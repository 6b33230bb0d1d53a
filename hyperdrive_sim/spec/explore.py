"""The ``explore:`` block of an experiment: a design space, objectives and constraints.

Objective and constraint names are result columns (``total_energy_j``, ``fps``, ...) or
the short aliases in ``ALIASES``; they are checked against the result columns when the
search starts, since the spec does not know the result table.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from hyperdrive_sim import limits
from hyperdrive_sim.spec.base import Spec, integer
from hyperdrive_sim.spec.models import Evaluator, Mesh, check_axis

#: short objective names users write, and the result column each stands for
ALIASES = {
    "energy": "total_energy_j",
    "energy_per_frame": "total_energy_j",
    "fps": "fps",
    "latency": "latency_s",
    "chips": "chips",
    "area": "silicon_area_mm2",
    "silicon_area": "silicon_area_mm2",
    "chip_area": "chip_area_mm2",
    "efficiency": "system_tops_per_w",
}
CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|<|>|==)\s*([-+0-9.eE]+)\s*$")
Side = integer(ge=1, le=limits.MAX_MESH_SIDE)
#: default ``refine_margin``: the analytic schedule's largest measured frame-rate difference
#: from the event model on the bundled points (+10.3%, MobileNet-V2 on 4x4; docs/simulation.md,
#: "Which evaluator to trust", from benchmarks/bench_agreement.py)
DEFAULT_REFINE_MARGIN = 0.1


class MeshSpace(Spec):
    """Mesh shapes to search: every rows x cols within bounds, or an explicit list."""

    min_rows: Side = 1
    max_rows: Side | None = None
    min_cols: Side = 1
    max_cols: Side | None = None
    aspect: Literal["any", "square", "wide", "tall"] = Field(
        default="any", description="square: rows = cols; wide: cols >= rows; tall: rows >= cols"
    )
    shapes: list[Mesh] = Field(default_factory=list, description="explicit shapes instead")

    @model_validator(mode="after")
    def _one_way(self) -> MeshSpace:
        bounded = self.max_rows is not None and self.max_cols is not None
        if self.shapes and (self.max_rows is not None or self.max_cols is not None):
            raise ValueError("give either shapes or max_rows/max_cols, not both")
        if not self.shapes and not bounded:
            raise ValueError("give max_rows and max_cols (or a list of shapes)")
        if bounded and (self.min_rows > self.max_rows or self.min_cols > self.max_cols):
            raise ValueError("min_rows/min_cols must not exceed max_rows/max_cols")
        if bounded and not self.meshes():
            raise ValueError(
                f"no mesh shape is {self.aspect} with rows {self.min_rows}..{self.max_rows} and "
                f"cols {self.min_cols}..{self.max_cols}: the space is empty"
            )
        return self

    def meshes(self) -> list[Mesh]:
        """Every shape of the space, by number of chips, then rows."""
        if self.shapes:
            return list(dict.fromkeys(self.shapes))
        keep = {
            "any": lambda r, c: True,
            "square": lambda r, c: r == c,
            "wide": lambda r, c: c >= r,
            "tall": lambda r, c: r >= c,
        }[self.aspect]
        out = [
            Mesh(rows=r, cols=c)
            for r in range(self.min_rows, self.max_rows + 1)
            for c in range(self.min_cols, self.max_cols + 1)
            if keep(r, c)
        ]
        return sorted(out, key=lambda m: (m.chips, m.rows))


class Constraint(Spec):
    """``column op value``, e.g. ``fps >= 30``."""

    column: str
    op: Literal["<=", ">=", "<", ">", "=="]
    value: float

    def holds(self, x: float | None) -> bool:
        if x is None:
            return False
        return {
            "<=": x <= self.value,
            ">=": x >= self.value,
            "<": x < self.value,
            ">": x > self.value,
            "==": x == self.value,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.value:g}"


class ExploreSpec(Spec):
    """Design space (mesh shapes x axes), objectives to optimise and constraints to meet."""

    mesh: MeshSpace
    axes: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=dict,
        description="dotted spec paths (chip.fmm_bits, energy.offchip_pj_per_bit, ...) and values",
    )
    scenarios: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=dict,
        description="assumptions rather than choices (e.g. energy.offchip_pj_per_bit): each "
        "value gets its own Pareto front",
    )
    objectives: dict[str, Literal["min", "max"]] = Field(
        min_length=2, description="result column (or alias) -> min or max"
    )
    constraints: list[Constraint] = Field(
        default_factory=list, description='e.g. ["fps >= 30", "chips <= 64"]'
    )
    refine: Evaluator | None = Field(
        default=None,
        description="re-evaluate the front and the points within refine_margin of it with "
        "this evaluator (simpy), re-rank, and report what moved",
    )
    refine_margin: float = Field(
        default=DEFAULT_REFINE_MARGIN,
        ge=0,
        allow_inf_nan=False,
        description="relative gap within which a point is refined: a point is left unrefined "
        "only when a front point beats it by more than a factor 1 + margin in every "
        "objective the evaluator changes (for energy: margin x the leakage share)",
    )

    @field_validator("axes", "scenarios")
    @classmethod
    def _axes(cls, axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path in axes:
            if path in ("mesh", "network", "input"):
                raise ValueError(
                    f"axis {path!r}: meshes are set by explore.mesh, networks and inputs by "
                    "the experiment's networks and inputs"
                )
            check_axis(path)
        for value in axes.get("evaluator", []):
            if value not in get_args(Evaluator):
                raise ValueError(
                    f"axis 'evaluator': unknown evaluator {value!r}; expected one of "
                    f"{', '.join(get_args(Evaluator))}"
                )
        return axes

    @model_validator(mode="after")
    def _disjoint(self) -> ExploreSpec:
        both = set(self.axes) & set(self.scenarios)
        if both:
            raise ValueError(f"{sorted(both)[0]!r} is both an axis and a scenario; keep one")
        return self

    @model_validator(mode="after")
    def _refine(self) -> ExploreSpec:
        if self.refine is None and "refine_margin" in self.model_fields_set:
            raise ValueError("refine_margin is set but refine is not; add refine: simpy")
        if self.refine is not None and "evaluator" in self.all_axes:
            raise ValueError(
                "refine cannot be combined with an evaluator axis: the axis already chooses "
                "the evaluator of every point; remove one of them"
            )
        return self

    @property
    def all_axes(self) -> dict[str, list[Any]]:
        """Design axes and scenario axes together (each point has a value of every one)."""
        return {**self.scenarios, **self.axes}

    @field_validator("constraints", mode="before")
    @classmethod
    def _parse_constraints(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            if isinstance(item, str):
                m = CONSTRAINT.fullmatch(item)
                if not m:
                    raise ValueError(
                        f"constraint {item!r} must read 'COLUMN OP NUMBER' with OP one of "
                        "<=, >=, <, >, == (e.g. 'fps >= 30')"
                    )
                item = {"column": m.group(1), "op": m.group(2), "value": float(m.group(3))}
            out.append(item)
        return out
