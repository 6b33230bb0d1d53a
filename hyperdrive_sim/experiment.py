"""Run an experiment: expand its points, reuse cached ones, run the rest, write outputs.

Outputs are checked before anything is simulated (the folder can be created and written,
and is not the experiment file), written as one set (results.csv, results.json, layers.csv,
chips.csv, manifest.json: all or none, see ``report.writers.OutputSet``), then the figures
are drawn and the manifest is rewritten with their list. When the results differ from the
folder's earlier ones, the earlier figures are removed first, drawn or not (``--no-plots``),
so that no figure is left beside results it was not drawn from. A point that fails with an
internal error is reported in the tables with its reason but never cached.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperdrive_sim import __version__
from hyperdrive_sim.baselines import baseline_rows
from hyperdrive_sim.choices import EXECUTORS
from hyperdrive_sim.errors import InputError, OutputError, SpecError
from hyperdrive_sim.pricing.io import single_chip_pj_per_bit
from hyperdrive_sim.readfile import read_output_file
from hyperdrive_sim.report.folders import output_folder, prune_figures
from hyperdrive_sim.report.writers import OutputSet, ensure_folder, output_error, write_json
from hyperdrive_sim.result import CHIP_COLUMNS, LAYER_COLUMNS, RESULT_COLUMNS
from hyperdrive_sim.simulate import resolve_network
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.experiment import ExperimentSpec
from hyperdrive_sim.sweep.cache import PointCache
from hyperdrive_sim.sweep.executors import RUNNERS, trace_name
from hyperdrive_sim.sweep.points import expand, point_hash, uses_weights

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ExperimentResult:
    """Rows of every point in experiment order. Per-layer and per-chip rows are read back
    from the point cache on demand (large sweeps never hold them all in memory)."""

    spec: ExperimentSpec
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    out_dir: Path | None
    stats: dict[str, int]
    details: Callable[[str], Iterator[dict[str, Any]]] = field(repr=False, compare=False)
    #: content of manifest.json (None when nothing was written); ``figures`` is filled in
    #: by :func:`draw_figures`
    manifest: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def layers(self) -> tuple[dict[str, Any], ...]:
        """Every point's per-layer rows (the content of layers.csv)."""
        return tuple(self.details("layers"))

    @property
    def chips(self) -> tuple[dict[str, Any], ...]:
        """Every point's per-chip rows (the content of chips.csv)."""
        return tuple(self.details("chips"))

    def to_dataframe(self):
        """Results as a pandas DataFrame (pandas is optional)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise InputError("to_dataframe needs pandas: pip install pandas") from None
        return pd.DataFrame(list(self.rows), columns=list(self.columns))


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> tuple[ExperimentSpec, Path]:
    """Validated experiment and the folder its relative paths are resolved against.

    ``path`` may name a bundled experiment (``quickstart``); ``overrides`` are
    ``dotted.key=value`` settings applied after includes (``--set``).
    """
    path = loader.find_experiment(path)
    loaded = loader.load(path, overrides)
    data = loaded.data
    if isinstance(data, dict) and "layers" in data and not data.keys() & EXPERIMENT_KEYS:
        raise SpecError(
            "this is a network file (it has 'layers:'), not an experiment; see its layers with "
            f"`hyperdrive-sim network {path}`, or simulate it from an experiment with "
            f"networks: [{path.name}]",
            file=str(path),
        )
    return loader.validate(ExperimentSpec, loaded), Path(path).resolve().parent


#: top-level keys that mark a file as an experiment rather than a network
EXPERIMENT_KEYS = frozenset({"networks", "inputs", "meshes", "chip", "system", "energy", "sweep"})


class TerminalProgress:
    """A one-line progress bar with elapsed time and ETA, on stderr."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, done: int, total: int, label: str) -> None:
        elapsed = time.monotonic() - self.start
        eta = f"{elapsed / done * (total - done):6.1f}s" if done else "     ?"
        width = 30
        fill = width * done // max(total, 1)
        sys.stderr.write(
            f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} {elapsed:6.1f}s "
            f"eta {eta} {label[:36]:<36}"
        )
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run_experiment(
    source: str | Path | ExperimentSpec,
    *,
    out_dir: str | Path | None = None,
    evaluator: str | None = None,
    executor: str = "processes",
    jobs: int | None = None,
    scheduler: str | None = None,
    cache: bool = True,
    progress: Progress | bool | None = None,
    write: bool = True,
    plots: bool = True,
    trace: bool = False,
    overrides: Sequence[str] = (),
) -> ExperimentResult:
    """Simulate every point of an experiment; write tables, manifest and figures.

    ``source`` is an experiment file, the name of a bundled experiment, or a spec object;
    ``overrides`` are ``dotted.key=value`` settings applied to the file (``--set``).

    Finished points are cached under ``<out>/cache`` by the hash of their resolved spec, so
    an interrupted run resumes; ``cache=False`` recomputes everything. ``progress=None``
    shows a bar on an interactive terminal. Outputs go to ``out_dir``, else the spec's
    ``output_dir``, else ``results/<name>/``. ``trace`` writes a Perfetto/Chrome trace of
    every point (the simpy event timeline, or the analytic schedule) to ``<out>/traces/``
    (recomputing cached points that have none).
    """
    if executor not in EXECUTORS:
        raise InputError(
            f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}", key="--executor"
        )
    if scheduler and executor != "dask":
        raise InputError(
            f"a scheduler address is only used by --executor dask (got --executor {executor})",
            key="--scheduler",
        )
    if isinstance(source, ExperimentSpec):
        spec, base, file = source, Path.cwd(), None
    else:
        spec, base = load_experiment(source, overrides)
        file = str(loader.find_experiment(source))
    if spec.explore is not None:
        raise SpecError(
            "this experiment describes a design space to search; run it with "
            f"`hyperdrive-sim explore {file or spec.name}`",
            file=file,
            key="explore",
        )
    if evaluator:
        spec = spec.model_copy(update={"evaluator": evaluator})
    started = datetime.now(UTC).isoformat(timespec="seconds")
    columns, points = expand(spec, file)
    networks: dict[str, Any] = {}
    keys = []
    for point in points:
        ref = str(point.network)
        if ref not in networks:
            networks[ref] = resolve_network(point.network, base)
        keys.append(point_hash(point, networks[ref]))

    _check_pruning_weights(points)
    _check_onnx_shapes(points, networks)
    target = output_folder(spec.name, spec.output_dir, out_dir, overrides)
    by_key = dict(zip(keys, points, strict=True))
    traces = {
        k: str(target / "traces" / trace_name(k, p)) for k, p in by_key.items() if trace and write
    }
    created = prepare_output(target, file) if write else []
    store = PointCache(target / "cache") if write else None
    entries: dict[str, dict[str, Any]] = {}
    if cache and store is not None:
        for key in by_key:
            hit = store.get(key)
            if hit is not None and (key not in traces or Path(traces[key]).is_file()):
                entries[key] = _slim(hit)
    cached = len(entries)
    todo = [(k, p.model_dump_json(), traces.get(k)) for k, p in by_key.items() if k not in entries]
    unique = len(set(keys))
    report = _progress(progress)
    if report:
        report(cached, unique, "cached" if cached else "starting")

    def on_done(key: str, entry: dict[str, Any]) -> None:
        # ok and infeasible entries go to the cache (an OutputError stops the run) and only
        # their row stays in memory; a failed entry is kept whole here and never cached
        if store is not None and store.put(key, entry):
            entry = _slim(entry)
        entries[key] = entry
        if report:
            row = entry["row"]
            report(
                len(entries),
                unique,
                f"{row['network']} {row['input_w']}x{row['input_h']} "
                f"on {row['mesh_rows']}x{row['mesh_cols']}",
            )

    if todo:
        workers = jobs if executor != "serial" else 1
        run = RUNNERS["serial" if executor == "processes" and len(todo) == 1 else executor]
        try:
            run(todo, str(base), on_done, workers=workers, scheduler=scheduler)
        except BaseException:
            for folder in (target / "cache", *created):  # no empty folders left behind
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise

    out_columns = _columns(RESULT_COLUMNS, columns)
    # a point's own labels (sweep settings, alternative), not those its result was cached or
    # first computed under: points that differ only in their labels share one result
    labels = [p.labels for p in points]
    rows = tuple(
        {**entries[k]["row"], **own, "status": entries[k]["status"], "point_id": k}
        for k, own in zip(keys, labels, strict=True)
    )
    extra_rows, extra_layers = _baselines(spec, points, networks) if spec.baselines else ((), ())
    rows += extra_rows

    def details(kind: str) -> Iterator[dict[str, Any]]:
        """Per-layer or per-chip rows, point by point, from the cache when there is one."""
        pairs = list(zip(keys, labels, strict=True))
        if kind != "layers":  # per-chip rows once per result, with its first point's labels
            first: dict[str, dict[str, Any]] = {}
            for k, own in pairs:
                first.setdefault(k, own)
            pairs = list(first.items())
        for k, own in pairs:
            entry = entries[k] if kind in entries[k] else (store and store.get(k)) or {kind: []}
            yield from ({**r, **own, "point_id": k} for r in entry[kind])
        if kind == "layers":
            yield from extra_layers

    stats = {
        "points": len(keys),
        "computed": len(todo),
        "cached": cached,
        "ok": sum(entries[k]["status"] == "ok" for k in keys),
        "infeasible": sum(entries[k]["status"] == "infeasible" for k in keys),
        "failed": sum(entries[k]["status"] == "failed" for k in keys),
    }
    manifest = {
        "simulator_version": __version__,
        "experiment_file": file,
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "executor": executor,
        **stats,
        "figures": [],
        "experiment": spec.model_dump(mode="json"),
    }
    result = ExperimentResult(
        spec, out_columns, rows, target if write else None, stats, details,
        manifest if write else None,
    )  # fmt: skip
    if write:
        previous = _read_bytes(target / "results.json")
        with OutputSet(target) as out:
            out.csv("results.csv", out_columns, rows)
            out.json(
                "results.json",
                {"simulator_version": __version__, "columns": out_columns, "rows": rows},
            )
            out.csv("layers.csv", _columns(LAYER_COLUMNS, columns), details("layers"))
            out.csv("chips.csv", _columns(CHIP_COLUMNS, columns), details("chips"))
            out.json("manifest.json", manifest)
        if previous != _read_bytes(target / "results.json"):
            prune_figures(target / "figures")  # drawn from other results: never left beside these
        if plots:
            draw_figures(result)
    return result


