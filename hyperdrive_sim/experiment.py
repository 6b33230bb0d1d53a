"""Experiments: expand networks x inputs x meshes, simulate every point, write the outputs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperdrive_sim import __version__
from hyperdrive_sim.report.writers import write_csv, write_json
from hyperdrive_sim.result import LAYER_COLUMNS, RESULT_COLUMNS, Result
from hyperdrive_sim.simulate import resolve_network, simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.models import ExperimentSpec

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ExperimentResult:
    spec: ExperimentSpec
    results: tuple[Result, ...]
    out_dir: Path | None

    def rows(self) -> list[dict[str, Any]]:
        return [r.row for r in self.results]

    def layer_rows(self) -> list[dict[str, Any]]:
        return [row for r in self.results for row in r.layer_rows()]

    def to_dataframe(self):
        """Results as a pandas DataFrame (pandas is optional)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas: pip install pandas") from None
        return pd.DataFrame(self.rows(), columns=list(RESULT_COLUMNS))


def load_experiment(path: str | Path) -> tuple[ExperimentSpec, Path]:
    loaded = loader.load(path)
    return loader.validate(ExperimentSpec, loaded), Path(path).resolve().parent


def _terminal_progress(done: int, total: int, label: str, start=[0.0]) -> None:  # noqa: B006
    if done == 0:
        start[0] = time.monotonic()
    elapsed = time.monotonic() - start[0]
    eta = elapsed / done * (total - done) if done else 0.0
    width = 30
    fill = width * done // max(total, 1)
    sys.stderr.write(
        f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} "
        f"{elapsed:5.1f}s eta {eta:5.1f}s {label[:40]:<40}"
    )
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run_experiment(
    source: str | Path | ExperimentSpec,
    *,
    out_dir: str | Path | None = None,
    evaluator: str | None = None,
    progress: Progress | bool | None = None,
    write: bool = True,
) -> ExperimentResult:
    """Simulate every point of an experiment and (by default) write its outputs.

    ``progress=None`` shows a bar on an interactive terminal; True/False force it.
    Outputs go to ``out_dir``, else the spec's ``output_dir``, else ``results/<name>/``.
    """
    if isinstance(source, ExperimentSpec):
        spec, base = source, Path.cwd()
    else:
        spec, base = load_experiment(source)
    if progress is None:
        progress = sys.stderr.isatty()
    report = _terminal_progress if progress is True else (progress or None)
    networks = [(ref, resolve_network(ref, base)) for ref in spec.networks]
    meshes = spec.meshes or [spec.system.mesh]
    points = [(net, res, mesh) for _, net in networks for res in spec.inputs for mesh in meshes]
    results = []
    for i, (net, res, mesh) in enumerate(points):
        if report:
            report(i, len(points), f"{net.name} {res} on {mesh}")
        results.append(
            simulate(
                net,
                res,
                spec.chip,
                spec.system,
                spec.energy,
                mesh=mesh,
                evaluator=evaluator or spec.evaluator,
            )
        )
    if report:
        report(len(points), len(points), "done")
    target = None
    if write:
        target = Path(out_dir or spec.output_dir or Path("results") / spec.name)
        write_outputs(target, spec, results)
    return ExperimentResult(spec, tuple(results), target)


def write_outputs(target: Path, spec: ExperimentSpec, results: list[Result]) -> None:
    rows = [r.row for r in results]
    write_csv(target / "results.csv", RESULT_COLUMNS, rows)
    write_json(target / "results.json", {"simulator_version": __version__, "rows": rows})
    write_csv(
        target / "layers.csv", LAYER_COLUMNS, (row for r in results for row in r.layer_rows())
    )
    write_json(
        target / "manifest.json",
        {
            "simulator_version": __version__,
            "experiment": spec.model_dump(mode="json"),
            "points": len(results),
            "fits": sum(r.fits for r in results),
            "infeasible": sum(not r.fits for r in results),
        },
    )
