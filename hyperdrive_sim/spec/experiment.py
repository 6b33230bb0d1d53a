"""The experiment file: what to simulate, on which chip, system and energy table, and
what to sweep or explore. Kept apart from the section models so that the explore section
(which uses their meshes and axes) is imported by this module, not by theirs."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from hyperdrive_sim.spec.accelerator import AcceleratorSpec
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.base import Spec
from hyperdrive_sim.spec.explore import ExploreSpec
from hyperdrive_sim.spec.models import (
    DEFAULT_SECTIONS,
    ChipSpec,
    EnergyTable,
    Evaluator,
    KnownNetwork,
    Mesh,
    Resolution,
    SweepSpec,
    SystemSpec,
    check_sram_area,
)


class ExperimentSpec(Spec):
    """What to simulate: networks x inputs x meshes on one chip, system and energy table.

    ``chip``, ``system``, ``energy`` and ``area`` default to the bundled Hyperdrive presets
    (``section_defaults``); a section given without ``include:`` overrides the preset's keys.
    """

    section_defaults: ClassVar[dict[str, str]] = DEFAULT_SECTIONS

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str = ""
    networks: list[KnownNetwork] = Field(
        default_factory=list, description="zoo names or YAML network files"
    )
    inputs: list[Resolution] = Field(
        default_factory=list, description="WIDTHxHEIGHT strings (1920x1080 is landscape)"
    )
    meshes: list[Mesh] = Field(
        default_factory=list,
        description="mesh shapes to try, ROWSxCOLS; empty means the system's mesh",
    )
    chip: ChipSpec
    system: SystemSpec
    energy: EnergyTable
    area: AreaTable
    evaluator: Evaluator = "analytic"
    sweep: SweepSpec | None = None
    baselines: list[AcceleratorSpec] = Field(
        default_factory=list,
        description="other accelerators priced on the same networks and inputs (one row each)",
    )
    output_dir: str | None = Field(
        default=None, description="where results go; default results/<name>/"
    )
    explore: ExploreSpec | None = Field(
        default=None,
        description="a design space to search with `hyperdrive-sim explore` (Pareto front)",
    )

    @model_validator(mode="after")
    def _sram_area(self) -> ExperimentSpec:
        check_sram_area(self.energy, self.area)
        return self

    @model_validator(mode="after")
    def _has_axes(self) -> ExperimentSpec:
        swept = set(self.sweep.grid) | set(self.sweep.zip) if self.sweep else set()
        alternatives = self.sweep.alternatives if self.sweep else []
        # the paths every point of the alternatives sets, and those some point sets
        points = [p for a in alternatives for p in a.case_points()]
        always = set.intersection(*(set(p) for p in points)) if points else set()
        sometimes = set().union(*points)
        for key, axis in (("networks", "network"), ("inputs", "input")):
            if not getattr(self, key) and axis not in swept | always:
                raise ValueError(
                    f"give at least one entry in {key!r} (or a sweep axis {axis!r}, or "
                    f"{axis!r} in every case of the alternatives)"
                )
            if getattr(self, key) and axis in swept | sometimes:
                raise ValueError(f"{axis!r} is both in {key!r} and a sweep axis; keep one")
        if self.meshes and self.sweep and (self.sweep.tilings or "mesh" in swept | sometimes):
            raise ValueError(
                "give mesh shapes in one place: meshes, sweep.tilings, a mesh axis or the "
                "alternatives' cases"
            )
        if self.explore is not None:
            beside = [k for k in ("sweep", "meshes", "baselines") if getattr(self, k)]
            if beside:
                raise ValueError(
                    f"{beside[0]!r} is not used beside 'explore' (explore.mesh sets the meshes, "
                    "explore.axes the swept values, and explore compares no baselines); "
                    "remove it or move it to another experiment"
                )
        return self
