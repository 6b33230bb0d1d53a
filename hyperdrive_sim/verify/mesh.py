"""The distributed computation: every chip holds only its own tile of every map.

Per layer (in the plan's order) each chip
- tiled, one input (conv, pool, upsample, slice, shuffle): assembles the input window its
  output share needs from its own tile plus the halo pieces it received. Each piece is cut
  by the *sending* chip from its own tile and carried along ``halo_transfers(...).links``;
  a relayed corner is forwarded by the intermediate chip from what it received. Layers that
  read the image get their window with the image over the off-chip interface, as the plan
  charges it (``LayerPlan.halo_offchip``). Padding is applied locally, only where the
  window crosses the map's edge.
- tiled, several inputs (add, concat): works on its own tiles.
- root after a tiled map (global pooling, dense): reduces its own tile to a partial vector;
  partials are summed (or maxed) hop by hop towards chip (0, 0) along ``reduction_target``.
- root after root: chip (0, 0) computes the whole layer.
- channel (``system.partitioning: channel | hybrid``): a chip holds the channels it owns
  over the whole map (``Stored.owner``, derived by the plan's rules and cross-checked with
  its ``block_owner``). The move before the layer (``LayerPlan.gather``) is carried out leg
  by leg over the links: each leg's payload is cut by its source chip (its channels, or
  its tile at the switch), relays forward what they received, and every delivery must
  carry what ``gather.bits[s, d]`` says. The receiver assembles the whole input (a
  non-depthwise conv, or a dense on the root) or its own channels (depthwise conv, pool,
  upsample at the switch) and computes its output channels with the reference kernels.

Pieces, pixel counts and links all come from the mapping (``build_plan``, ``halo_transfers``)
and are cross-checked against each other, so a geometry bug surfaces as a SimulationError.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.mapping.costs import LAYOUT_KINDS, conv_blocks
from hyperdrive_sim.mapping.partition import Gather, block_owners, channel_owners
from hyperdrive_sim.mapping.plan import ROOT, LayerPlan, Plan, reduction_target
from hyperdrive_sim.mapping.routes import halo_transfers
from hyperdrive_sim.mapping.tiling import DIRECTIONS, Tiling
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify import reference as ref
from hyperdrive_sim.verify.numerics import Precision, activate, shift
from hyperdrive_sim.workload.layers import (
    INPUT,
    AdaptivePool,
    Conv,
    Dense,
    GlobalPool,
    Layer,
    Pool,
    Upsample,
)
from hyperdrive_sim.workload.network import LayerInfo

#: deliberate faults (tests): halo pieces not sent (corners, edges), relays forwarding
#: nothing, streamed parts out of order; a gather's last leg losing its final delivery
#: (gather-drop), one sender's share placed one channel off (gather-offset)
BREAKS: tuple[str, ...] = ("corners", "edges", "relay", "parts", "gather-drop", "gather-offset")


@dataclass(frozen=True)
class Span:
    """One chip row (or column) of a layer along one axis, in global map coordinates."""

    out_lo: int
    out_hi: int
    #: input rows [lo, hi) the output share needs (clipped to the map)
    lo: int
    hi: int
    #: padding rows the window needs beyond the map's edge
    pad_lo: int
    pad_hi: int
    #: the window split into the part before the chip's own rows, its own, and after
    pieces: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    too_far: bool


def _cut(lo: int, hi: int) -> tuple[int, int]:
    return lo, max(lo, hi)


def axis_spans(layer: Layer, axis: int, out_bounds, in_bounds, in_size: int) -> list[Span]:
    """Spans of every chip position along ``axis`` (0 = rows, 1 = columns)."""
    window = layer.input_rows if axis == 0 else layer.input_cols
    out_size = int(out_bounds[-1])
    n = len(out_bounds) - 1
    spans = []
    for i in range(n):
        olo, ohi = int(out_bounds[i]), int(out_bounds[i + 1])
        if olo == ohi:  # no output share (a map smaller than the mesh): the chip idles
            x = (int(in_bounds[i]),) * 2
            spans.append(Span(olo, ohi, x[0], x[0], 0, 0, (x, x, x), False))
            continue
        lo, hi = (int(v) for v in window(olo, ohi, in_size, out_size))
        pad_lo = pad_hi = 0
        if isinstance(layer, Conv | Pool):
            k, s, d = layer.kernel[axis], layer.stride[axis], layer.dilation[axis]
            start = olo * s - layer.padding[axis]
            stop = (ohi - 1) * s - layer.padding[axis] + (k - 1) * d + 1
            if min(stop, in_size) <= max(start, 0):  # the window is all padding
                lo = hi = min(max(start, 0), in_size)
                pad_lo, pad_hi = stop - start, 0
            else:
                pad_lo, pad_hi = lo - start, stop - hi
        own_lo, own_hi = int(in_bounds[i]), int(in_bounds[i + 1])
        pieces = (
            _cut(lo, min(hi, own_lo)),
            _cut(max(lo, own_lo), min(hi, own_hi)),
            _cut(max(lo, own_hi), hi),
        )
        before, after = pieces[0], pieces[2]
        too_far = (before[1] > before[0] and (i == 0 or before[0] < in_bounds[i - 1])) or (
            after[1] > after[0] and (i == n - 1 or after[1] > in_bounds[i + 2])
        )
        spans.append(Span(olo, ohi, lo, hi, pad_lo, pad_hi, pieces, bool(too_far)))
    return spans


@dataclass(frozen=True)
class Geometry:
    """Window spans of a tiled single-input layer: ``rows[r]`` and ``cols[c]``."""

    rows: list[Span]
    cols: list[Span]

    def pieces(self, chip: int, cols: int) -> np.ndarray:
        """Halo pixel count per direction (the DIRECTIONS order) for one chip."""
        r, c = divmod(chip, cols)
        out = []
        for dr, dc in DIRECTIONS:
            (r0, r1), (c0, c1) = self.rows[r].pieces[dr + 1], self.cols[c].pieces[dc + 1]
            out.append((r1 - r0) * (c1 - c0))
        return np.array(out, dtype=np.int64)

    def too_far(self) -> list[tuple[int, int]]:
        """(row, col) of every chip whose halo reaches beyond its neighbours."""
        return [
            (r, c)
            for r, rs in enumerate(self.rows)
            for c, cs in enumerate(self.cols)
            if rs.too_far or cs.too_far
        ]


def geometry(info: LayerInfo, placement: str, mesh: Mesh) -> Geometry | None:
    """Window geometry of a tiled single-input layer, else None."""
    layer = info.layer
    if placement != "tiled" or layer.arity != 1:
        return None
    out, inp = Tiling.of(info.out_shape, mesh), Tiling.of(info.in_shapes[0], mesh)
    rows = axis_spans(layer, 0, out.row_bounds, inp.row_bounds, inp.shape.height)
    cols = axis_spans(layer, 1, out.col_bounds, inp.col_bounds, inp.shape.width)
    return Geometry(rows, cols)


@dataclass(frozen=True, eq=False)
class Step:
    """One layer as the mesh executes it: the plan's LayerPlan, or (for a tiled map smaller
    than the mesh, which the plan leaves out) the same geometry with idle chips."""

    info: LayerInfo
    placement: str
    halo_bits: np.ndarray
    halo_offchip: bool
    geometry: Geometry | None
    planned: bool
    #: True for a root layer over a tiled map: partials are reduced across the mesh
    reduce: bool = False
    #: border_exchange streamed: the producer's channels per phase, each part sent alone
    parts: tuple[int, ...] | None = None
    #: channel partitioning: the plan's move before the layer and its block owners
    gather: Gather | None = None
    block_owner: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.info.layer.name


def steps(plan: Plan) -> list[Step]:
    """Every layer of the network in order, from the plan where it has the layer."""
    mesh, act = plan.hw.mesh, plan.hw.chip.activation_bits
    planned: dict[str, LayerPlan] = {lp.name: lp for lp in plan.layers}
    streamed = plan.hw.system.border_exchange == "streamed"
    placement = {INPUT: "tiled"}
    out = []
    for info in plan.network.infos:
        lp = planned.get(info.layer.name)
        if lp is not None:
            broadcast = lp.placement == "tiled" and lp.gather is not None
            geo = None if broadcast else geometry(info, lp.placement, mesh)
            reduce = lp.placement == "root" and placement[info.layer.inputs[0]] == "tiled"
            placement[info.layer.name] = lp.placement
            producer = planned.get(info.layer.inputs[0])
            parts = None
            if streamed and producer is not None and producer.phase_channels is not None:
                parts = tuple(producer.phase_channels.tolist())
            out.append(
                Step(
                    info, lp.placement, lp.halo_bits, lp.halo_offchip, geo, True, reduce, parts,
                    lp.gather, lp.block_owner,
                )
            )  # fmt: skip
            continue
        placement[info.layer.name] = "tiled"
        # the plan skips only tiled layers whose output map has fewer rows/cols than the mesh
        geo = geometry(info, "tiled", mesh)
        bits = np.zeros((mesh.chips, len(DIRECTIONS)), dtype=np.int64)
        if geo is not None:
            pixels = np.stack([geo.pieces(chip, mesh.cols) for chip in range(mesh.chips)])
            bits = pixels * info.in_shapes[0].channels * act
        offchip = info.layer.inputs == (INPUT,)
        out.append(Step(info, "tiled", bits, offchip, geo, False))
    return out


@dataclass
class Stored:
    """A tensor as the chips hold it: one tile per chip, the whole map on the root, or
    (placement "channel") per chip its own channels of the whole map, in channel order."""

    placement: str
    tiles: list[np.ndarray | None]
    tiling: Tiling | None = None
    #: placement "channel": the chip holding each channel
    owner: np.ndarray | None = None

    def assemble(self) -> np.ndarray:
        """The whole map, stitched from the tiles (for comparison only)."""
        if self.owner is not None:
            shape = next(t.shape for t in self.tiles)[1:]
            full = np.zeros((len(self.owner), *shape), dtype=self.tiles[0].dtype)
            for chip, tile in enumerate(self.tiles):
                full[np.flatnonzero(self.owner == chip)] = tile
            return full
        if self.tiling is None:
            return self.tiles[ROOT]
        cols = len(self.tiling.col_sizes)
        rows = [
            np.concatenate(self.tiles[r * cols : (r + 1) * cols], axis=2)
            for r in range(len(self.tiling.row_sizes))
        ]
        return np.concatenate(rows, axis=1)


@dataclass
class Traffic:
    """What one layer moved between chips."""

    halo_pixels: int = 0
    link_bits: int = 0


class MeshRun:
    """Executes a plan layer by layer on per-chip memories (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        weights: dict[str, np.ndarray],
        image: np.ndarray,
        precision: Precision,
        corner_routing: str,
        break_halo: str | None = None,
    ):
        if break_halo is not None and break_halo not in BREAKS:
            raise ValueError(f"break_halo must be one of {BREAKS} or None, got {break_halo!r}")
        self.plan, self.weights, self.image = plan, weights, image
        self.precision, self.routing, self.break_halo = precision, corner_routing, break_halo
        self.mesh = plan.hw.mesh
        self.act_bits = plan.hw.chip.activation_bits
        self.steps = steps(plan)
        tiling = Tiling.of(plan.network.input_shape, self.mesh)
        self.act: dict[str, Stored] = {INPUT: self._split(image, tiling)}
        #: channel-partitioned tensors: the chip holding each channel
        self.owners: dict[str, np.ndarray] = {}
        #: layers channel partitioning cannot run (the plan reports them as problems too)
        self.unsupported: list[str] = []
        self._derive_owners()

    def _derive_owners(self) -> None:
        """Owners of every channel-partitioned tensor by the rules of mapping/partition.py,
        cross-checked with the plan's ``block_owner``.

        A non-depthwise conv deals its weight blocks in turn (block p to chip p mod chips);
        a depthwise conv, pool, upsample, add and global pool keep their input's owners; at
        the switch (input still tiled) a depthwise conv, pool or upsample deals blocks of C
        channels in turn.
        """
        chips, fmpus = self.mesh.chips, self.plan.hw.chip.fmpus_per_tile

        def dealt(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            by_block = block_owners(len(blocks), chips)
            return channel_owners(blocks, by_block), by_block

        for st in self.steps:
            if st.placement != "channel":
                continue
            info, layer = st.info, st.info.layer
            ins = [self.owners.get(name) for name in layer.inputs]
            out_c, kind = info.out_shape.channels, layer.kind
            expect = None  # the block owners the plan must give a conv
            if kind in LAYOUT_KINDS or (
                kind == "add" and not all(a is not None and np.array_equal(a, ins[0]) for a in ins)
            ):
                self.unsupported.append(
                    f"layer {layer.name!r}: a {kind} of channel-partitioned maps cannot run "
                    "channel partitioned (use partitioning: spatial, or hybrid)"
                )
                owner = np.zeros(out_c, dtype=np.int64)
            elif kind == "scale":  # the gate reaches every chip; the map's channels stay
                if ins[1] is None:
                    raise SimulationError(f"layer {layer.name!r}: channel scale of a tiled map")
                owner = ins[1]
            elif kind in ("add", "global_pool"):
                if ins[0] is None:
                    raise SimulationError(f"layer {layer.name!r}: channel {kind} of a tiled map")
                owner = ins[0]
            elif _depthwise(info) or kind in ("pool", "adaptive_pool", "upsample"):
                owner = ins[0] if ins[0] is not None else dealt(conv_blocks(out_c, 1, fmpus))[0]
                expect = owner if kind == "conv" else None  # one channel per block
            elif kind == "conv":
                owner, expect = dealt(conv_blocks(out_c, layer.groups, fmpus))
            else:
                raise SimulationError(f"layer {layer.name!r}: no channel rule for a {kind}")
            got = st.block_owner
            if (expect is None) != (got is None) or (
                expect is not None and not np.array_equal(expect, got)
            ):
                raise SimulationError(
                    f"layer {layer.name!r}: the plan's block owners {got} disagree with the "
                    f"dealing rule {expect}"
                )
            self.owners[layer.name] = owner

    def _split(self, full: np.ndarray, tiling: Tiling) -> Stored:
        rb, cb = tiling.row_bounds, tiling.col_bounds
        tiles = [
            np.ascontiguousarray(full[:, rb[r] : rb[r + 1], cb[c] : cb[c + 1]])
            for r in range(len(rb) - 1)
            for c in range(len(cb) - 1)
        ]
        return Stored("tiled", tiles, tiling)

    def too_far(self, skip=()) -> list[str]:
        """Layers (other than those reading the image, and those named in ``skip``) whose
        halo is beyond the neighbours."""
        out = []
        for st in self.steps:
            g = st.geometry
            if st.name in skip:
                continue
            if g is not None and not st.halo_offchip and (bad := g.too_far()):
                r, c = bad[0]
                out.append(
                    f"layer {st.name!r}: chip ({r},{c}) needs halo pixels from beyond its "
                    f"neighbours, which cannot be exchanged over the {self.mesh} mesh links"
                )
        return out

    # -- one layer --------------------------------------------------------------------------

    def step(self, lp: Step) -> tuple[Stored, Traffic]:
        """Compute one layer on every chip; returns its raw output and the traffic."""
        info, layer = lp.info, lp.info.layer
        weight = self.weights.get(layer.name)
        traffic = Traffic()
        if lp.placement == "channel":
            owner = self.owners[layer.name]
            raw = Stored("channel", self._channel(lp, owner, weight, traffic), None, owner)
        elif lp.placement == "tiled":
            tiling = Tiling.of(info.out_shape, self.mesh)
            if lp.gather is not None:  # a root tensor broadcast onto the tiled map
                tiles = self._broadcast(lp, traffic)
            elif layer.arity == 1:
                tiles = self._windowed(lp, weight, traffic)
            else:
                srcs = [self.act[name].tiles for name in layer.inputs]
                tiles = [
                    ref.layer_op(layer, [s[chip] for s in srcs], weight)
                    for chip in range(self.mesh.chips)
                ]
            raw = Stored("tiled", tiles, tiling)
        else:
            src = self.act[layer.inputs[0]]
            tiles = [None] * self.mesh.chips
            if lp.reduce:
                tiles[ROOT] = self._reduce(lp, src, weight, traffic)
            elif lp.gather is not None:  # a dense after a channel map: slices to the root
                inbox = self._move(lp, [(s, ROOT) for s in range(self.mesh.chips)], src, traffic)
                whole = self._whole(ROOT, src, inbox[ROOT], layer.name)
                tiles[ROOT] = ref.layer_op(layer, [whole], weight)
            else:
                ins = [self.act[name].tiles[ROOT] for name in layer.inputs]
                tiles[ROOT] = ref.layer_op(layer, ins, weight, _out_size(info))
            raw = Stored("root", tiles)
        s = shift(info)
        self.act[layer.name] = Stored(
            raw.placement,
            [None if t is None else activate(t, s, self.precision) for t in raw.tiles],
            raw.tiling,
            raw.owner,
        )
        return raw, traffic

    def _broadcast(self, lp: Step, traffic: Traffic) -> list[np.ndarray]:
        """A tensor held by the root alone (after a reduction), sent to every chip along the
        plan's multicast legs; each chip then computes its own share of the tiled output."""
        info, layer = lp.info, lp.info.layer
        src = self.act[layer.inputs[0]]
        if src.placement != "root" or lp.gather.kind != "multicast":
            raise SimulationError(f"layer {layer.name!r}: a broadcast of a {src.placement} map")
        chips = self.mesh.chips
        inbox = self._move(lp, [(ROOT, d) for d in range(chips) if d != ROOT], src, traffic)
        whole_out = _out_size(info)
        tiling = Tiling.of(info.out_shape, self.mesh)
        out = []
        for chip in range(chips):
            held = self._received(lp, src, inbox, chip)
            if len(layer.inputs) > 1:  # a gate times the chip's own tile of the map
                out.append(ref.layer_op(layer, [held, self.act[layer.inputs[1]].tiles[chip]], None))
                continue
            rows, cols = self._tile_slices(tiling, chip)
            full = ref.layer_op(layer, [held], None, whole_out)
            out.append(np.ascontiguousarray(full[:, rows, cols]))
        return out

    def _received(self, lp: Step, src: Stored, inbox, chip: int) -> np.ndarray:
        """The root's tensor as ``chip`` holds it after a broadcast (zeros if lost)."""
        held = src.tiles[ROOT] if chip == ROOT else inbox[chip].get(ROOT)
        if held is None:
            if self.break_halo is None:
                raise SimulationError(f"layer {lp.name!r}: chip {chip} got no broadcast")
            held = np.zeros_like(src.tiles[ROOT])
        return held

    def _windowed(self, lp: Step, weight, traffic: Traffic) -> list[np.ndarray]:
        layer, info = lp.info.layer, lp.info
        geo = lp.geometry
        cols = self.mesh.cols
        src = self.act[layer.inputs[0]]
        inbox = self._exchange(lp, geo, src, traffic) if not lp.halo_offchip else None
        out = []
        for chip in range(self.mesh.chips):
            r, c = divmod(chip, cols)
            rs, cs = geo.rows[r], geo.cols[c]
            want = (info.out_shape.channels, rs.out_hi - rs.out_lo, cs.out_hi - cs.out_lo)
            if 0 in want:  # an idle chip: no share of this (small) map
                out.append(np.zeros(want, dtype=self.image.dtype))
                continue
            if inbox is None:  # the image loader delivers tile + halo from off-chip
                window = self.image[:, rs.lo : rs.hi, cs.lo : cs.hi]
            else:
                window = self._assemble_window(chip, rs, cs, src, inbox[chip])
            in_shape = info.in_shapes[0]
            block = _block(
                layer, window, rs, cs, weight, (in_shape.height, in_shape.width), _out_size(info)
            )
            if block.shape != want:
                raise SimulationError(
                    f"layer {layer.name!r}: chip ({r},{c}) computed a {block.shape} block, "
                    f"expected {want}"
                )
            out.append(block)
        return out

    def _assemble_window(self, chip, rs: Span, cs: Span, src: Stored, received) -> np.ndarray:
        own = src.tiles[chip]
        r, c = divmod(chip, self.mesh.cols)
        origin = (int(src.tiling.row_bounds[r]), int(src.tiling.col_bounds[c]))
        window = np.zeros((own.shape[0], rs.hi - rs.lo, cs.hi - cs.lo), dtype=own.dtype)
        (r0, r1), (c0, c1) = rs.pieces[1], cs.pieces[1]
        window[:, r0 - rs.lo : r1 - rs.lo, c0 - cs.lo : c1 - cs.lo] = own[
            :, r0 - origin[0] : r1 - origin[0], c0 - origin[1] : c1 - origin[1]
        ]
        for d, piece in received.items():
            dr, dc = DIRECTIONS[d]
            (r0, r1), (c0, c1) = rs.pieces[dr + 1], cs.pieces[dc + 1]
            window[:, r0 - rs.lo : r1 - rs.lo, c0 - cs.lo : c1 - cs.lo] = piece
        return window

    def _exchange(self, lp: Step, geo: Geometry, src: Stored, traffic: Traffic):
        """Send every halo piece along its links; returns ``inbox[chip][direction]``."""
        mesh, cols, name = self.mesh, self.mesh.cols, lp.name
        channels = lp.info.in_shapes[0].channels
        expected = np.stack([geo.pieces(chip, cols) for chip in range(mesh.chips)])
        values = expected * channels
        bits = int(lp.halo_bits.sum()) // max(1, int(values.sum()))  # bits per value
        if not np.array_equal(values * bits, lp.halo_bits):
            raise SimulationError(
                f"layer {name!r}: the halo pieces of the window geometry disagree with the "
                "plan's halo_bits"
            )
        inbox: list[dict[int, np.ndarray]] = [{} for _ in range(mesh.chips)]
        relay: dict[tuple[int, tuple[int, int]], np.ndarray] = {}  # (chip, message) -> held
        for t_id, t in enumerate(halo_transfers(lp.halo_bits, mesh, self.routing)):
            (sr, sc), (r, c) = divmod(t.src, cols), divmod(t.dst, cols)
            d = DIRECTIONS.index((sr - r, sc - c))
            corner = sr != r and sc != c
            traffic.halo_pixels += int(expected[t.dst, d])
            if (self.break_halo == "corners" and corner) or (
                self.break_halo == "edges" and not corner
            ):
                continue
            (r0, r1), (c0, c1) = geo.rows[r].pieces[sr - r + 1], geo.cols[c].pieces[sc - c + 1]
            o0, o1 = int(src.tiling.row_bounds[sr]), int(src.tiling.col_bounds[sc])
            payload = src.tiles[t.src][:, r0 - o0 : r1 - o0, c0 - o1 : c1 - o1].copy()
            if payload.size * bits != t.bits:
                raise SimulationError(f"layer {name!r}: transfer {t} carries {payload.nbytes} B")
            # streamed: each producer phase's channels travel as a message of their own
            bounds = np.cumsum((0, *(lp.parts or (channels,))))
            pieces = []
            for k in range(len(bounds) - 1):
                part = payload[bounds[k] : bounds[k + 1]]
                got = self._carry(part, t, (t_id, k), relay, traffic, name, bits)
                if got is None:
                    break
                pieces.append(got)
            else:
                if self.break_halo == "parts":
                    pieces.reverse()  # parts assembled out of order
                inbox[t.dst][d] = np.concatenate(pieces, axis=0)
        return inbox

    def _carry(self, payload, t, tag, relay, traffic: Traffic, name: str, bits: int):
        """Carry one message along ``t.links``; the payload as received, or None if lost."""
        cols, holder = self.mesh.cols, t.src
        for hop, (a, b) in enumerate(t.links):
            _check_link(a, b, holder, cols, self.routing)
            if hop > 0:  # the intermediate chip forwards what it received
                if self.break_halo == "relay":
                    return None
                payload = relay.pop((a, tag))
            traffic.link_bits += payload.size * bits
            if b != t.dst:
                relay[(b, tag)] = payload
            holder = b
        if holder != t.dst:
            raise SimulationError(f"layer {name!r}: transfer {t} ends at chip {holder}")
        return payload

    # -- channel partitioning ----------------------------------------------------------------

    def _channel(self, lp: Step, owner: np.ndarray, weight, traffic: Traffic) -> list:
        """Every chip's own output channels over the whole map, after the layer's move."""
        info, layer = lp.info, lp.info.layer
        chips, name = self.mesh.chips, layer.name
        srcs = [self.act[ref_name] for ref_name in layer.inputs]
        src = srcs[0]
        mine = [np.flatnonzero(owner == chip) for chip in range(chips)]
        every = [(s, d) for s in range(chips) for d in range(chips) if s != d]
        if layer.kind == "scale":  # the gate's values, times each chip's own channels
            maps = self.act[layer.inputs[1]]
            if lp.gather is None:  # the gate's channels are dealt as the map's
                gates = [src.tiles[chip] for chip in range(chips)]
            elif src.owner is None:  # from the root to every chip
                pairs = [(ROOT, d) for d in range(chips) if d != ROOT]
                inbox = self._move(lp, pairs, src, traffic)
                gates = [self._received(lp, src, inbox, c)[mine[c]] for c in range(chips)]
            else:  # every chip's gate channels to every chip
                inbox = self._move(lp, every, src, traffic)
                gates = [self._whole(c, src, inbox[c], name)[mine[c]] for c in range(chips)]
            held = [[gates[chip], maps.tiles[chip]] for chip in range(chips)]
            whole = False
        elif lp.gather is None:  # the inputs are already where the channels are computed
            if any(x.owner is None for x in srcs):
                raise SimulationError(f"layer {name!r}: reads a {src.placement} map unmoved")
            held = [[x.tiles[chip] for x in srcs] for chip in range(chips)]
            whole = False
        elif lp.gather.kind == "multicast":  # every chip with work gets the whole input
            readers = [(s, d) for s, d in every if len(mine[d])]
            inbox = self._move(lp, readers, src, traffic)
            held = [
                [self._whole(chip, src, inbox[chip], name)] if len(mine[chip]) else []
                for chip in range(chips)
            ]
            whole = True
        else:  # at the switch: each tile's part of the receiver's channels
            if src.tiling is None:
                raise SimulationError(f"layer {name!r}: a unicast move of a {src.placement} map")
            cut = [[src.tiles[s][mine[d]] for d in range(chips)] for s in range(chips)]
            inbox = self._move(lp, every, src, traffic, lambda s, d: cut[s][d])
            held = [
                [self._own_channels(chip, src, cut[chip][chip], inbox[chip], name)]
                for chip in range(chips)
            ]
            whole = False
        out_shape = info.out_shape
        out = []
        for chip in range(chips):
            want = (len(mine[chip]), out_shape.height, out_shape.width)
            if not want[0]:  # a chip owning no channel of this layer
                out.append(np.zeros(want, dtype=self.image.dtype))
                continue
            block = _channel_block(info, held[chip], mine[chip], weight, whole)
            if block.shape != want:
                raise SimulationError(
                    f"layer {name!r}: chip {chip} computed a {block.shape} block, expected {want}"
                )
            out.append(block)
        return out

    def _move(self, lp: Step, pairs, src: Stored, traffic: Traffic, cut=None):
        """Carry the plan's legs over the links; returns ``inbox[d][s]``, the payload chip d
        kept from chip s.

        ``pairs`` (s, d) are the transfers the layer needs; ``cut(s, d)`` is what sender s
        cuts for d (default: all it holds of ``src``). Their sizes must be the plan's
        ``gather.bits`` at one bits-per-value; each hop must be a mesh link from the chip
        holding the message; a leg started by another's arrival forwards what arrived.
        """
        gather, name = lp.gather, lp.name
        chips, cols = self.mesh.chips, self.mesh.cols
        cut = cut or (lambda s, d: src.tiles[s])
        values = np.zeros((chips, chips), dtype=np.int64)
        payloads = {}
        for s, d in pairs:
            if s != d:
                payloads[(s, d)] = cut(s, d)
                values[s, d] = payloads[(s, d)].size
        bits = int(gather.bits.sum()) // max(1, int(values.sum()))  # bits per value
        if not np.array_equal(values * bits, gather.bits):
            raise SimulationError(
                f"layer {name!r}: the shares the chips hold ({values.tolist()} values) "
                f"disagree with the plan's gather bits {gather.bits.tolist()}"
            )
        inbox: list[dict[int, np.ndarray]] = [{} for _ in range(chips)]
        delivered = np.zeros((chips, chips), dtype=np.int64)
        arrived: dict[tuple[int, int], tuple[int, np.ndarray]] = {}  # (leg, hop) -> held
        last = len(gather.legs) - 1
        for i, leg in enumerate(gather.legs):
            if leg.after is None:  # leaves the source with what it cut for the far end
                kept = [chip for chip in leg.deliver if chip is not None]
                # a multicast branch may only pass through on its way to the receivers
                holder = leg.src
                payload = payloads[(leg.src, kept[-1])] if kept else cut(leg.src, None)
            elif leg.after in arrived:  # where an earlier leg arrived, what it received
                holder, payload = arrived[leg.after]
            else:
                raise SimulationError(f"layer {name!r}: leg {i} starts after a later leg")
            if payload.size * bits != leg.bits:
                raise SimulationError(
                    f"layer {name!r}: leg {i} from chip {leg.src} carries {payload.size} "
                    f"values, the plan says {leg.bits} bits"
                )
            for hop, (a, b) in enumerate(leg.links):
                _check_link(a, b, holder, cols, self.routing)
                traffic.link_bits += payload.size * bits
                holder = b
                arrived[(i, hop)] = (b, payload)
                keep = leg.deliver[hop]
                if keep is None:
                    continue
                if keep != b:
                    raise SimulationError(f"layer {name!r}: leg {i} delivers to {keep} at {b}")
                if leg.src in inbox[b]:
                    raise SimulationError(
                        f"layer {name!r}: chip {b} receives chip {leg.src}'s share twice"
                    )
                delivered[leg.src, b] += payload.size
                if self.break_halo == "gather-drop" and i == last and hop == len(leg.links) - 1:
                    continue  # the final delivery of the last leg is lost
                inbox[b][leg.src] = payload
        if not np.array_equal(delivered, values):
            raise SimulationError(
                f"layer {name!r}: the legs delivered {delivered.tolist()} values, the chips "
                f"need {values.tolist()}"
            )
        return inbox

    def _whole(self, chip: int, src: Stored, inbox: dict, name: str) -> np.ndarray:
        """The whole input map on ``chip``: its own share plus every share it received."""
        own = src.tiles[chip]
        if src.owner is not None:
            full = np.zeros((len(src.owner), *own.shape[1:]), dtype=own.dtype)
            filled = np.zeros(full.shape[0], dtype=bool)
            where = [np.flatnonzero(src.owner == s) for s in range(self.mesh.chips)]
        else:
            shape = src.tiling.shape
            full = np.zeros((shape.channels, shape.height, shape.width), dtype=own.dtype)
            filled = np.zeros(full.shape[1:], dtype=bool)
            where = [self._tile_slices(src.tiling, s) for s in range(self.mesh.chips)]
        shares = {chip: own, **inbox}
        wrong = max(inbox) if inbox and self.break_halo == "gather-offset" else None
        for s, share in shares.items():
            if src.owner is not None:
                idx = where[s] if s != wrong else (where[s] + 1) % len(src.owner)
                full[idx] = share
                filled[where[s]] = True
            else:
                rows, cols = where[s]
                full[:, rows, cols] = share if s != wrong else np.roll(share, 1, axis=0)
                filled[rows, cols] = True
        if not filled.all() and self.break_halo is None:
            raise SimulationError(f"layer {name!r}: chip {chip} lacks part of its input")
        return full

    def _own_channels(self, chip, src: Stored, own, inbox: dict, name: str) -> np.ndarray:
        """Chip's own channels of a tiled map, whole: its tile's part plus every tile's."""
        shape = src.tiling.shape
        x = np.zeros((own.shape[0], shape.height, shape.width), dtype=own.dtype)
        filled = np.zeros((shape.height, shape.width), dtype=bool)
        wrong = max(inbox) if inbox and self.break_halo == "gather-offset" else None
        for s, piece in {chip: own, **inbox}.items():
            rows, cols = self._tile_slices(src.tiling, s)
            x[:, rows, cols] = piece if s != wrong else np.roll(piece, 1, axis=0)
            filled[rows, cols] = True
        if own.shape[0] and not filled.all() and self.break_halo is None:
            raise SimulationError(f"layer {name!r}: chip {chip} lacks part of its channels")
        return x

    def _tile_slices(self, tiling: Tiling, chip: int) -> tuple[slice, slice]:
        r, c = divmod(chip, self.mesh.cols)
        rb, cb = tiling.row_bounds, tiling.col_bounds
        return slice(int(rb[r]), int(rb[r + 1])), slice(int(cb[c]), int(cb[c + 1]))

    def _reduce(self, lp: Step, src: Stored, weight, traffic: Traffic) -> np.ndarray:
        """Partial vectors per chip, summed (or maxed) hop by hop into the root."""
        layer, in_shape = lp.info.layer, lp.info.in_shapes[0]
        cols, tiling = self.mesh.cols, src.tiling
        partial = []
        for chip, tile in enumerate(src.tiles):
            if isinstance(layer, GlobalPool):
                partial.append(ref.global_sum(tile, layer.mode))
            elif isinstance(layer, Dense):
                r, c = divmod(chip, cols)
                w = weight.reshape(
                    layer.out_features, in_shape.channels, in_shape.height, in_shape.width
                )[
                    :,
                    :,
                    tiling.row_bounds[r] : tiling.row_bounds[r + 1],
                    tiling.col_bounds[c] : tiling.col_bounds[c + 1],
                ]
                partial.append(ref.dense_sum(tile, w.reshape(layer.out_features, -1)))
            else:
                raise SimulationError(f"layer {layer.name!r}: cannot reduce a {layer.kind}")
        use_max = isinstance(layer, GlobalPool) and layer.mode == "max"
        for chip in reversed(range(self.mesh.chips)):
            target = reduction_target(chip, cols)
            if target is None:
                continue
            _check_link(chip, target, chip, cols, "relay")
            if target > chip:
                raise SimulationError(f"reduction sends chip {chip} to later chip {target}")
            traffic.link_bits += partial[chip].size * self.act_bits
            a, b = partial[target], partial[chip]
            partial[target] = np.maximum(a, b) if use_max else ref.add([a, b])
        if isinstance(layer, GlobalPool):
            return ref.finish_global(partial[ROOT], layer.mode, in_shape.pixels)
        return partial[ROOT].reshape(-1, 1, 1)


def _check_link(a: int, b: int, holder: int, cols: int, routing: str) -> None:
    """A hop must leave the chip holding the data towards a mesh neighbour."""
    (ar, ac), (br, bc) = divmod(a, cols), divmod(b, cols)
    dr, dc = abs(ar - br), abs(ac - bc)
    diagonal = dr == 1 and dc == 1
    if a != holder or max(dr, dc) != 1 or (diagonal and routing != "diagonal"):
        raise SimulationError(f"link {a}->{b} is not a usable hop from chip {holder}")


def _block(
    layer: Layer, window: np.ndarray, rs: Span, cs: Span, weight, in_size, out_size
) -> np.ndarray:
    """The layer on one chip's assembled window, padded only at the map's edges;
    ``in_size`` and ``out_size`` are the whole maps' (height, width)."""
    pads = (rs.pad_lo, cs.pad_lo, rs.pad_hi, cs.pad_hi)
    if isinstance(layer, Conv):
        return ref.conv2d(window, weight, layer.stride, pads, layer.dilation, layer.groups)
    if isinstance(layer, Pool):
        return ref.pool2d(window, layer.kernel, layer.stride, pads, layer.dilation, layer.mode)
    if isinstance(layer, Upsample):
        rows = ref.nearest_index(rs.out_lo, rs.out_hi, in_size[0], out_size[0]) - rs.lo
        cols = ref.nearest_index(cs.out_lo, cs.out_hi, in_size[1], out_size[1]) - cs.lo
        return ref.resize_rows(window, rows, cols)
    if isinstance(layer, AdaptivePool):
        (oh, ow), (h, w) = layer.output, in_size
        return ref.adaptive_pool2d(
            window, (rs.out_lo, rs.out_hi, oh), (cs.out_lo, cs.out_hi, ow), (h, w, rs.lo, cs.lo),
            layer.mode,
        )  # fmt: skip
    return ref.layer_op(layer, [window], weight)


def _out_size(info: LayerInfo) -> tuple[int, int]:
    return info.out_shape.height, info.out_shape.width


def _depthwise(info: LayerInfo) -> bool:
    """A conv with one input channel per output channel (the plan keeps its channels put)."""
    layer = info.layer
    return (
        isinstance(layer, Conv)
        and layer.groups == info.in_shapes[0].channels == info.out_shape.channels
    )


def _channel_block(info: LayerInfo, inputs: list, mine: np.ndarray, weight, whole: bool):
    """Output channels ``mine`` of the layer on one chip, from the whole input map (``whole``)
    or from the chip's own channels of its inputs; the layer's own padding applies."""
    layer = info.layer
    if isinstance(layer, Conv):
        args = (layer.stride, layer.padding, layer.dilation)
        if not whole:
            if not _depthwise(info):
                raise SimulationError(f"layer {layer.name!r}: a conv without its whole input")
            return ref.conv2d(inputs[0], weight[mine], *args, len(mine))
        per_out = info.out_shape.channels // layer.groups
        per_in = info.in_shapes[0].channels // layer.groups
        parts = []
        for group in np.unique(mine // per_out):  # each group's channels from its inputs
            o = mine[mine // per_out == group]
            x = inputs[0][group * per_in : (group + 1) * per_in]
            parts.append(ref.conv2d(x, weight[o], *args, 1))
        return np.concatenate(parts, axis=0)
    if whole:
        raise SimulationError(f"layer {layer.name!r}: a {layer.kind} given the whole map")
    return ref.layer_op(layer, inputs, weight, _out_size(info))
