"""``verify``: run a network with real numbers on the simulated mesh, compare with numpy.

fp32: the mesh and a monolithic reference each run the whole network from the same image
and weights; every layer's output must match exactly. fp16: each layer's reference is
computed from the mesh's own (assembled) inputs to that layer, so rounding differences do
not compound. Tiling never reorders the sum of an output pixel, so every layer computed
per pixel (or wholly on the root chip) must match bit for bit in FP16 too; a reduction
across the mesh (global pooling, dense over a tiled map) sums in another order and must
lie within the bound of ``numerics``. Channel partitioning keeps every output's sum on one
chip in the reference's order (each chip holds the whole map of the channels it reads), so
its layers, the global pooling of a channel map included, must match bit for bit too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hyperdrive_sim.errors import InputError, MappingError, SimulationError
from hyperdrive_sim.mapping.fit import require_tiled
from hyperdrive_sim.mapping.tiling import Tiling
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.simulate import resolve_network
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, Resolution, SystemSpec
from hyperdrive_sim.verify.banded import OVERLAPS, BandedRun, TooFar, run_bands
from hyperdrive_sim.verify.crosscheck import differences, model_bands
from hyperdrive_sim.verify.mesh import BREAKS, MeshRun
from hyperdrive_sim.verify.numerics import (
    PRECISIONS,
    Precision,
    abs_error,
    activate,
    fp16_bound,
    make_input,
    shift,
    terms_per_output,
)
from hyperdrive_sim.verify.reference import layer_op
from hyperdrive_sim.verify.weights import binarize, load_weights, random_weights
from hyperdrive_sim.workload.layers import INPUT, Add, Conv, Pool, Shape
from hyperdrive_sim.workload.network import Network, ShapedNetwork

PRESETS = {
    "chip": "chips/hyperdrive.yaml",
    "system": "systems/hyperdrive_mesh.yaml",
    "energy": "energy/hyperdrive_22fdx.yaml",
}
ROUTINGS = ("relay", "diagonal")
EXCHANGES = ("bulk", "streamed")
PARTITIONINGS = ("spatial", "channel", "hybrid")
FUSIONS = ("layer_by_layer", "depth_first")
#: faults of a depth-first run (tests): every band after the first loses its first overlap row
BAND_BREAKS = ("overlap",)


class VerifyGeometryError(MappingError):
    """The mesh cannot run the network at all: a map smaller than the mesh, or a halo that
    reaches beyond the immediate neighbours (it cannot be exchanged over the links)."""


@dataclass(frozen=True)
class LayerCheck:
    """One layer's comparison of the assembled mesh output with the reference."""

    index: int
    name: str
    kind: str
    placement: str
    out_shape: Shape
    #: halo pixels the layer's chips received from neighbours (0 when from off-chip)
    halo_pixels: int
    #: bits carried over chip-to-chip links (relay hops, reduction hops and the legs of a
    #: channel-partitioning move included, each hop counted)
    link_bits: int
    max_abs_err: float
    max_abs_ref: float
    #: fp16 reductions across chips only: the largest |err| / bound (<= 1 passes)
    bound_use: float | None
    ok: bool
    #: False for a tiled map smaller than the mesh, which the plan leaves out (chips without
    #: a share idle; the simulator reports such a point as not fitting)
    planned: bool = True


