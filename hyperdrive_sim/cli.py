"""Command line: parse arguments, call the library, map errors to exit codes.

Exit codes (docs/limits.md, "Exit codes"): 0 success; 1 internal fault (a bug: please
report), including a run where some point failed with an internal error; 2 bad input or
an output that cannot be written (one line naming file, key and what was expected);
3 ``verify`` found a numerical mismatch; 4 a worker process died (finished points are
cached; rerun to resume); 130 interrupted. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

# only light modules here: each command imports what it needs when it runs, so that
# `--help`, `--version` and quick commands do not load numpy, pydantic, simpy or matplotlib
# (tests/test_startup.py checks this)
from hyperdrive_sim import __version__, limits
from hyperdrive_sim.choices import EVALUATORS, EXECUTORS
from hyperdrive_sim.errors import HyperdriveSimError, InputError
from hyperdrive_sim.report.words import plural

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_WORKER_LOST = 4  # = errors.WorkerLost.exit_code
#: a Dask scheduler address: [protocol://]host[:port] (the forms dask.distributed accepts)
SCHEDULER_ADDRESS = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::\d{1,5})?/?"
)


def _check_out_dir(out: str | None) -> Path | None:
    """An output folder given on the command line: names not too long, not an existing file."""
    from hyperdrive_sim.report.writers import check_names, output_error

    if out is None:
        return None
    check_names(Path(out))
    try:
        is_file = Path(out).exists() and not Path(out).is_dir()
    except OSError as exc:
        raise output_error(exc, Path(out), "use") from None
    if is_file:
        raise InputError("expected a folder for the outputs, but this is a file", file=out)
    return Path(out)


def _note(row: dict, labels: str) -> str:
    """The note of a run table row: its departures from the usual sweep values, and why it
    failed or does not fit."""
    status = row.get("status")
    note = labels
    if status == "failed":
        note += f"  FAILED: {row.get('reason')}"
    elif not row.get("fits"):
        note += f"  does not fit: {row.get('reason')}"
    return note.strip()


def _usual_values(rows: list[dict], columns: list[str]) -> dict[str, object]:
    """Per sweep column, a value most rows share (the reference a paired sweep departs
    from), when one is strictly the most common; the table labels only departures from it."""
    from collections import Counter

    usual = {}
    for col in columns:
        counts = Counter(repr(r.get(col)) for r in rows).most_common(2)
        if len(counts) > 1 and counts[0][1] > counts[1][1]:
            usual[col] = next(r.get(col) for r in rows if repr(r.get(col)) == counts[0][0])
    return usual


def _evaluation_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `explore` and `sensitivity` that say what to override, where to write
    and where evaluations run (read back by ``_search_options``)."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec value (as for run)")  # fmt: skip
    p.add_argument(
        "--out",
        help="output folder (default: explore/ or sensitivity/ inside the folder `run` would "
        "write)",
    )
    p.add_argument("--executor", choices=EXECUTORS, default="processes",
                   help="where evaluations run (default: processes)")  # fmt: skip
    p.add_argument("--jobs", "-j", type=int, help="worker processes (default: all cores)")
    p.add_argument("--scheduler", help="Dask scheduler address (with --executor dask)")


def _search_options(args: argparse.Namespace) -> dict:
    """The options `run` and `explore` share, checked: output folder, executor, cache."""
    _check_out_dir(args.out)
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"expected a positive number of jobs, got {args.jobs}", key="--jobs")
    if args.scheduler is not None and args.executor != "dask":
        raise InputError(
            f"a scheduler address needs --executor dask (got --executor {args.executor})",
            key="--scheduler",
        )
    if args.scheduler is not None and not SCHEDULER_ADDRESS.fullmatch(args.scheduler):
        # checked here, not only on connecting: a run served from the cache never connects
        raise InputError(
            f"expected a scheduler address such as tcp://host:8786 or host:8786, got "
            f"{args.scheduler!r}",
            key="--scheduler",
        )
    return {
        "overrides": args.set,
        "out_dir": args.out,
        "executor": args.executor,
        "jobs": args.jobs,
        "scheduler": args.scheduler,
        "cache": not args.no_cache,
        "progress": False if args.no_progress else None,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from hyperdrive_sim.experiment import draw_figures, run_experiment
    from hyperdrive_sim.report import table
    from hyperdrive_sim.result import RESULT_COLUMNS

    if args.columns:  # a typo fails before any point runs
        table.parse_columns(args.columns, _run_columns(args.experiment, args.set))
    result = run_experiment(
        args.experiment,
        evaluator=args.evaluator,
        plots=False,  # drawn below, once the table is printed
        trace=args.trace,
        **_search_options(args),
    )
    columns = table.parse_columns(args.columns, result.columns)
    sweep = [
        c
        for c in result.columns
        if c not in RESULT_COLUMNS and c not in ("network", "input", "mesh")
    ]
    if len({row.get("evaluator") for row in result.rows}) > 1:  # no column of its own
        sweep.insert(0, "evaluator")
    usual = _usual_values(result.rows, sweep)
    shown = result.rows[: args.show]
    notes = [
        _note(
            row,
            " ".join(
                f"{k.rsplit('.', 1)[-1]}={row.get(k)}"
                for k in sweep
                if k not in usual or row.get(k) != usual[k]
            ),
        )
        for row in shown
    ]
    for line in table.render(shown, columns, notes):
        print(line)
    if len(result.rows) > args.show:
        print(f"... {plural(len(result.rows) - args.show, 'more row')} in results.csv")
    for line in table.footer(columns):
        print(line)
    st = result.stats
    print(
        f"{plural(st['points'], 'point')}: {st['ok']} ok, {st['infeasible']} "
        f"{'does' if st['infeasible'] == 1 else 'do'} not fit, {st['failed']} failed; "
        f"{st['computed']} computed, {st['cached']} from cache"
    )
    _written(
        result.out_dir,
        "results.csv, results.json, layers.csv, chips.csv, manifest.json",
        None if args.no_plots else lambda: draw_figures(result, _formats(args.figure_format)),
    )
    if st["failed"]:
        first = next(r for r in result.rows if r.get("status") == "failed")
        print(
            f"hyperdrive-sim: {st['failed']} of {st['points']} points failed with an internal "
            f"error (not cached: the next run computes them again); first: {first.get('network')} "
            f"{first.get('input_w')}x{first.get('input_h')} on "
            f"{first.get('mesh_rows')}x{first.get('mesh_cols')}: {first.get('reason')} "
            "(please report this)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return 0


def _run_columns(experiment: str, overrides: list[str]) -> tuple[str, ...]:
    """The columns of results.csv that `run` would write for this experiment."""
    from hyperdrive_sim.experiment import load_experiment
    from hyperdrive_sim.result import RESULT_COLUMNS
    from hyperdrive_sim.spec import loader
    from hyperdrive_sim.sweep.points import expand

    spec, _ = load_experiment(experiment, overrides)
    columns, _ = expand(spec, str(loader.find_experiment(experiment)))
    return (*RESULT_COLUMNS, *columns)


def _written(folder: Path, files: str, draw: Callable[[], list[Path]] | None) -> None:
    """Say what a command wrote, then draw its figures (after the tables are on disk) and
    say which of them changed; figures of earlier results in that folder are removed."""
    from hyperdrive_sim.report.folders import draw_into

    print(f"wrote {folder}/ ({files})", flush=True)
    if draw is not None:
        print("updating figures...", file=sys.stderr, flush=True)
        print(draw_into(folder / "figures", draw).summary())


def cmd_plot(args: argparse.Namespace) -> int:
    from hyperdrive_sim.readfile import check_path

    folder = check_path(args.results_dir, key="RESULTS_DIR")
    if not (folder / "results.json").exists():
        raise InputError(
            "no results.json here; give a folder written by `hyperdrive-sim run`", file=str(folder)
        )
    _check_results_json(folder / "results.json")
    from hyperdrive_sim.report.folders import draw_into
    from hyperdrive_sim.viz import PointSelector, plot_results

    point = PointSelector.parse(args.layer_point) if args.layer_point else None
    out = Path(args.out) if args.out else folder / "figures"
    drawn = draw_into(
        out,
        lambda: plot_results(
            folder, out, layer_point=point, formats=_formats(args.figure_format), force=args.force
        ),
        prune=args.out is None,  # a folder given with --out may hold other files
    )
    for path in drawn.files:
        print(f"{'wrote' if path in drawn.changed else 'up to date:'} {path}")
    if drawn.removed:
        print(f"removed {plural(len(drawn.removed), 'figure')} of earlier results from {out}/")
    return 0


def _formats(values: list[str]) -> tuple[str, ...] | None:
    """``--figure-format`` values (repeatable, or comma-separated), PNG always included."""
    if not values:
        return None
    chosen = [f.strip().lower() for v in values for f in v.split(",") if f.strip()]
    return tuple(dict.fromkeys(["png", *chosen]))


def _check_results_json(path: Path) -> None:
    """results.json must be what `run` writes: an object with a list of column names and a
    list of row objects. InputError naming what is wrong otherwise."""
    from hyperdrive_sim.readfile import read_input

    raw = read_input(path, limit=limits.MAX_RESULTS_BYTES, what="results.json")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(
            f"cannot read it as JSON ({exc.__class__.__name__}); expected the results.json "
            "written by `hyperdrive-sim run`",
            file=str(path),
        ) from None
    expected = "expected the results.json written by `hyperdrive-sim run`"
    if not isinstance(data, dict):
        raise InputError(
            f"is a JSON {type(data).__name__}, not an object; {expected}", file=str(path)
        )
    columns, rows = data.get("columns"), data.get("rows")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InputError(
            f"expected a list of column names; {expected}", file=str(path), key="columns"
        )
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"expected a list of row objects; {expected}", file=str(path), key="rows")
    missing = [c for c in ("network", "input_h", "input_w", "fits") if c not in columns]
    if missing:
        raise InputError(
            f"missing columns {', '.join(missing)}; {expected}", file=str(path), key="columns"
        )


def in_repository(cwd: Path | None = None) -> bool:
    """Is ``cwd`` (default: the current folder) the root of this project's repository?"""
    from hyperdrive_sim.spec.loader import bundled_dir

    root = bundled_dir("configs").parent.resolve()
    return (cwd or Path.cwd()).resolve() == root and (root / "pyproject.toml").is_file()


