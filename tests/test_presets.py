"""The bundled presets: every YAML loads, every number says where it comes from, every
bundled experiment runs and has at least one point that fits."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hyperdrive_sim.experiment import load_experiment, run_experiment
from hyperdrive_sim.explore.run import explore
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.accelerator import AcceleratorSpec
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.base import Sourced
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, SystemSpec
from hyperdrive_sim.workload.yaml_network import load_network_yaml

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
EXPERIMENTS = REPO / "experiments"

#: presets whose every parameter must carry a source
SOURCED: dict[str, type[Sourced]] = {
    "chips": ChipSpec,
    "systems": SystemSpec,
    "energy": EnergyTable,
    "area": AreaTable,
}


def _spec_loader(model: type) -> Callable[[Path], Any]:
    return lambda path: loader.validate(model, loader.load(path))


def _memory(path: Path) -> Any:
    from hyperdrive_sim.spec.memory import load_memory_table

    return load_memory_table(str(path))


def _claims(path: Path) -> Any:
    from hyperdrive_sim.validation import ClaimFile

    return loader.validate(ClaimFile, loader.load(path))


#: how each configs/ folder is loaded; a new folder must be added here deliberately
LOADERS: dict[str, Callable[[Path], Any]] = {
    **{folder: _spec_loader(model) for folder, model in SOURCED.items()},
    "accelerators": _spec_loader(AcceleratorSpec),
    "networks": load_network_yaml,
    "claims": _claims,
    "memory": _memory,
}

#: a source cites something if it names authors, a year, the reference list or a textbook law
CITATION = re.compile(r"et al\.|\b(19|20)\d\d\b|\btextbook\b|arXiv", re.IGNORECASE)


def _yaml_files(folder: Path) -> list[Path]:
    return sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")])


CONFIG_FILES = _yaml_files(CONFIGS)
EXPERIMENT_FILES = _yaml_files(EXPERIMENTS)
SOURCED_FILES = [p for p in CONFIG_FILES if p.parent.name in SOURCED]
ALL_SOURCED_FILES = [p for p in CONFIG_FILES if p.parent.name in (*SOURCED, "accelerators")]


def _id(path: Path) -> str:
    return str(path.relative_to(REPO))


def _sourced(path: Path) -> Sourced:
    return LOADERS[path.parent.name](path)


def test_presets_are_found():
    assert CONFIG_FILES and EXPERIMENT_FILES
    for folder in ("chips", "systems", "energy", "networks"):
        assert any(p.parent.name == folder for p in CONFIG_FILES), folder
    assert (EXPERIMENTS / "quickstart.yaml") in EXPERIMENT_FILES


def test_every_config_folder_has_a_loader():
    folders = {p.relative_to(CONFIGS).parts[0] for p in CONFIG_FILES}
    assert folders <= set(LOADERS), f"no loader for configs/{sorted(folders - set(LOADERS))}"
    nested = [p for p in CONFIG_FILES if len(p.relative_to(CONFIGS).parts) != 2]
    assert not nested, nested


@pytest.mark.parametrize("path", CONFIG_FILES, ids=_id)
def test_config_loads(path: Path):
    loaded = LOADERS[path.parent.name](path)
    assert loaded is not None
    if path.parent.name == "networks":
        shaped = loaded.at(224, 224)
        assert shaped.macs > 0


@pytest.mark.parametrize("path", SOURCED_FILES, ids=_id)
def test_every_parameter_has_a_source(path: Path):
    spec = _sourced(path)
    # a parameter left at None is not in use (the per-bit SRAM keys beside a memory table)
    parameters = [
        k
        for k in type(spec).model_fields
        if k not in ("name", "sources", "ranges") and getattr(spec, k) is not None
    ]
    missing = [k for k in parameters if not spec.sources.get(k, "").strip()]
    assert not missing, f"{_id(path)}: no source for {missing}"


@pytest.mark.parametrize("path", ALL_SOURCED_FILES, ids=_id)
def test_every_source_cites_or_is_an_assumption(path: Path):
    spec = _sourced(path)
    assert spec.sources, f"{_id(path)} has no sources"
    bad = {
        key: text
        for key, text in spec.sources.items()
        if not text.strip().lower().startswith(("assumption", "choice"))
        and not CITATION.search(text)
    }
    # "choice": an option of the design the user sets (frames, batch), not a fact to source
    assert not bad, f"{_id(path)}: sources that neither cite nor say 'assumption': {bad}"


@pytest.mark.parametrize("path", EXPERIMENT_FILES, ids=_id)
def test_experiment_loads(path: Path):
    spec, base = load_experiment(path)
    assert spec.name
    assert base == path.parent


#: experiments with an explore: block are searched, not run; the 1080p one takes about a minute,
#: the refined one evaluates its front again with simpy
EXPLORE_FILES = [p for p in EXPERIMENT_FILES if p.stem.startswith("explore_")]
SLOW_EXPLORE = {"explore_resnet34_1080p", "explore_refined_mobilenet_v2"}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_EXPLORE else p
        for p in EXPLORE_FILES
    ],
    ids=_id,
)
def test_explore_experiment_has_a_front(path: Path):
    spec, base = load_experiment(path)
    result = explore(spec, base, write=False, executor="serial")
    assert result.stats["failed"] == 0
    assert result.front, f"{_id(path)}: nothing meets the constraints"


#: experiments whose full run takes longer than the default suite should spend on one test
SLOW_RUNS = {"dataflow_alternatives", "depth_first_1080p"}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_RUNS else p
        for p in EXPERIMENT_FILES
        if p not in EXPLORE_FILES
    ],
    ids=_id,
)
def test_experiment_runs_and_something_fits(path: Path):
    result = run_experiment(path, write=False, progress=False, executor="serial")
    assert result.out_dir is None
    assert result.stats["failed"] == 0, [r["reason"] for r in result.rows if not r["fits"]]
    assert result.stats["ok"] >= 1, f"{_id(path)}: no point fits"
    simulated = [r for r in result.rows if r["evaluator"] != "baseline"]  # not other chips
    assert len(simulated) == result.stats["points"]
    fitting = [r for r in simulated if r["fits"]]
    assert fitting and all(r["cycles"] > 0 and r["total_energy_j"] > 0 for r in fitting)