@dataclass(frozen=True)
class VerifyReport:
    network: str
    input_shape: Shape
    mesh: str
    precision: str
    corner_routing: str
    seed: int
    break_halo: str | None
    layers: tuple[LayerCheck, ...]
    #: e.g. why the plan does not fit (verification then covers the geometry only)
    notes: tuple[str, ...] = ()
    #: the network outputs as assembled from the chips (mesh values, raw)
    outputs: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    border_exchange: str = "bulk"
    partitioning: str = "spatial"
    #: fusion depth_first: the fused stack as the chips computed it, band by band
    depth_first: BandedRun | None = field(default=None, compare=False, repr=False)
    #: depth_first: how the run disagrees with the model's band geometry (empty: it agrees;
    #: None: the model has no band geometry to compare)
    model_check: tuple[str, ...] | None = None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.layers) and not self.model_check

    @property
    def mismatches(self) -> tuple[LayerCheck, ...]:
        return tuple(check for check in self.layers if not check.ok)

    @property
    def first_bad(self) -> LayerCheck | None:
        bad = self.mismatches
        return bad[0] if bad else None

    def table(self) -> str:
        """One line per layer: traffic, max |error|, max |reference| and the verdict."""
        fp16 = self.precision == "fp16"
        head = (
            f"{'#':>3} {'layer':<26} {'type':<13} {'output':<14} {'place':<7} {'halo px':>8} "
            f"{'link kbit':>9} {'max|err|':>10} {'max|ref|':>10}"
            + (f" {'err/bound':>9}" if fp16 else "")
            + "  status"
        )
        lines = [head]
        for c in self.layers:
            use = f"{'-':>9}" if c.bound_use is None else f"{c.bound_use:9.3g}"
            place = c.placement + ("" if c.planned else "*")
            lines.append(
                f"{c.index:>3} {c.name:<26.26} {c.kind:<13} {c.out_shape!s:<14} "
                f"{place:<7} {c.halo_pixels:>8} {c.link_bits / 1e3:>9.1f} "
                f"{c.max_abs_err:>10.4g} {c.max_abs_ref:>10.4g}{' ' + use if fp16 else ''}  "
                f"{'ok' if c.ok else 'MISMATCH'}"
            )
        if not all(c.planned for c in self.layers):
            lines.append(
                "* map smaller than the mesh: not in the simulator's plan; chips without a "
                "share of it idle"
            )
        return "\n".join(lines)

    def _fusion(self) -> str:
        df = self.depth_first
        return (
            f"depth first: {len(df.layers)} fused layers in {df.band_count} bands of "
            f"{df.band_rows} rows, overlap {df.overlap}, max |err| {df.max_abs_err:.4g}; "
        )

    def summary(self) -> str:
        what = (
            f"{self.network} at {self.input_shape.width}x{self.input_shape.height} on a "
            f"{self.mesh} mesh ({self.precision}, corner routing {self.corner_routing}, "
            + ("streamed borders, " if self.border_exchange == "streamed" else "")
            + f"{self.partitioning} partitioning, "
            + (self._fusion() if self.depth_first else "")
            + f"seed {self.seed}"
            + (f", break_halo={self.break_halo}" if self.break_halo else "")
            + ")"
        )
        rule = "exactly" if self.precision == "fp32" else "within the FP16 bound"
        if self.model_check:
            return (
                f"MISMATCH: {what}: the band-by-band run disagrees with the model's band "
                f"geometry in {len(self.model_check)} places; first: {self.model_check[0]}"
            )
        if self.ok:
            return f"OK: all {len(self.layers)} layers of {what} match the reference {rule}"
        bad = self.first_bad
        return (
            f"MISMATCH: {len(self.mismatches)} of {len(self.layers)} layers of {what} differ "
            f"from the reference; first: layer {bad.name!r} (max |err| {bad.max_abs_err:.4g})"
        )


def _spec(value, model, kind: str):
    if value is None:
        value = loader.bundled_dir("configs") / PRESETS[kind]
    if isinstance(value, model):
        return value
    if isinstance(value, (str, Path)):
        return loader.validate(model, loader.load(value))
    return model.model_validate(value)


def _hardware(
    chip,
    system,
    energy,
    hardware,
    mesh,
    corner_routing,
    border_exchange,
    partitioning=None,
    fusion: Mapping[str, object] | None = None,
) -> Hardware:
    if hardware is None:
        system = _spec(system, SystemSpec, "system")
        chip, energy = _spec(chip, ChipSpec, "chip"), _spec(energy, EnergyTable, "energy")
        hardware = Hardware(chip, system, energy, system.mesh)
    if mesh is not None:
        mesh = mesh if isinstance(mesh, Mesh) else Mesh.model_validate(mesh)
        hardware = replace(hardware, mesh=mesh)
    fusion = fusion or {}
    overrides = (
        ("corner_routing", "corner routing", corner_routing, ROUTINGS),
        ("border_exchange", "border exchange", border_exchange, EXCHANGES),
        ("partitioning", "partitioning", partitioning, PARTITIONINGS),
        ("fusion", "fusion", fusion.get("fusion"), FUSIONS),
        ("band_overlap", "band overlap", fusion.get("band_overlap"), OVERLAPS),
    )
    for key, what, value, allowed in overrides:
        if value is None:
            continue
        if value not in allowed:
            raise InputError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
        hardware = replace(hardware, system=hardware.system.model_copy(update={key: value}))
    for key in ("fused_layers", "band_rows"):
        value = fusion.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{key} must be an integer of 0 or more, got {value!r}")
        hardware = replace(hardware, system=hardware.system.model_copy(update={key: value}))
    return hardware