def default_validation_out(cwd: Path | None = None) -> Path:
    """``docs/validation.md`` in this project's repository when run from its root (the
    folder of its pyproject.toml), else ``validation/validation.md`` here."""
    return Path("docs/validation.md" if in_repository(cwd) else "validation/validation.md")


def _remove_empty(folders: list[Path]) -> None:
    """Remove each folder of ``folders`` that holds nothing but empty folders."""
    import contextlib
    import os

    for top in folders:
        if not top.is_dir():
            continue
        for here, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                Path(here).rmdir()


def cmd_validate(args: argparse.Namespace) -> int:
    from hyperdrive_sim.report.writers import check_names
    from hyperdrive_sim.spec.loader import bundled_dir
    from hyperdrive_sim.validation import WITHIN, validate

    root = bundled_dir("configs").parent
    out = Path(args.out) if args.out else default_validation_out()
    check_names(out)
    # in the repository the experiment tables go to its results/, elsewhere beside the report
    results = root / "results" if in_repository() else out.parent / "results"
    created = [p for p in (results, *results.parents, *out.parents) if not p.exists()]
    try:
        checks, _ = validate(root, out, results_root=results)
    except BaseException:
        _remove_empty(sorted(set(created), key=lambda p: len(p.parts)))
        raise
    for ch in checks:
        c = ch.claim
        model = "n/a" if ch.simulated is None else f"{ch.simulated:.3g}"
        error = "not evaluable" if ch.error is None else f"{100 * ch.error:+.1f}%"
        print(f"{c.id:<36} published {c.value:>8.3g}  model {model:>8}  {error:>13}  {c.kind}")
    for ch in checks:
        r = ch.residual
        if r is not None:
            verdict = "within" if r.within else "NOT within"
            print(
                f"{ch.claim.id:<36} {ch.claim.fits}: prior {r.prior:.4g}, fit {r.fitted:.4g}, "
                f"fit/prior {r.ratio:.2f}x ({verdict} {WITHIN:g}x)"
            )
    print(f"wrote {out} (experiment tables and figures in {results}/)")
    return 0


