"""Specs: what users write in YAML, validated into frozen objects."""

from hyperdrive_sim.spec.experiment import ExperimentSpec
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import (
    ChipSpec,
    EnergyTable,
    Mesh,
    NetworkRef,
    Resolution,
    SystemSpec,
)

__all__ = [
    "ChipSpec",
    "EnergyTable",
    "ExperimentSpec",
    "Hardware",
    "Mesh",
    "NetworkRef",
    "Resolution",
    "SystemSpec",
]
