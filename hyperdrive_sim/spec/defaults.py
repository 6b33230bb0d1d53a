"""Specs from whatever a library caller passes: an object, a dict, a YAML path, or nothing
(the bundled preset an experiment would use for that section)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.models import DEFAULT_SECTIONS, SWEEP_SECTIONS


@cache
def default_section(section: str) -> Any:
    """The bundled preset of ``section`` (chip, system, energy, area)."""
    path = loader.bundled_dir("configs") / DEFAULT_SECTIONS[section]
    return loader.validate(SWEEP_SECTIONS[section], loader.load(path))


def coerce(value: Any, section: str) -> Any:
    """``value`` as the spec of ``section``: as is, validated from a dict, loaded from a YAML
    path, or the bundled preset when None."""
    model = SWEEP_SECTIONS[section]
    if value is None:
        return default_section(section)
    if isinstance(value, model):
        return value
    if isinstance(value, (str, Path)):
        return loader.validate(model, loader.load(value))
    return model.model_validate(value)