def cmd_memory_table(args: argparse.Namespace) -> int:
    from hyperdrive_sim import cacti
    from hyperdrive_sim.report.writers import check_names, write_atomic

    out = Path(args.out)
    check_names(out)
    if args.cacti:
        tool = cacti.existing(Path(args.cacti))
    else:
        tool = cacti.build(Path(args.cache_dir) if args.cache_dir else cacti.default_cache_dir())
    table = cacti.generate(
        tool, name=out.stem, raw_dir=Path(args.raw) if args.raw else None, log=print
    )
    write_atomic(out, cacti.dump_table(table))
    rows = sum(len(c["macros"]) for c in table["corners"].values())
    print(f"wrote {out} ({rows} macros from {table['provenance']['tool']})")
    return 0


def _refine_overrides(args: argparse.Namespace) -> list[str]:
    """``--refine`` and ``--refine-margin`` as the ``explore.`` settings they stand for."""
    out = []
    if args.refine is not None:
        out.append(f"explore.refine={args.refine}")
    if args.refine_margin is not None:
        if not args.refine_margin >= 0 or args.refine_margin == float("inf"):
            raise InputError(
                f"expected a relative margin >= 0 (0.1 for 10%), got {args.refine_margin}",
                key="--refine-margin",
            )
        out.append(f"explore.refine_margin={args.refine_margin!r}")
    return out


#: how the refinement table shows an objective: (heading, scale)
SHOWN = {"total_energy_j": ("mJ/frame", 1e3), "latency_s": ("latency ms", 1e3)}


def _point_name(row: dict, axes: list[str]) -> str:
    """``2x4, 3.2 Mb, nominal``: the mesh, the memory and the other design-axis values."""
    fmm = row.get("fmm_capacity_bits")
    parts = [f"{row['mesh_rows']}x{row['mesh_cols']}"]
    parts += [f"{fmm / 1e6:.3g} Mb"] if fmm else []
    parts += [str(row.get(k)) for k in axes if k != "chip.fmm_bits"]
    return ", ".join(parts)


def _print_refinement(result, show: int) -> None:
    """The points refining moved (on or off the front, or to another rank), by case, with
    the objectives the refining evaluator changes, before -> after."""
    from collections import Counter

    from hyperdrive_sim.explore.refine import EVALUATOR_FIXED, STAYED_OFF, STAYED_ON
    from hyperdrive_sim.explore.run import refinement_rows

    st = result.stats
    print(
        f"refined with {result.refine} (margin {result.refine_margin:.0%}): "
        f"{plural(st['refined_points'], 'design point')} in "
        f"{plural(st['refined_groups'], 'evaluation')} ({st['refine_cached_groups']} from "
        f"cache, {plural(st['refine_rounds'], 'round')}): {st['joined_front']} joined the "
        f"front, {st['left_front']} left it, {st['rank_changed']} changed rank"
    )
    moved = [
        r for r in refinement_rows(result)
        if r["front"] not in (STAYED_ON, STAYED_OFF) or r["rank_before"] != r["rank_after"]
    ]  # fmt: skip
    axes = [k for k in result.axes if k not in result.scenarios]
    shown = [o.column for o in result.objectives if o.column not in EVALUATOR_FIXED]
    counts: dict[tuple, int] = {}
    n_moved = Counter(case_of_row(row, result) for row in moved)
    for row in moved:
        case = case_of_row(row, result)
        if case not in counts:
            print(
                f"What refining moved, {row['network']} at {row['input_w']}x{row['input_h']}"
                + "".join(f", {k} = {row.get(k)}" for k in result.scenarios)
                + f" ({result.evaluator} -> {result.refine}; rank - = misses a constraint):"
            )
            heads = "".join(f" {SHOWN.get(c, (c, 1))[0]:>26}" for c in shown)
            print(f"  {'point':<24} {'rank':>8}  {'front':<10}{heads}")
            counts[case] = 0
        counts[case] += 1
        if counts[case] == show + 1:
            print(f"  ... {n_moved[case] - show} more in refinement.csv")
        if counts[case] > show:
            continue
        cells = ""
        for c in shown:
            scale = SHOWN.get(c, (c, 1))[1]
            before, after = row[f"{c}_{result.evaluator}"], row[f"{c}_{result.refine}"]
            step = row[f"{c}_change"]
            text = f"{before * scale:.4g} -> {after * scale:.4g}"
            cells += f" {text:>18}" + (f" {step:+6.1%}" if step is not None else " " * 7)
        rank = f"{row['rank_before'] or '-':>2} -> {row['rank_after'] or '-':<2}"
        print(f"  {_point_name(row, axes)[:24]:<24} {rank:>8}  {row['front']:<10}{cells}")


