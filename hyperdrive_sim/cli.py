"""Command line: parse arguments, call the library, map errors to exit codes.

Exit codes: 0 success, 2 bad input (one line naming file, key and what was expected),
1 internal fault. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from hyperdrive_sim import __version__
from hyperdrive_sim.errors import HyperdriveSimError, InputError
from hyperdrive_sim.evaluators import EVALUATORS
from hyperdrive_sim.sweep.executors import EXECUTORS

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


def _fmt(value, spec: str) -> str:
    """Format a number, or a dash of the same width for a missing value."""
    if value is None:
        return format("-", ">" + spec.split(".")[0])
    return format(value, spec)


def _check_out_dir(out: str | None) -> Path | None:
    """An output folder given on the command line must not be an existing file."""
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise InputError("expected a folder for the outputs, but this is a file", file=out)
    return Path(out) if out is not None else None


def cmd_run(args: argparse.Namespace) -> int:
    from hyperdrive_sim.experiment import run_experiment
    from hyperdrive_sim.result import RESULT_COLUMNS

    _check_out_dir(args.out)
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"expected a positive number of jobs, got {args.jobs}", key="--jobs")
    result = run_experiment(
        args.experiment,
        out_dir=args.out,
        evaluator=args.evaluator,
        executor=args.executor,
        jobs=args.jobs,
        scheduler=args.scheduler,
        cache=not args.no_cache,
        progress=False if args.no_progress else None,
        plots=not args.no_plots,
        trace=args.trace,
    )
    header = (
        f"{'network':<14} {'accelerator':<22} {'input':>10} {'mesh':>6} {'fps':>9} "
        f"{'mJ/frame':>9} {'I/O %':>6} {'TOp/s/W':>8}  note"
    )
    print(header)
    for row in result.rows[: args.show]:
        io = None
        if row["total_energy_j"]:
            io = 100 * (row["offchip_io_energy_j"] + row["c2c_io_energy_j"]) / row["total_energy_j"]
        energy_mj = row["total_energy_j"] * 1e3 if row["total_energy_j"] else None
        labels = " ".join(
            f"{k}={row.get(k)}"
            for k in result.columns[len(RESULT_COLUMNS) :]
            if k not in ("network", "input", "mesh")
        )
        note = labels + ("" if row["fits"] else "  does not fit: " + row["reason"])
        print(
            f"{row['network']:<14} {row.get('accelerator')!s:<22} "
            f"{row['input_w']:>5}x{row['input_h']:<4} "
            f"{row['mesh_rows']:>3}x{row['mesh_cols']:<2} {_fmt(row['fps'], '9.1f')} "
            f"{_fmt(energy_mj, '9.3f')} {_fmt(io, '6.1f')} "
            f"{_fmt(row['system_tops_per_w'], '8.2f')}  {note}"
        )
    if len(result.rows) > args.show:
        print(f"... {len(result.rows) - args.show} more rows in results.csv")
    st = result.stats
    print(
        f"{st['points']} points: {st['ok']} ok, {st['infeasible']} do not fit, "
        f"{st['failed']} failed; {st['computed']} computed, {st['cached']} from cache"
    )
    print(
        f"wrote {result.out_dir}/ (results.csv, results.json, layers.csv, chips.csv, manifest.json"
        f"{', figures/' if not args.no_plots else ''})"
    )
    return EXIT_INTERNAL if st["failed"] else 0


def cmd_plot(args: argparse.Namespace) -> int:
    folder = Path(args.results_dir)
    if not (folder / "results.json").is_file():
        raise InputError(
            "no results.json here; give a folder written by `hyperdrive-sim run`", file=str(folder)
        )
    from hyperdrive_sim.viz import PointSelector, plot_results

    point = PointSelector.parse(args.layer_point) if args.layer_point else None
    paths = plot_results(folder, Path(args.out) if args.out else None, layer_point=point)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hyperdrive_sim.spec.loader import bundled_dir
    from hyperdrive_sim.validation import validate

    root = bundled_dir("configs").parent
    out = Path(args.out)
    checks, _ = validate(root, out)
    for ch in checks:
        c = ch.claim
        print(
            f"{c.id:<32} published {c.published:>8.3g}  simulated {ch.simulated:>8.3g}  "
            f"{100 * ch.error:+6.1f}%  {c.kind}"
        )
    print(f"wrote {out}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from hyperdrive_sim.report.writers import write_json
    from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, ExperimentSpec, SystemSpec
    from hyperdrive_sim.workload.yaml_network import layer_json_schema

    schemas = {
        "experiment": ExperimentSpec.model_json_schema(),
        "chip": ChipSpec.model_json_schema(),
        "system": SystemSpec.model_json_schema(),
        "energy": EnergyTable.model_json_schema(),
        "network": layer_json_schema(),
    }
    out = _check_out_dir(args.out)
    for name, schema in schemas.items():
        write_json(out / f"{name}.schema.json", schema)
    print(f"wrote {', '.join(f'{n}.schema.json' for n in schemas)} to {out}/")
    return 0


def cmd_networks(args: argparse.Namespace) -> int:
    from hyperdrive_sim.workload.zoo import ZOO, get_network

    print(f"{'name':<16} {'layers':>6} {'GMAC@224':>9} {'Mweights':>9}  description")
    for name, build in ZOO.items():
        net = get_network(name)
        side = 416 if name == "yolov3" else 224
        shaped = net.at(side, side)
        doc = (build.__doc__ or "").strip().splitlines()[0]
        gmac = f"{shaped.macs / 1e9:.3f}" + ("*" if side != 224 else "")
        print(f"{name:<16} {len(net.layers):>6} {gmac:>9} {shaped.weights / 1e6:>9.2f}  {doc}")
    print("* yolov3 at 416x416")
    return 0


def cmd_network(args: argparse.Namespace) -> int:
    from hyperdrive_sim.simulate import resolve_network

    res = _parse_resolution(args.input)
    ref = args.name
    if args.allow_unsupported and ref.endswith(".onnx"):
        from hyperdrive_sim.spec.models import NetworkRef

        ref = NetworkRef(onnx=ref, allow_unsupported=True)
    net = resolve_network(ref).at(res.height, res.width)
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
    from pydantic import ValidationError

    from hyperdrive_sim.errors import SpecError
    from hyperdrive_sim.spec.models import Resolution

    try:
        return Resolution.model_validate(text)
    except ValidationError as exc:
        detail = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise SpecError(detail, key="--input") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperdrive-sim",
        description="Simulate tiled multi-chip Hyperdrive binary-weight CNN accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"hyperdrive_sim {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run an experiment YAML and write tables")
    run.add_argument("experiment", help="experiment YAML file")
    run.add_argument("--out", help="output folder (default: the spec's, else results/<name>/)")
    run.add_argument("--evaluator", choices=sorted(EVALUATORS), help="override the evaluator")
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
        help="write a Perfetto/Chrome trace of every simpy point to OUT/traces/",
    )
    run.add_argument("--no-plots", action="store_true", help="skip the figures")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--show", type=int, default=40, help="rows to print (default 40)")
    run.set_defaults(func=cmd_run)

    plot = sub.add_parser("plot", help="re-draw the figures of a results folder")
    plot.add_argument("results_dir", help="folder written by `hyperdrive-sim run`")
    plot.add_argument("--out", help="figure folder (default: RESULTS_DIR/figures)")
    plot.add_argument(
        "--layer-point",
        metavar="NETWORK,WxH,RxC",
        help="point of the layer breakdown, e.g. resnet34,224x224,2x2 (parts may be left "
        "empty; default: the first point that fits)",
    )
    plot.set_defaults(func=cmd_plot)

    schema = sub.add_parser("schema", help="write the JSON Schema of every YAML format")
    schema.add_argument("--out", default="schemas", help="folder (default: schemas/)")
    schema.set_defaults(func=cmd_schema)

    val = sub.add_parser("validate", help="reproduce the published claims: docs/validation.md")
    val.add_argument("--out", default="docs/validation.md", help="markdown file to write")
    val.set_defaults(func=cmd_validate)

    nets = sub.add_parser("networks", help="list the network zoo")
    nets.set_defaults(func=cmd_networks)

    net = sub.add_parser("network", help="print a network's layer table")
    net.add_argument("name", help="zoo name, YAML network file or ONNX model (.onnx)")
    net.add_argument(
        "--allow-unsupported",
        action="store_true",
        help="ONNX: treat unsupported operators as zero-cost (with a warning)",
    )
    net.add_argument("--input", default="224x224", help="WIDTHxHEIGHT (default 224x224)")
    net.add_argument("--json", action="store_true", help="print JSON instead of a table")
    net.set_defaults(func=cmd_network)

    from hyperdrive_sim.verify.cli import add_parser as add_verify_parser

    add_verify_parser(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    """Error messages go out on one line (pydantic and others may span several)."""
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
        print("hyperdrive-sim: interrupted", file=sys.stderr)
        return 130
    except (HyperdriveSimError, Exception) as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"hyperdrive-sim: internal error: {exc.__class__.__name__}: {_one_line(exc)} "
            "(please report this; rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