def _read_bytes(path: Path) -> str | None:
    """The text of a results file written earlier, or None (missing, unreadable)."""
    return read_output_file(path)


def draw_figures(result: ExperimentResult, formats: Sequence[str] | None = None) -> list[Path]:
    """Draw the figures of a written result into ``<out>/figures/`` (PNG, or ``formats``)
    and list them in manifest.json (rewritten atomically); return the figure files."""
    if result.out_dir is None or result.manifest is None:
        raise InputError("this result was not written (write=False): no figures to draw")
    figures = _plot(result.out_dir, formats)
    result.manifest["figures"] = [str(p.relative_to(result.out_dir)) for p in figures]
    write_json(result.out_dir / "manifest.json", result.manifest)
    return figures


def _columns(base: tuple[str, ...], sweep: list[str]) -> tuple[str, ...]:
    """``base`` then the sweep columns it does not already have (``evaluator`` may be both)."""
    return (*base, *(c for c in sweep if c not in base))


def prepare_output(target: Path, experiment_file: str | None = None) -> list[Path]:
    """Create the output folder and make sure files can be written in it, before any point
    runs: OutputError (one line, exit 2) naming the problem otherwise. Returns the folders
    it created, innermost first."""
    if experiment_file is not None and target.resolve() == Path(experiment_file).resolve():
        raise OutputError(
            "the output folder is the experiment file itself; choose another output_dir or --out",
            file=str(target),
        )
    missing = [p for p in (target, *target.parents) if not p.exists()]
    try:
        ensure_folder(target)
        try:
            fd, probe = tempfile.mkstemp(dir=target, prefix=".write-test.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise output_error(exc, target / "results.csv") from None
    except OutputError:
        for folder in missing:  # leave no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return missing


def _check_pruning_weights(points) -> None:
    """Every ``pruning_weights`` file loads (InputError naming it otherwise), once each."""
    from hyperdrive_sim.techniques.kernel_reuse import load_weights

    paths = (p.chip.pruning_weights for p in points if uses_weights(p.chip))
    for path in dict.fromkeys(p for p in paths if p):
        load_weights(path)


def _check_onnx_shapes(points, networks: dict[str, Any]) -> None:
    """Every ONNX network imports at each of its inputs. An ONNX graph whose shapes do not
    follow at an input (a fixed-size reshape, an operator the importer refuses) is a wrong
    input file, as `hyperdrive-sim network` reports it (exit 2), not a point that does not
    fit. Shapes are inferred once per network and input, in this process."""
    pairs = dict.fromkeys(
        (str(p.network), p.input.height, p.input.width)
        for p in points
        if getattr(p.network, "onnx", None) is not None
    )
    for ref, height, width in pairs:
        networks[ref].at(height, width)


def _slim(entry: dict[str, Any]) -> dict[str, Any]:
    """What stays in memory of a cached point: its row and status."""
    return {"row": entry["row"], "status": entry["status"]}


def _baselines(spec: ExperimentSpec, points, networks) -> tuple[tuple, tuple]:
    """Rows of the other accelerators, once per (network, input) of the experiment."""
    rows, layers = [], []
    pairs = dict.fromkeys((str(p.network), p.input.height, p.input.width) for p in points)
    for ref, height, width in pairs:
        try:
            shaped = networks[ref].at(height, width)
        except InputError:
            continue  # the Hyperdrive rows already report this point as infeasible
        for acc in spec.baselines:
            row, layer_rows = baseline_rows(shaped, acc, single_chip_pj_per_bit(spec.energy))
            rows.append(row)
            layers.extend(layer_rows)
    return tuple(rows), tuple(layers)


def _plot(target: Path, formats: Sequence[str] | None = None) -> list[Path]:
    from hyperdrive_sim.viz import plot_results  # matplotlib only when figures are drawn

    return plot_results(target, formats=formats)


def _progress(progress: Progress | bool | None) -> Progress | None:
    if progress is None:
        progress = sys.stderr.isatty()
    if progress is True:
        return TerminalProgress()
    return progress or None