def cmd_explore(args: argparse.Namespace) -> int:
    from hyperdrive_sim.explore.run import explore_experiment

    options = _search_options(args)
    options["overrides"] = [*options["overrides"], *_refine_overrides(args)]
    result = explore_experiment(
        args.experiment,
        plots=False,  # drawn after the front is printed
        **options,
    )
    st = result.stats
    objectives = result.objectives
    front = sorted(
        result.front, key=lambda r: (case_of_row(r, result), r["chips"], r["fmm_capacity_bits"])
    )
    shown = 0
    last_case = None
    sizes: dict[tuple, int] = {}
    for row in front:
        sizes[case_of_row(row, result)] = sizes.get(case_of_row(row, result), 0) + 1
    for row in front:
        case = case_of_row(row, result)
        if case != last_case and last_case is not None and sizes[last_case] > args.show:
            print(f"  ... {sizes[last_case] - args.show} more in pareto.csv")
        if case != last_case:
            label = f"{row['network']} at {row['input_w']}x{row['input_h']}" + "".join(
                f", {k} = {row.get(k)}" for k in result.scenarios
            )
            print(f"Pareto front, {label}:")
            print(
                f"  {'mesh':>6} {'chips':>5} {'FMM Mbit':>8} {'op. point':<10} {'fps':>7} "
                f"{'mJ/frame':>9} {'TOp/s/W':>8} {'mm2 total':>9} {'die mm2':>8}"
            )
            last_case, shown = case, 0
        if shown >= args.show:
            continue
        shown += 1
        print(
            f"  {row['mesh_rows']:>3}x{row['mesh_cols']:<2} {row['chips']:>5} "
            f"{row['fmm_capacity_bits'] / 1e6:>8.1f} {row['operating_point']:<10} "
            f"{row['fps']:>7.1f} {row['total_energy_j'] * 1e3:>9.3f} "
            f"{row['system_tops_per_w']:>8.2f} {row['silicon_area_mm2']:>9.1f} "
            f"{row['chip_area_mm2']:>7.2f}{'p' if row.get('pad_limited') is True else ' '}"
        )
    if last_case is not None and sizes[last_case] > args.show:
        print(f"  ... {sizes[last_case] - args.show} more in pareto.csv")
    if any(row.get("pad_limited") is True for row in front):
        print("  die mm2: one chip's die; p: pad-limited (the pad ring, not the core, sets it)")
    print(
        f"{plural(st['points'], 'design point')} in {plural(st['groups'], 'group')} "
        f"({st['pruned_groups']} ruled "
        f"out before evaluating, {st['evaluated_groups']} evaluated, {st['cached_groups']} "
        f"from cache): {st['ok']} fit, "
        f"{st['meet_constraints']} meet the constraints, {st['front']} on the front "
        f"({', '.join(o.label for o in objectives)})"
    )
    if result.refine:
        _print_refinement(result, args.show)
    from hyperdrive_sim.explore.run import draw_pareto

    _written(
        result.out_dir,
        "results.csv, pareto.csv, refinement.csv, manifest.json"
        if result.refine
        else "results.csv, pareto.csv, manifest.json",
        None if args.no_plots else lambda: draw_pareto(result),
    )
    return EXIT_INTERNAL if st["failed"] else 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from hyperdrive_sim.experiment import _progress, load_experiment, prepare_output
    from hyperdrive_sim.report.folders import output_folder
    from hyperdrive_sim.sensitivity import sensitivity
    from hyperdrive_sim.spec import loader

    options = _search_options(args)
    overrides = options.pop("overrides")
    spec, base = load_experiment(args.experiment, overrides)
    file = str(loader.find_experiment(args.experiment))
    if spec.explore is not None:
        raise InputError(
            "sensitivity runs the points of an experiment, not an explore: space; remove the "
            "explore: block or use another file",
            file=file,
        )
    if not 1 <= args.samples <= limits.MAX_SAMPLES:
        raise InputError(f"expected 1 to {limits.MAX_SAMPLES} samples, got {args.samples}",
                         key="--samples")  # fmt: skip
    if args.seed < 0:
        raise InputError(f"expected a seed >= 0, got {args.seed}", key="--seed")
    target = output_folder(
        spec.name, spec.output_dir, options.pop("out_dir"), overrides, sub="sensitivity"
    )
    prepare_output(target, file)
    result = sensitivity(
        spec, base, file=file, samples=args.samples, seed=args.seed, out_dir=target,
        progress=_progress(options.pop("progress")), **options,
    )  # fmt: skip
    print(
        f"{'network':<14} {'input':>10} {'mesh':>6}  {'TOp/s/W [p5, p95]':<22} "
        f"{'I/O % [p5, p95]':<20} {'mJ/frame [p5, p95]':<22} largest effects on TOp/s/W"
    )
    for u in result.uncertainty:
        where = f"{u['network']:<14} {u['input_w']:>5}x{u['input_h']:<4} "
        where += f"{u['mesh_rows']:>3}x{u['mesh_cols']:<2}"
        if not u["fits"]:
            print(f"{where}  does not fit")
            continue
        eff = _interval(u, "system_tops_per_w", 1, "5.2f")
        io = _interval(u, "io_share", 100, "4.1f")
        mj = _interval(u, "total_energy_j", 1e3, "5.3f")
        print(f"{where}  {eff:<22} {io:<20} {mj:<22} {_largest(result.tornado, u['point'])}")
    st = result.stats
    print(
        f"{plural(result.samples, 'Monte-Carlo sample')} (seed {result.seed}) and a low/high "
        f"run per parameter at each point; {plural(st['groups'], 'evaluation')}: "
        f"{st['computed']} computed, {st['cached']} from cache"
    )
    from hyperdrive_sim.viz.uncertainty import uncertainty_figures

    _written(
        target,
        "uncertainty.csv, tornado.csv, sensitivity.json",
        None if args.no_plots else lambda: uncertainty_figures(target),
    )
    return 0


