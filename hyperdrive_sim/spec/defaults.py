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
    """``value`` as the spec of ``section``: as is, loaded from a YAML path, the bundled
    preset when None, or a dict of keys that override the preset (as a section written
    without ``include:`` in an experiment)."""
    model = SWEEP_SECTIONS[section]
    if value is None:
        return default_section(section)
    if isinstance(value, model):
        return value
    if isinstance(value, (str, Path)):
        return loader.validate(model, loader.load(value))
    if isinstance(value, dict):
        merged = loader.merge(default_section(section).model_dump(), value)
        if "sources" not in value:  # an overridden value no longer has the preset's source
            overridden = {k: "set in Python" for k in value if k in merged["sources"]}
            merged["sources"] = {**merged["sources"], **overridden}
        if "ranges" not in value:  # nor its range: the value is the caller's choice
            merged["ranges"] = {k: r for k, r in merged["ranges"].items() if k not in value}
        return model.model_validate(merged)
    return model.model_validate(value)