def fused_stack(net: ShapedNetwork, system: SystemSpec) -> list:
    """The LayerInfos of the depth-first stack ``verify`` computes band by band.

    verify checks a stack named explicitly: ``fused_layers`` and ``band_rows`` of 0 (the
    planner's choice) are refused. The stack holds convolutions, poolings and adds
    reading earlier fused layers (the first layer alone reads the image), and only its last
    map may be read after it (the others never exist whole).
    """
    where = "system.fused_layers"
    if system.partitioning != "spatial":
        raise InputError(
            f"fusion: depth_first runs with partitioning: spatial, got {system.partitioning!r}",
            key="system.partitioning",
        )
    for key in ("fused_layers", "band_rows"):
        if getattr(system, key) < 1:
            raise InputError(
                f"verify computes the fused stack it is given: expected {key} of 1 or more "
                f"(--{key.replace('_', '-')}, or {key} in the system YAML); 0 leaves the "
                "choice to the planner, which verify does not take over",
                key=f"system.{key}",
            )
    count = system.fused_layers
    if count > len(net.infos):
        raise InputError(
            f"fused_layers {count} exceeds the network's {len(net.infos)} layers", key=where
        )
    infos = list(net.infos[:count])
    inside = {INPUT}
    for j, info in enumerate(infos):
        layer = info.layer
        kind_ok = isinstance(layer, Conv | Pool) if layer.arity == 1 else isinstance(layer, Add)
        if j == 0:
            reads_ok = layer.inputs == (INPUT,)
        else:
            reads_ok = INPUT not in layer.inputs and set(layer.inputs) <= inside
        if not (kind_ok and reads_ok):
            raise VerifyGeometryError(
                f"layer {layer.name!r} (#{j}, a {layer.kind}) cannot join the fused stack: "
                "verify runs convolutions, poolings and adds whose inputs are earlier fused "
                "layers (the first layer alone reads the image)"
            )
        inside.add(layer.name)
    inner = {info.layer.name for info in infos[:-1]}
    for info in net.infos[count:]:
        if read := inner.intersection(info.layer.inputs):
            raise VerifyGeometryError(
                f"layer {info.layer.name!r} reads the map of fused layer {sorted(read)[0]!r}, "
                "which never exists whole (only the stack's last map does); fuse fewer layers"
            )
    if inner.intersection(net.outputs):
        raise VerifyGeometryError(
            "a fused layer before the stack's last is a network output; fuse fewer layers"
        )
    return infos


def _check_input(net, mesh: Mesh) -> None:
    shape = net.input_shape
    if not Tiling.of(shape, mesh).covers_mesh:
        raise VerifyGeometryError(
            f"the input of {shape.height} rows x {shape.width} columns cannot be tiled over a "
            f"{mesh} mesh (rows x cols): some chips would get no pixels"
        )