def _interval(row: dict, metric: str, scale: float, fmt: str) -> str:
    lo, hi = row[f"{metric}_p5"], row[f"{metric}_p95"]
    return f"{row[metric] * scale:{fmt}} [{lo * scale:.3g}, {hi * scale:.3g}]"


def _largest(tornado, point: int, n: int = 3) -> str:
    """The ``n`` parameters that move a point's efficiency most, with their swing."""
    swings = []
    for t in tornado:
        if t["point"] != point:
            continue
        lo, hi = t["system_tops_per_w_at_low"], t["system_tops_per_w_at_high"]
        if lo is not None and hi is not None:
            swings.append((abs(hi - lo), t["parameter"].split(".", 1)[1]))
    swings.sort(reverse=True)
    return ", ".join(f"{name} ±{swing / 2:.2g}" for swing, name in swings[:n])


def case_of_row(row: dict, result) -> tuple:
    """Network, input and scenario values of a row (one front each)."""
    return (
        row["network"],
        row["input_w"],
        row["input_h"],
        *(str(row.get(k)) for k in result.scenarios),
    )


def cmd_fit(args: argparse.Namespace) -> int:
    from hyperdrive_sim.errors import MappingError
    from hyperdrive_sim.mapping.fit import require_tiled, smallest_fmm_bits, smallest_mesh
    from hyperdrive_sim.readfile import check_path
    from hyperdrive_sim.simulate import resolve_network
    from hyperdrive_sim.spec.defaults import coerce
    from hyperdrive_sim.spec.models import DEFAULT_SECTIONS

    res = _parse_resolution(args.input)
    for option in ("chip", "system"):
        if getattr(args, option) is not None:
            check_path(getattr(args, option), key=f"--{option}")
    chip = coerce(args.chip, "chip")
    system = coerce(args.system, "system")
    require_tiled(system, "fit", args.system or f"configs/{DEFAULT_SECTIONS['system']}")
    if args.fusion is not None:
        system = _with_fusion(system, args.fusion)
    meshes = [_parse_mesh(m) for m in args.mesh] or [system.mesh]
    resolve_network(args.network).at(res.height, res.width)  # a bad network fails first
    depth_first = system.fusion == "depth_first"
    print(
        f"{args.network} at {res} on {chip.name} chips ({chip.fmm_bits:,} bits of "
        f"feature-map memory each, {chip.tile_rows}x{chip.tile_cols} Tile-PUs)"
        + (", depth first" if depth_first else "")
    )
    for shapes in ("square", "wide"):
        try:
            mesh = smallest_mesh(args.network, res, chip, system, None, shapes=shapes)
        except MappingError as exc:
            print(f"  smallest {shapes} mesh: none up to the limit ({exc})")
            continue
        peak = smallest_fmm_bits(args.network, res, chip, system, None, mesh=mesh)
        print(
            f"  smallest {shapes + ' mesh:':<13} {mesh!s:>6} ({plural(mesh.chips, 'chip')}); "
            "peak need "
            f"{peak.bits:,} bits at layer {peak.layer!r} on chip {_chip(peak.chip)}"
        )
    _print_fewest_chips(args.network, res, chip, system)
    for mesh in meshes:
        try:
            peak = smallest_fmm_bits(args.network, res, chip, system, None, mesh=mesh)
        except MappingError as exc:
            print(f"  on a {mesh} mesh: {exc}")
            continue
        ratio = peak.bits / chip.fmm_bits
        verdict = "fits" if peak.bits <= chip.fmm_bits else f"{ratio:.2f}x the chip's"
        print(
            f"  on a {mesh!s:>5} mesh: needs fmm_bits >= {peak.bits:,} (peak at layer "
            f"{peak.layer!r} on chip {_chip(peak.chip)}; {verdict})"
        )
        if depth_first:
            print(f"    {_stack_line(args.network, res, chip, system, mesh)}")
    return 0


def _with_fusion(system, fusion: str):
    """``system`` with ``fusion`` set (``fit --fusion``), validated as a spec would be."""
    from pydantic import ValidationError

    from hyperdrive_sim.errors import InputError
    from hyperdrive_sim.spec.models import SystemSpec

    try:
        return SystemSpec.model_validate({**system.model_dump(), "fusion": fusion})
    except ValidationError as exc:
        detail = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InputError(detail, key="--fusion") from None


