"""``hyperdrive-sim verify``: the mesh computes real numbers; compare with numpy.

Exit codes: 0 every layer matches, 3 a numerical mismatch, 2 bad input (including a mesh
that cannot run the network: a halo beyond the neighbours), 1 internal fault.
"""

from __future__ import annotations

import argparse

EXIT_MISMATCH = 3


def add_parser(sub) -> argparse.ArgumentParser:
    """Register the ``verify`` subcommand on an argparse subparsers object."""
    p = sub.add_parser(
        "verify",
        help="prove the border exchange numerically: mesh vs monolithic reference",
        description=(
            "Run the network with real numbers (binary weights, seeded input) on the "
            "simulated mesh, each chip holding only its tiles and exchanging halos over the "
            "links (or, partitioned by channel, holding its output channels and receiving its "
            "inputs leg by leg as the plan moves them), and compare every layer with a "
            "monolithic numpy reference. "
            "Exit 0 when all layers match, 3 on a mismatch, 2 on bad input."
        ),
    )
    p.add_argument("--network", required=True, help="zoo name or YAML network file")
    p.add_argument("--input", default="224x224", help="WIDTHxHEIGHT (default 224x224)")
    p.add_argument("--mesh", help="ROWSxCOLS (default: the system's)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and input (default 0)")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    p.add_argument("--corner-routing", choices=("relay", "diagonal"), help="override the system's")
    p.add_argument("--border-exchange", choices=("bulk", "streamed"), help="override the system's")
    p.add_argument(
        "--partitioning",
        choices=("spatial", "channel", "hybrid"),
        help="override the system's: tiles, output channels per chip, or tiles then channels",
    )
    p.add_argument(
        "--fusion",
        choices=("layer_by_layer", "depth_first"),
        help="override the system's: depth_first computes the first --fused-layers band by band",
    )
    p.add_argument(
        "--fused-layers", type=int, metavar="N", help="depth_first: layers in the fused stack"
    )
    p.add_argument(
        "--band-rows",
        type=int,
        metavar="R",
        help="depth_first: at most R rows of the stack's last map per band on a chip",
    )
    p.add_argument(
        "--band-overlap",
        choices=("cache", "recompute"),
        help="depth_first: rows shared by consecutive bands kept in the FMM or recomputed",
    )
    p.add_argument("--weights", help=".npz with one array per layer (or .npy); signs taken")
    p.add_argument("--chip", help="chip YAML (default: the bundled hyperdrive preset)")
    p.add_argument("--system", help="system YAML (default: the bundled hyperdrive_mesh)")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (shown on stderr on a terminal: one step per layer, with ETA)",
    )
    p.add_argument(
        "--break-halo",
        choices=("corners", "edges", "relay", "parts", "gather-drop", "gather-offset", "overlap"),
        help=argparse.SUPPRESS,
    )
    p.set_defaults(func=cmd_verify)
    return p


def _parse(model, text: str, key: str):
    from pydantic import ValidationError

    from hyperdrive_sim.errors import SpecError

    try:
        return model.model_validate(text)
    except ValidationError as exc:
        detail = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise SpecError(detail, key=key) from None


def check_arguments(seed: int, mesh, fused_layers=None, band_rows=None) -> None:
    """Seed, mesh and band options within what ``verify`` accepts (InputError naming the
    option)."""
    from hyperdrive_sim.errors import InputError
    from hyperdrive_sim.limits import MAX_VERIFY_MESH_SIDE

    if seed < 0:
        raise InputError(f"expected a seed of 0 or more, got {seed}", key="--seed")
    for key, value in (("--fused-layers", fused_layers), ("--band-rows", band_rows)):
        if value is not None and value < 1:
            raise InputError(f"expected 1 or more, got {value}", key=key)
    if mesh is not None and max(mesh.rows, mesh.cols) > MAX_VERIFY_MESH_SIDE:
        raise InputError(
            f"mesh {mesh.rows}x{mesh.cols} is too large for the numerical check: at most "
            f"{MAX_VERIFY_MESH_SIDE} chips per side (it computes real feature maps); "
            "`hyperdrive-sim run` simulates larger meshes",
            key="--mesh",
        )


def cmd_verify(args: argparse.Namespace) -> int:
    """Run the verification, print the per-layer table and the verdict."""
    from hyperdrive_sim.experiment import _progress
    from hyperdrive_sim.spec.models import Mesh, Resolution
    from hyperdrive_sim.verify.run import verify

    res = _parse(Resolution, args.input, "--input")
    mesh = _parse(Mesh, args.mesh, "--mesh") if args.mesh else None
    check_arguments(args.seed, mesh, args.fused_layers, args.band_rows)
    report = verify(
        args.network,
        res,
        chip=args.chip,
        system=args.system,
        mesh=mesh,
        seed=args.seed,
        precision=args.precision,
        weights=args.weights,
        corner_routing=args.corner_routing,
        border_exchange=args.border_exchange,
        partitioning=args.partitioning,
        break_halo=args.break_halo,
        progress=_progress(False if args.no_progress else None),
        fusion=args.fusion,
        fused_layers=args.fused_layers,
        band_rows=args.band_rows,
        band_overlap=args.band_overlap,
    )
    print(report.table())
    if report.depth_first is not None:
        print(report.depth_first.table())
    for note in report.notes:
        print(f"note: {note}")
    print(report.summary())
    return 0 if report.ok else EXIT_MISMATCH