def verify(
    network: Network | str,
    resolution: Resolution | str | tuple[int, int],
    chip: ChipSpec | str | Path | dict | None = None,
    system: SystemSpec | str | Path | dict | None = None,
    energy: EnergyTable | str | Path | dict | None = None,
    *,
    hardware: Hardware | None = None,
    mesh: Mesh | str | None = None,
    seed: int = 0,
    precision: Precision = "fp32",
    weights: Mapping[str, np.ndarray] | str | Path | None = None,
    corner_routing: str | None = None,
    break_halo: str | None = None,
    border_exchange: str | None = None,
    partitioning: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    fusion: str | None = None,
    fused_layers: int | None = None,
    band_rows: int | None = None,
    band_overlap: str | None = None,
) -> VerifyReport:
    """Compute ``network`` numerically on the mesh and compare every layer with numpy.

    Specs default to the bundled presets (or give a ready ``hardware``); ``mesh``,
    ``corner_routing``, ``border_exchange``, ``partitioning`` and the depth-first keys
    ``fusion``, ``fused_layers``, ``band_rows``, ``band_overlap`` override the system's.
    With ``fusion="depth_first"`` the first ``fused_layers`` layers are computed band by band
    (``verify.banded``) and the report's ``depth_first`` holds every band's counts.
    ``weights``: None for seeded +-1 weights, a mapping of arrays per layer name, or an
    .npz/.npy path (signs are taken). ``break_halo`` (one of ``BREAKS``: "corners", "edges",
    "relay", "parts" for the halo exchange, "gather-drop", "gather-offset" for the moves of
    channel partitioning; "overlap" for a depth-first band losing its first overlap row)
    deliberately corrupts the exchange (tests). ``progress(done,
    total, layer)`` is called after each layer (the command line's progress bar).
    Raises VerifyGeometryError when the mesh cannot run the network at all.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    breaks = BREAKS + BAND_BREAKS
    if break_halo is not None and break_halo not in breaks:
        raise InputError(f"break_halo must be one of {', '.join(breaks)}, got {break_halo!r}")
    keys = dict(
        fusion=fusion, fused_layers=fused_layers, band_rows=band_rows, band_overlap=band_overlap
    )
    hw = _hardware(
        chip, system, energy, hardware, mesh, corner_routing, border_exchange, partitioning, keys
    )
    require_tiled(hw.system, "verify")
    res = Resolution.model_validate(resolution)
    net = resolve_network(network).at(res.height, res.width)
    stack = fused_stack(net, hw.system) if hw.system.fusion == "depth_first" else []
    if break_halo in BAND_BREAKS and not stack:
        raise InputError(f"break_halo {break_halo!r} applies to fusion: depth_first")
    # the layers after the stack run layer by layer: their geometry is the tiled plan's
    plain = hw.system.model_copy(update={"fusion": "layer_by_layer"})
    plan = build_plan(net, replace(hw, system=plain))
    _check_input(net, hw.mesh)
    if weights is None:
        w = random_weights(net, seed)
    elif isinstance(weights, (str, Path)):
        w = load_weights(weights, net)
    else:
        w = binarize(weights, net)
    image = make_input(
        (net.input_shape.channels, net.input_shape.height, net.input_shape.width), seed, precision
    )
    mesh_break = break_halo if break_halo in BREAKS else None
    run = MeshRun(plan, w, image, precision, hw.system.corner_routing, mesh_break)
    fused = {info.layer.name for info in stack}
    if problems := run.too_far(skip=fused):
        more = f" (and {len(problems) - 1} more layers)" if len(problems) > 1 else ""
        raise VerifyGeometryError(problems[0] + more)
    if run.unsupported:
        raise VerifyGeometryError(run.unsupported[0])

    ref_act = {INPUT: image}
    checks, outputs = [], {}
    banded = model_check = None
    if stack:
        banded, stack_refs = _run_stack(stack, hw, w, image, precision, break_halo)
        if (model := model_bands(net, hw)) is not None:
            bands, image = model
            found = differences(banded, bands, hw.chip.border_buffer_bits == 0, image)
            model_check = tuple(found)
        run.act[stack[-1].layer.name] = banded.output
        for info, raw in zip(stack, stack_refs, strict=True):
            ref_act[info.layer.name] = activate(raw, shift(info), precision)
    if progress:
        progress(0, len(run.steps), "starting")
    for done, lp in enumerate(run.steps, 1):
        info, layer = lp.info, lp.info.layer
        if layer.name in fused:
            checks.append(_fused_check(lp, banded, stack_refs))
            if layer.name in net.outputs:
                outputs[layer.name] = banded.raw_output
            if progress:
                progress(done, len(run.steps), layer.name)
            continue
        raw, traffic = run.step(lp)
        got = raw.assemble()
        if layer.name in net.outputs:
            outputs[layer.name] = got
        weight = w.get(layer.name)
        if precision == "fp32":
            ins = [ref_act[name] for name in layer.inputs]
        else:  # each layer from the mesh's own inputs: rounding does not compound
            ins = [run.act[name].assemble() for name in layer.inputs]
        size = (info.out_shape.height, info.out_shape.width)
        want = layer_op(layer, ins, weight, size)
        if got.shape != want.shape:
            raise SimulationError(f"layer {layer.name!r}: mesh {got.shape} vs {want.shape}")
        if precision == "fp32":
            ref_act[layer.name] = activate(want, shift(info), precision)
        err = abs_error(got, want)
        finite = bool(np.isfinite(want).all())
        bound_use = None
        n, _ = terms_per_output(info)
        if precision == "fp16" and n and lp.reduce:
            absw = None if weight is None else np.abs(weight)
            terms = layer_op(layer, [np.abs(x.astype(np.float64)) for x in ins], absw, size)
            ratio = err / fp16_bound(n, terms)
            bound_use = float(ratio.max()) if ratio.size else 0.0
            ok = finite and bound_use <= 1.0
        else:
            ok = finite and not err.any()
        checks.append(
            LayerCheck(
                info.index,
                layer.name,
                layer.kind,
                lp.placement,
                info.out_shape,
                traffic.halo_pixels,
                traffic.link_bits,
                float(err.max()) if err.size else 0.0,
                float(np.abs(want.astype(np.float64)).max()) if want.size else 0.0,
                bound_use,
                ok,
                lp.planned,
            )
        )
        if progress:
            progress(done, len(run.steps), layer.name)
    return VerifyReport(
        net.name,
        net.input_shape,
        str(hw.mesh),
        precision,
        hw.system.corner_routing,
        seed,
        break_halo,
        tuple(checks),
        _notes(plan, hw) + _model_notes(model_check),
        outputs,
        hw.system.border_exchange,
        hw.system.partitioning,
        banded,
        model_check,
    )


def _run_stack(stack, hw: Hardware, w, image, precision, break_halo):
    """The fused stack band by band; returns the run and each layer's raw reference (the
    monolithic chain from the image: per pixel the same sums, so exact in fp16 too)."""
    refs, acts = [], {INPUT: image}
    for info in stack:
        layer = info.layer
        raw = layer_op(layer, [acts[name] for name in layer.inputs], w.get(layer.name))
        refs.append(raw)
        acts[layer.name] = activate(raw, shift(info), precision)
    try:
        banded = run_bands(
            stack, hw.mesh, w, image, refs, precision=precision,
            act_bits=hw.chip.activation_bits, routing=hw.system.corner_routing,
            band_rows=hw.system.band_rows, overlap=hw.system.band_overlap,
            break_halo=break_halo if break_halo in ("edges", *BAND_BREAKS) else None,
        )  # fmt: skip
    except TooFar as exc:
        raise VerifyGeometryError(str(exc)) from None
    return banded, refs


def _fused_check(lp, banded: BandedRun, refs) -> LayerCheck:
    """A fused layer's check: every value any band computed (overlap and rows of the chip
    rows above and below included) against the reference, no window row missing, and the
    stack's output complete."""
    info = lp.info
    j = banded.layers.index(info.layer.name)
    result = banded.results[j]
    err = result.max_abs_err
    if j == len(banded.layers) - 1:
        whole = abs_error(banded.raw_output, refs[j])
        err = max(err, float(whole.max()) if whole.size else 0.0)
    ok = result.finite and err == 0 and result.missing == 0
    return LayerCheck(
        info.index, info.layer.name, info.layer.kind, "band", info.out_shape,
        result.halo_pixels, result.link_bits, err, result.max_abs_ref, None, ok, True,
    )  # fmt: skip


def _model_notes(found: tuple[str, ...] | None) -> tuple[str, ...]:
    if found is None:
        return ()
    if not found:
        return (
            "the model's band geometry agrees: rows computed, new and recomputed, halo pixels "
            "per direction, FMM bits besides the image tile and held halo bits of every band "
            "on every chip",
        )
    return tuple(f"model disagrees: {text}" for text in found[:3])


def _notes(plan, hw: Hardware) -> tuple[str, ...]:
    notes = []
    if hw.system.partitioning != "spatial":
        first = next((lp for lp in plan.layers if lp.placement == "channel"), None)
        notes.append(
            f"{hw.system.partitioning} partitioning: "
            + (
                f"channel partitioned from layer {first.name!r} (#{first.index}) on"
                if first is not None
                else "no layer is channel partitioned (the planner keeps every layer tiled)"
            )
        )
    if not plan.fits:
        notes.append(f"the plan does not fit ({plan.reason}); verified the geometry only")
    mode = getattr(hw.chip, "activation_mode", "fp16")
    if mode != "fp16":
        notes.append(
            f"the chip's activation_mode is {mode!r}; values are verified in fp32/fp16 "
            "arithmetic over the same exchange geometry"
        )
    return tuple(notes)