def _stack_line(network: str, res, chip, system, mesh) -> str:
    """What the depth-first planner runs on ``mesh``: stack, bands and weight traffic."""
    from hyperdrive_sim.mapping.bands import band_count
    from hyperdrive_sim.mapping.depth_first import memory_choice, stack_weights_resident
    from hyperdrive_sim.simulate import resolve_network
    from hyperdrive_sim.spec.defaults import coerce
    from hyperdrive_sim.spec.hardware import Hardware

    net = resolve_network(network).at(res.height, res.width)
    hw = Hardware(chip, system, coerce(None, "energy"), mesh)
    choice = memory_choice(net, hw)
    if not choice.fused:
        if not choice.problems:
            return "no fused stack: none needed"
        return "no fused stack: layer by layer needs less memory here than any stack would"
    first, last = net.infos[0].layer.name, net.infos[choice.fused - 1].layer.name
    bands = band_count(net, mesh, choice.fused, choice.band_rows)
    weights = sum(i.weights for i in net.infos[: choice.fused]) * chip.weight_bits
    if stack_weights_resident(net, hw, choice.fused):
        traffic = f"its {weights:,} weight bits stay in the weight buffer (read once)"
    else:
        extra = weights * (bands - 1)
        traffic = (
            f"its {weights:,} weight bits are streamed in every band: {extra:,} more "
            "off-chip bits per frame than layer by layer"
        )
    rows = plural(choice.band_rows, "row")
    return (
        f"fused stack {first!r}..{last!r} ({choice.fused} layers) in {bands} bands of {rows} "
        f"per chip; {traffic}"
    )


def _print_fewest_chips(network: str, res, chip, system) -> None:
    """The fit line for the fewest chips of any ROWSxCOLS shape, ties broken by silicon."""
    from hyperdrive_sim.errors import MappingError
    from hyperdrive_sim.mapping.costs import largest_block_bits
    from hyperdrive_sim.mapping.fit import fewest_chips, smallest_fmm_bits
    from hyperdrive_sim.pricing.area import chip_area
    from hyperdrive_sim.simulate import resolve_network
    from hyperdrive_sim.spec.defaults import coerce

    try:
        meshes = fewest_chips(network, res, chip, system)
    except MappingError as exc:
        print(f"  fewest chips: none up to the limit ({exc})")
        return
    area, energy = coerce(None, "area"), coerce(None, "energy")
    block = largest_block_bits(resolve_network(network).at(res.height, res.width).infos, chip)
    silicon = {m: chip_area(chip, system, m, area, block, energy).silicon_mm2 for m in meshes}
    best = min(meshes, key=lambda m: (silicon[m], m.rows))  # equal area: fewer rows first
    peak = smallest_fmm_bits(network, res, chip, system, None, mesh=best)
    others = [str(m) for m in meshes if m != best]
    also = f"; also {', '.join(others)}" if others else ""
    print(
        f"  {'fewest chips:':<22} {best!s:>6} ({best.chips} chips, {silicon[best]:.1f} mm2"
        f"{also}); peak need {peak.bits:,} bits at layer {peak.layer!r} on chip "
        f"{_chip(peak.chip)}"
    )


def _chip(rc: tuple[int, int] | None) -> str:
    return "-" if rc is None else f"({rc[0]},{rc[1]})"


def _parse_mesh(text: str):
    from hyperdrive_sim.spec.models import Mesh

    return _parse_option(Mesh, text, "--mesh")


def cmd_schema(args: argparse.Namespace) -> int:
    from hyperdrive_sim.report.writers import write_json
    from hyperdrive_sim.spec.schema import all_schemas

    schemas = all_schemas()
    out = _check_out_dir(args.out)
    for name, schema in schemas.items():
        write_json(out / f"{name}.schema.json", schema)
    print(f"wrote {', '.join(f'{n}.schema.json' for n in schemas)} to {out}/")
    return 0


def cmd_networks(args: argparse.Namespace) -> int:
    from hyperdrive_sim.workload.zoo import ZOO, get_network

    width = max(len("name"), *(len(name) for name in ZOO))
    print(f"{'name':<{width}} {'layers':>6} {'GMAC@224':>9}  {'Mweights':>9}  description")
    for name, build in ZOO.items():
        net = get_network(name)
        side = 416 if name == "yolov3" else 224
        shaped = net.at(side, side)
        doc = (build.__doc__ or "").strip().splitlines()[0]
        mark = "*" if side != 224 else " "  # the footnote mark sits beside the column
        gmac = f"{shaped.macs / 1e9:>9.3f}{mark}"
        print(f"{name:<{width}} {len(net.layers):>6} {gmac} {shaped.weights / 1e6:>9.2f}  {doc}")
    print("* yolov3 at 416x416")
    return 0


def cmd_network(args: argparse.Namespace) -> int:
    from hyperdrive_sim.simulate import resolve_network

    ref = args.name
    if args.allow_unsupported and ref.endswith(".onnx"):
        from hyperdrive_sim.spec.models import NetworkRef

        ref = NetworkRef(onnx=ref, allow_unsupported=True)
    network = resolve_network(ref)
    # without --input: the model's own size (an ONNX graph with a fixed input), else 224x224
    native = network.native_input
    default = f"{native[1]}x{native[0]}" if native else "224x224"
    res = _parse_resolution(args.input if args.input is not None else default)
    net = network.at(res.height, res.width)
    if args.json:
        print(json.dumps([_layer_dict(i) for i in net.infos], indent=1))
        return 0
    print(
        f"{net.name} at {res} (WIDTHxHEIGHT): {net.macs / 1e9:.3f} GMAC, "
        f"{net.weights / 1e6:.3f} M weights, {len(net.infos)} layers"
    )
    print(
        f"{'#':>3} {'layer':<28} {'type':<15} {'input':<18} {'output':<14} {'MMAC':>9} "
        f"{'weights':>9} {'out kbit':>9}"
    )
    for i in net.infos:
        print(
            f"{i.index:>3} {i.layer.name:<28} {i.layer.kind:<15} "
            f"{' + '.join(map(str, i.in_shapes)):<18} {i.out_shape!s:<14} "
            f"{i.macs / 1e6:>9.2f} {i.weights:>9} {i.out_shape.elements * 16 / 1e3:>9.1f}"
        )
    return 0


def _layer_dict(info) -> dict:
    return {
        "name": info.layer.name,
        "type": info.layer.kind,
        "inputs": list(info.layer.inputs),
        "in_shapes": [str(s) for s in info.in_shapes],
        "out_shape": str(info.out_shape),
        "macs": info.macs,
        "weights": info.weights,
    }


def _parse_resolution(text: str):
    from hyperdrive_sim.spec.models import Resolution

    return _parse_option(Resolution, text, "--input")


def _parse_option(model, text: str, key: str):
    """A command-line value as a spec value (``4x2``, ``1920x1080``); SpecError naming the
    option otherwise."""
    from pydantic import ValidationError

    from hyperdrive_sim.errors import SpecError

    try:
        return model.model_validate(text)
    except ValidationError as exc:
        detail = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise SpecError(detail, key=key) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperdrive-sim",
        description="Simulate tiled multi-chip Hyperdrive binary-weight CNN accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"hyperdrive_sim {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--include-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a further folder that include: may read (repeatable; also the environment "
        "variable HYPERDRIVE_SIM_INCLUDE_PATH). Without it, includes read the experiment's "
        "folder and below and the bundled configs/ only",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run an experiment YAML and write tables")
    run.add_argument(
        "experiment", help="experiment YAML file, or the name of a bundled one (quickstart)"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set chip.fmm_bits=12800000 --set meshes=[2x2,4x4] "
        "(repeatable; VALUE is YAML)",
    )
    run.add_argument(
        "--out",
        help="output folder (default: the spec's, else results/<name>/; with --set, that name "
        "+ the overrides, e.g. results/quickstart+chip.fmm_bits=12800000/)",
    )
    run.add_argument("--evaluator", choices=EVALUATORS, help="override the evaluator")
    run.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="processes",
        help="where points run (default: processes)",
    )
    run.add_argument("--jobs", "-j", type=int, help="worker processes (default: all cores)")
    run.add_argument(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)",
    )
    run.add_argument("--no-cache", action="store_true", help="recompute every point")
    run.add_argument(
        "--trace",
        action="store_true",
        help="write a Perfetto/Chrome trace of every point to OUT/traces/ (simpy: the event "
        "timeline with links; analytic: its closed-form schedule)",
    )
    run.add_argument("--no-plots", action="store_true", help="skip the figures")
    run.add_argument(
        "--figure-format",
        action="append",
        default=[],
        metavar="FMT",
        help="also write figures as svg or pdf (repeatable; PNG always)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--show", type=int, default=40, help="rows to print (default 40)")
    run.add_argument(
        "--columns",
        action="append",
        default=[],
        metavar="NAMES",
        help="table columns, comma-separated, in order: network, accelerator, input, mesh, "
        "chips, area (silicon mm2), fps, energy (mJ/frame), core, memory, offchip, c2c, "
        "leakage (shares of the energy per frame, %%), io (I/O %%), efficiency (TOp/s/W), "
        "or any results.csv column (default: all the named ones)",
    )
    run.set_defaults(func=cmd_run)

    plot = sub.add_parser("plot", help="re-draw the figures of a results folder")
    plot.add_argument("results_dir", help="folder written by `hyperdrive-sim run`")
    plot.add_argument("--out", help="figure folder (default: RESULTS_DIR/figures)")
    plot.add_argument(
        "--layer-point",
        metavar="NETWORK,WIDTHxHEIGHT,ROWSxCOLS",
        help="point of the layer breakdown, e.g. resnet34,224x224,2x2 (parts may be left "
        "empty; default: the first point that fits)",
    )
    plot.add_argument(
        "--figure-format",
        action="append",
        default=[],
        metavar="FMT",
        help="also write figures as svg or pdf (repeatable; PNG always)",
    )
    plot.add_argument(
        "--force", action="store_true", help="redraw even when the results have not changed"
    )
    plot.set_defaults(func=cmd_plot)

    exp = sub.add_parser(
        "explore", help="search an experiment's explore: design space for its Pareto front"
    )
    exp.add_argument("experiment", help="experiment YAML with an explore: block, or a bundled name")
    _evaluation_arguments(exp)
    exp.add_argument("--no-cache", action="store_true", help="re-evaluate every group")
    exp.add_argument("--no-plots", action="store_true", help="skip the Pareto figures")
    exp.add_argument("--no-progress", action="store_true", help="no progress bar")
    exp.add_argument("--show", type=int, default=15, help="front rows to print per case")
    exp.add_argument(
        "--refine", choices=EVALUATORS,
        help="re-evaluate the front and the points near it with this evaluator (simpy) and "
        "re-rank (the explore: block's refine key)",
    )  # fmt: skip
    exp.add_argument(
        "--refine-margin", type=float, metavar="M",
        help="relative margin around the front within which points are refined "
        "(default 0.1; the explore: block's refine_margin key)",
    )  # fmt: skip
    exp.set_defaults(func=cmd_explore)

    sens = sub.add_parser(
        "sensitivity",
        help="how results move over the assumed values' ranges (tornado, Monte-Carlo)",
    )
    sens.add_argument("experiment", help="experiment YAML, or the name of a bundled one")
    sens.add_argument("--samples", type=int, default=200, help="Monte-Carlo samples (200)")
    sens.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    _evaluation_arguments(sens)
    sens.add_argument("--no-plots", action="store_true", help="skip the figures")
    sens.add_argument("--no-progress", action="store_true", help="no progress bar")
    sens.add_argument("--no-cache", action="store_true", help="re-evaluate every variant")
    sens.set_defaults(func=cmd_sensitivity)

    fit = sub.add_parser(
        "fit",
        help="fewest chips (any ROWSxCOLS), smallest square and wide meshes, and smallest "
        "feature-map memory on which a network fits",
    )
    fit.add_argument("network", help="zoo name, YAML network file or ONNX model")
    fit.add_argument(
        "--input", required=True, help="WIDTHxHEIGHT, e.g. 1920x1080 (landscape full HD)"
    )
    fit.add_argument("--chip", help="chip YAML (default: the bundled Hyperdrive chip)")
    fit.add_argument("--system", help="system YAML (default: the bundled mesh system)")
    fit.add_argument(
        "--mesh",
        action="append",
        default=[],
        metavar="ROWSxCOLS",
        help="mesh for the memory answer, ROWSxCOLS (repeatable; default: the system's)",
    )
    fit.add_argument(
        "--fusion",
        choices=("layer_by_layer", "depth_first"),
        help="override system.fusion: depth_first answers with the planner's fused stack "
        "and band height (docs/depth_first.md)",
    )
    fit.set_defaults(func=cmd_fit)

    schema = sub.add_parser("schema", help="write the JSON Schema of every YAML format")
    schema.add_argument("--out", default="schemas", help="folder (default: schemas/)")
    schema.set_defaults(func=cmd_schema)

    val = sub.add_parser("validate", help="reproduce the published claims: docs/validation.md")
    val.add_argument(
        "--out",
        help="markdown file to write (default: docs/validation.md when run from the root of "
        "the hyperdrive_sim repository, else validation/validation.md here)",
    )
    val.set_defaults(func=cmd_validate)

    mem = sub.add_parser(
        "memory-table",
        help="run CACTI over the SRAM macros and write the memory table (needs the cacti extra)",
    )
    mem.add_argument(
        "--out",
        default="configs/memory/cacti_22nm.yaml",
        help="YAML table to write (default: configs/memory/cacti_22nm.yaml)",
    )
    mem.add_argument("--cacti", help="an existing CACTI binary (its folder must hold tech_params/)")
    mem.add_argument(
        "--cache-dir", help="where CACTI is built (default: ~/.cache/hyperdrive_sim/cacti)"
    )
    mem.add_argument("--raw", help="folder to keep every CACTI input and output in")
    mem.set_defaults(func=cmd_memory_table)

    nets = sub.add_parser("networks", help="list the network zoo")
    nets.set_defaults(func=cmd_networks)

    net = sub.add_parser("network", help="print a network's layer table")
    net.add_argument("name", help="zoo name, YAML network file or ONNX model (.onnx)")
    net.add_argument(
        "--allow-unsupported",
        action="store_true",
        help="ONNX: treat unsupported operators as zero-cost (with a warning)",
    )
    net.add_argument(
        "--input",
        help="WIDTHxHEIGHT (default: an ONNX model's own fixed input size, else 224x224)",
    )
    net.add_argument("--json", action="store_true", help="print JSON instead of a table")
    net.set_defaults(func=cmd_network)

    from hyperdrive_sim.verify.cli import add_parser as add_verify_parser

    add_verify_parser(sub)
    return parser


#: what a re-run of an interrupted command keeps (run, explore and sensitivity cache each
#: finished point or group as soon as it is done)
_RESUME = dict.fromkeys(
    ("run", "explore", "sensitivity"),
    "; finished points are cached: run the same command again to resume",
)


def _one_line(exc: BaseException) -> str:
    """Error messages go out on one line (pydantic and others may span several)."""
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    show = warnings.showwarning

    def _warn(message, category, *rest, **kw):  # our warnings: one line, no source path
        if not issubclass(category, UserWarning):
            return show(message, category, *rest, **kw)
        print(f"hyperdrive-sim: warning: {message}", file=sys.stderr)

    warnings.showwarning = _warn
    from hyperdrive_sim.readfile import INCLUDE_PATH_ENV

    before = os.environ.get(INCLUDE_PATH_ENV)
    if args.include_dir:  # the environment carries it to worker processes too
        given = [before or "", *args.include_dir]
        os.environ[INCLUDE_PATH_ENV] = os.pathsep.join(p for p in given if p)
    try:
        return args.func(args)
    except InputError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"hyperdrive-sim: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"hyperdrive-sim: interrupted{_RESUME.get(args.command, '')}", file=sys.stderr)
        return 130
    except (HyperdriveSimError, Exception) as exc:
        if args.debug:
            traceback.print_exc()
        code = getattr(exc, "exit_code", EXIT_INTERNAL)
        if isinstance(exc, HyperdriveSimError) and code != EXIT_INTERNAL:
            # a documented outcome with its own exit code (WorkerLost: 4)
            print(f"hyperdrive-sim: error: {_one_line(exc)}", file=sys.stderr)
            return code
        print(
            f"hyperdrive-sim: internal error: {exc.__class__.__name__}: {_one_line(exc)} "
            "(please report this; rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:  # --include-dir holds for this command only (main may run again in a process)
        if before is None:
            os.environ.pop(INCLUDE_PATH_ENV, None)
        else:
            os.environ[INCLUDE_PATH_ENV] = before


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
