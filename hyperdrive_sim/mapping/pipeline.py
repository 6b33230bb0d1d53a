"""The layer-pipelined organisation: groups of chips (stages) own consecutive layers.

Each stage owns a band of whole mesh rows (or whole columns when the mesh is wider than
tall) and runs its layers tiled over that band exactly as the tiled organisation runs a
network over the whole mesh (``tiled_plan`` on the band as a mesh of its own, on the
sub-network of its layers). Its weights are stationary: every chip of a stage keeps all
weight bits of the stage's layers in its FMM, next to the maps, loaded once at start-up.
The stage's output map is re-tiled onto the next stage's band over the mesh links.

Stages are cut only where exactly one tensor (a tiled map) is live, so one map moves
between stages and a residual block is never split. See docs/pipeline.md.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hyperdrive_sim.errors import MappingError
from hyperdrive_sim.mapping.costs import LAYOUT_KINDS, NO_TECHNIQUES, ChipWork, WeightTechniques
from hyperdrive_sim.mapping.plan import LayerPlan, Plan, single_map_cuts, tiled_plan
from hyperdrive_sim.mapping.routes import Transfer
from hyperdrive_sim.mapping.tiling import Tiling
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.workload.layers import INPUT, Layer
from hyperdrive_sim.workload.network import LayerInfo, Network, ShapedNetwork

#: ChipWork fields that are per-chip arrays
_WORK_ARRAYS = tuple(
    f.name for f in dataclasses.fields(ChipWork) if f.name not in ("blocks", "reduce_len")
)


@dataclass(frozen=True, eq=False)
class Stage:
    """One chip group: layers ``[first, stop)`` of the network on a band of the mesh."""

    index: int
    count: int
    first: int
    stop: int
    #: the band as [start, end) rows and columns of the full mesh
    rows: tuple[int, int]
    cols: tuple[int, int]
    #: full-mesh chip ids, in the row-major order of the band's own mesh
    chips: tuple[int, ...]
    #: the tensor the stage reads (``"input"``: the image, for stage 0)
    source: str
    #: the stage's own plan: its sub-network tiled over the band, weights stationary
    plan: Plan
    #: bits of stationary weights every chip of the stage holds
    weight_bits: int
    #: messages re-tiling the previous stage's output onto this band (none for stage 0)
    inbound: tuple[Transfer, ...]
    #: bits each chip of the band receives per frame (its input tile and halo), band order
    received_bits: np.ndarray
    #: True: the band is whole rows; False: whole columns
    by_rows: bool = True
    #: True when every chip's FMM also holds a second copy of its output share, so the
    #: stage computes the next frame while the last one's output is still being sent
    double_buffered: bool = False

    @property
    def label(self) -> str:
        """E.g. "stage 2 of 4 (rows 2-3)"; the band in full-mesh coordinates."""
        what, (a, b) = ("rows", self.rows) if self.by_rows else ("columns", self.cols)
        band = f"{what[:-1]} {a}" if b - a == 1 else f"{what} {a}-{b - 1}"
        return f"stage {self.index + 1} of {self.count} ({band})"

    @property
    def link_hop_bits(self) -> int:
        """Link-hop bits of the inbound re-tiling (a bit over h hops counts h times)."""
        return sum(t.bits * len(t.links) for t in self.inbound)


@dataclass(frozen=True)
class _Cost:
    """How good a stage is: problems first, then FMM excess, then estimated cycles."""

    bad: int
    excess: int
    cycles: int

    def key(self) -> tuple[int, int, int]:
        return (self.bad, self.excess, self.cycles)


class _Planner:
    """Stage plans of (layer segment, band size), memoised, and the split search."""

    def __init__(self, net: ShapedNetwork, hw: Hardware, techniques: WeightTechniques) -> None:
        self.net, self.hw, self.techniques = net, hw, techniques
        self.by_rows = hw.mesh.rows >= hw.mesh.cols
        self.lines = hw.mesh.rows if self.by_rows else hw.mesh.cols
        self.cuts = cut_points(net)
        #: segment boundaries: 0, every cut, the end
        self.bounds = (0, *sorted(self.cuts), len(net.infos))
        self._memo: dict[tuple[int, int, int], tuple[Plan, _Cost, int, np.ndarray]] = {}
        self._profiles: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._estimates: dict[tuple[int, int, int], _Cost] = {}

    @cached_property
    def value_bits(self) -> int:
        chip = self.hw.chip
        return 1 if chip.activation_mode == "binary" else chip.activation_bits

    @cached_property
    def live_values(self) -> np.ndarray:
        """Per layer: values of every tensor live while it runs (inputs, output, maps kept
        for later readers), views excluded. Spread evenly over a band's chips, a floor on
        the band's map bits per chip: the plan tiles each of them over the band."""
        net = self.net
        last = dict(net.last_use)
        sizes = {INPUT: net.input_shape.elements}
        made = {INPUT: -1}
        for info in net.infos:
            if info.layer.kind not in LAYOUT_KINDS:
                sizes[info.layer.name] = info.out_shape.elements
                made[info.layer.name] = info.index
        live = np.zeros(len(net.infos), dtype=np.int64)
        for name, size in sizes.items():
            start, stop = max(made[name], 0), last.get(name, made[name])
            live[start : stop + 1] += size
        return live

    def source(self, a: int) -> str:
        """The tensor a stage starting at layer ``a`` reads."""
        return INPUT if a == 0 else self.cuts[a]

    def band_mesh(self, lines: int) -> Mesh:
        m = self.hw.mesh
        return Mesh(rows=lines, cols=m.cols) if self.by_rows else Mesh(rows=m.rows, cols=lines)

    def profile(self, lines: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The whole network tiled over a band of ``lines``: per layer its slowest chip's
        cycles, its largest FMM need, and whether it cannot be tiled there. Within a stage a
        layer holds the same maps as here (a cut leaves one map live, which the stage reads),
        so these price every segment on that band without planning it."""
        if lines not in self._profiles:
            mesh = self.band_mesh(lines)
            band = _band_hardware(self.hw, mesh)
            roomy = dataclasses.replace(
                band, chip=band.chip.model_copy(update={"fmm_bits": sys.maxsize})
            )
            n = len(self.net.infos)
            cycles, need = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
            bad = np.ones(n, dtype=bool)
            for lp in tiled_plan(self.net, roomy, self.techniques).layers:
                cycles[lp.index] = int(lp.work.cycles.max())
                need[lp.index] = int(lp.fmm_need_bits.max())
                bad[lp.index] = False
            self._profiles[lines] = (cycles, need, bad)
        return self._profiles[lines]

    def estimate(self, a: int, b: int, lines: int) -> _Cost:
        """The cost of layers [a, b) on a band, from ``profile``: the split search compares
        these; the chosen stages are then planned exactly (``stage``)."""
        key = (a, b, lines)
        if key not in self._estimates:
            weights = _segment_weight_bits(self.net, a, b, self.hw)
            chips = self.band_mesh(lines).chips
            cut = self.net.shape_of(self.source(a)).elements if a else 0
            received = -(-cut * self.value_bits // chips)
            cycles, need, bad = self.profile(lines)
            peak = int(need[a:b].max()) + weights + received
            excess = max(0, peak - self.hw.chip.fmm_bits)
            self._estimates[key] = _Cost(int(bad[a:b].any()), excess, int(cycles[a:b].sum()))
        return self._estimates[key]

    def stage(self, a: int, b: int, lines: int) -> tuple[Plan, _Cost, int, np.ndarray]:
        """(plan, cost, weight bits, received bits per chip) of layers [a, b) on a band."""
        key = (a, b, lines)
        if key not in self._memo:
            self._memo[key] = self._build(a, b, lines)
        return self._memo[key]

    def _rejected(self, mesh: Mesh, problem: str, excess: int, weights: int):
        """A segment ruled out before planning: its problem and FMM excess."""
        zeros = np.zeros(mesh.chips, dtype=np.int64)
        plan = Plan(self.net, _band_hardware(self.hw, mesh), (), zeros, zeros, (problem,))
        return plan, _Cost(0, excess, 0), weights, zeros

    def _build(self, a: int, b: int, lines: int):
        net, hw = self.net, self.hw
        weights = _segment_weight_bits(net, a, b, hw)
        capacity = hw.chip.fmm_bits
        mesh = self.band_mesh(lines)
        plain = hw.chip.pruning == "none" and not hw.chip.kernel_dictionary_bits
        if plain and weights > capacity:  # cannot fit whatever the maps: do not plan it
            excess = weights - capacity
            problem = (
                f"holds {weights:,} bits of stationary weights, more than the {capacity:,}-bit "
                f"feature-map memory (FMM) of a chip (over by {excess:,} bits, "
                f"{100 * excess / capacity:.1f}%)"
            )
            return self._rejected(mesh, problem, excess, weights)
        maps = int(self.live_values[a:b].max(initial=0)) * self.value_bits // mesh.chips
        if plain and weights + maps > capacity:  # the maps cannot fit beside the weights
            excess = weights + maps - capacity
            problem = (
                f"needs at least {weights + maps:,} bits of feature-map memory (FMM) per chip: "
                f"{weights:,} of stationary weights and at least {maps:,} of maps; the chip "
                f"has {capacity:,} (over by {excess:,} bits, {100 * excess / capacity:.1f}%)"
            )
            return self._rejected(mesh, problem, excess, weights)
        source = self.source(a)
        sub = sub_network(net, a, b, source)
        band_hw = _band_hardware(hw, mesh)
        # capacity is checked here (maps + stationary weights + the next frame's input), so
        # the band's own plan is built with an FMM that never overflows
        roomy = dataclasses.replace(
            band_hw,
            chip=band_hw.chip.model_copy(update={"fmm_bits": sys.maxsize}),
        )
        plan = tiled_plan(sub, roomy, self.techniques)
        if plan.problems or not plan.layers:
            problems = plan.problems or ("the stage has no layers",)
            plan = dataclasses.replace(plan, hw=band_hw, problems=problems)
            return plan, _Cost(1, 0, 0), weights, np.zeros(mesh.chips, dtype=np.int64)
        if a == 0:
            received = plan.image_in_bits.copy()
        else:
            received = needed_pixels(sub, mesh).sum(axis=1) * (
                net.shape_of(source).channels * self.value_bits
            )
        weights = sum(int(lp.work.blocks.sum()) for lp in plan.layers)  # as stored (coded)
        layers = _stationary(plan.layers, weights, received, first_is_link=a > 0)
        need = np.stack([lp.fmm_need_bits for lp in layers])
        peak = int(need.max())
        excess = max(0, peak - capacity)
        problems: list[str] = []
        if excess:
            k, c = np.unravel_index(int(np.argmax(need)), need.shape)
            maps = int(need[k, c]) - weights - int(received[c])
            problems.append(
                f"needs {peak:,} bits of feature-map memory (FMM) at layer "
                f"{layers[k].name!r} on {{chip{int(c)}}}: {maps:,} of maps, {weights:,} of "
                f"stationary weights and {int(received[c]):,} for the next frame's input; "
                f"the chip has {capacity:,} (over by {excess:,} bits, "
                f"{100 * excess / capacity:.1f}%)"
            )
        cycles = int(sum(int(lp.work.cycles.max()) for lp in layers))
        plan = dataclasses.replace(plan, hw=band_hw, layers=tuple(layers), problems=tuple(problems))
        return plan, _Cost(0, excess, cycles), weights, received

    def split(self, k: int) -> tuple[list[int], list[int]] | None:
        """Segment boundaries and band sizes of the best ``k``-stage split, or None.

        Minimises, over all cuts and band sizes, the worst stage's cost (problems, then FMM
        excess, then estimated cycles), by dynamic programming; ties keep the earliest cut
        and the smallest first band, so the choice is deterministic.
        """
        bounds, lines = self.bounds, self.lines
        n = len(bounds)
        if k > lines or k > n - 1:
            return None
        # best[j][u]: (worst cost key, boundaries, lines) for segments ending at bounds[j]
        # using u lines, over the stages placed so far
        inf = None
        best: list[list] = [[inf] * (lines + 1) for _ in range(n)]
        best[0][0] = ((0, 0, 0), [0], [])
        for _ in range(k):
            nxt: list[list] = [[inf] * (lines + 1) for _ in range(n)]
            for j in range(n):
                for u in range(lines + 1):
                    if best[j][u] is None:
                        continue
                    worst, bs, ls = best[j][u]
                    for j2 in range(j + 1, n):
                        for lc in range(1, lines - u + 1):
                            cost = self.estimate(bounds[j], bounds[j2], lc).key()
                            cand = (max(worst, cost), [*bs, bounds[j2]], [*ls, lc])
                            cur = nxt[j2][u + lc]
                            if cur is None or cand[0] < cur[0]:
                                nxt[j2][u + lc] = cand
            best = nxt
        final = best[n - 1][lines]
        if final is None:
            return None
        return final[1], final[2]


def pipeline_plan(
    net: ShapedNetwork, hw: Hardware, techniques: WeightTechniques = NO_TECHNIQUES
) -> Plan:
    """Split ``net`` into stages on bands of ``hw``'s mesh; problems make ``fits`` false.

    With ``system.pipeline_stages`` K > 0, K stages; with 0, the fewest that fit. Among
    splits with the same stage count, the one whose slowest stage (sum over its layers of
    the largest per-chip cycles) is fastest.
    """
    planner = _Planner(net, hw, techniques)
    chips = hw.chips
    empty = np.zeros(chips, dtype=np.int64)
    wanted = hw.system.pipeline_stages
    segments = len(planner.bounds) - 1
    most = min(planner.lines, segments)
    chip = hw.chip
    if chip.activation_mode == "binary" and chip.binary_keep_first_last:
        most = 1  # an inner stage would read its input at the wrong precision
        if wanted > 1:
            return Plan(net, hw, (), empty, empty, (_binary_problem(wanted),), stages=())
    if hw.system.batch > 1:
        return Plan(net, hw, (), empty, empty, (
            f"batch {hw.system.batch}: batches are not modelled for organisation: pipeline "
            "(its weights are stationary, so a batch saves no weight traffic); use batch: 1",
        ), stages=())  # fmt: skip
    if wanted > planner.lines:
        side = "rows" if planner.by_rows else "columns"
        return Plan(net, hw, (), empty, empty, (
            f"pipeline_stages {wanted} is more than the {planner.lines} {side} of the {hw.mesh} "
            f"mesh (rows x cols): each stage needs a band of at least one whole {side[:-1]}",
        ), stages=())  # fmt: skip
    if wanted > segments:
        after = ", ".join(repr(net.infos[i - 1].layer.name) for i in planner.cuts) or "none"
        return Plan(net, hw, (), empty, empty, (
            f"pipeline_stages {wanted}: {net.name} can be cut into at most {segments} "
            f"stage{'s' * (segments > 1)} (a cut needs exactly one map live across it; "
            f"possible cuts after: {after})",
        ), stages=())  # fmt: skip
    choices = [wanted] if wanted else list(range(1, most + 1))
    chosen = None
    for k in choices:
        found = planner.split(k)
        if found is None:
            continue
        worst = max(
            planner.stage(a, b, lc)[1].key()
            for a, b, lc in zip(found[0][:-1], found[0][1:], found[1], strict=True)
        )
        if chosen is None or worst[:2] < chosen[0][:2]:
            chosen = (worst, found)
        if worst[:2] == (0, 0):
            break
    assert chosen is not None  # one stage on the whole mesh is always a candidate
    return _assemble(planner, *chosen[1])


def _binary_problem(wanted: int) -> str:
    return (
        f"pipeline_stages {wanted}: binary activations with binary_keep_first_last keep the "
        "image and the outputs at full precision, which the stages' sub-networks cannot "
        "express; use one stage or binary_keep_first_last: false"
    )


def _assemble(planner: _Planner, bounds: list[int], lines: list[int]) -> Plan:
    """One Plan over the whole mesh from the stages' plans (arrays scattered by chip)."""
    net, hw = planner.net, planner.hw
    chips, count = hw.chips, len(lines)
    stages: list[Stage] = []
    offset = 0
    for s, (a, b, lc) in enumerate(zip(bounds[:-1], bounds[1:], lines, strict=True)):
        plan, _cost, weights, received = planner.stage(a, b, lc)
        if planner.by_rows:
            rows, cols = (offset, offset + lc), (0, hw.mesh.cols)
        else:
            rows, cols = (0, hw.mesh.rows), (offset, offset + lc)
        offset += lc
        ids = tuple(r * hw.mesh.cols + c for r in range(*rows) for c in range(*cols))
        source = planner.source(a)
        stage = Stage(
            s, count, a, b, rows, cols, ids, source, plan, weights, (), received,
            planner.by_rows, double_buffer_fits(plan),
        )  # fmt: skip
        if s and plan.fits and stages[-1].plan.fits:
            inbound = retile(net, source, stages[-1], stage, planner.value_bits, hw.mesh)
            stage = dataclasses.replace(stage, inbound=inbound)
        stages.append(stage)
    layers: list[LayerPlan] = []
    problems: list[str] = []
    image_in = np.zeros(chips, dtype=np.int64)
    result_out = np.zeros(chips, dtype=np.int64)
    for st in stages:
        ids = np.array(st.chips, dtype=np.int64)
        names = {f"{{chip{j}}}": _chip_name(int(c), hw.mesh.cols) for j, c in enumerate(ids)}
        for p in st.plan.problems:
            for token, name in names.items():
                p = p.replace(token, name)
            problems.append(f"{st.label}, layers {_layer_range(net, st)}: {p}")
        for k, lp in enumerate(st.plan.layers):
            layers.append(_scatter(lp, net.infos[st.first + k], ids, chips, st.label))
    if stages[0].plan.fits:
        image_in[np.array(stages[0].chips)] = stages[0].plan.image_in_bits
    if stages[-1].plan.fits:
        result_out[np.array(stages[-1].chips)] = stages[-1].plan.result_out_bits
    if len(layers) != len(net.infos):
        layers = []  # some stage could not be mapped: no per-layer table
    return Plan(net, hw, tuple(layers), image_in, result_out, tuple(problems), tuple(stages))


def double_buffer_fits(plan: Plan) -> bool:
    """Whether a stage's FMM holds, at every layer and on every chip, what the layer needs
    plus a second copy of the stage's output share (the previous frame's, still being sent
    to the next stage or read out)."""
    if not plan.fits or not plan.layers:
        return False
    need = np.stack([lp.fmm_need_bits for lp in plan.layers]).max(axis=0)
    return bool((need + plan.result_out_bits).max() <= plan.hw.chip.fmm_bits)


def _layer_range(net: ShapedNetwork, st: Stage) -> str:
    first, last = net.infos[st.first].layer.name, net.infos[st.stop - 1].layer.name
    return repr(first) if first == last else f"{first!r} to {last!r}"


def _chip_name(chip: int, cols: int) -> str:
    return f"chip ({chip // cols},{chip % cols})"


def _scatter(lp: LayerPlan, info, ids: np.ndarray, chips: int, label: str) -> LayerPlan:
    """A band's LayerPlan on the full mesh: zeros on chips outside the band."""

    def full(arr: np.ndarray) -> np.ndarray:
        out = np.zeros((chips, *arr.shape[1:]), dtype=arr.dtype)
        out[ids] = arr
        return out

    work = dataclasses.replace(lp.work, **{f: full(getattr(lp.work, f)) for f in _WORK_ARRAYS})
    return dataclasses.replace(
        lp,
        info=info,
        placement=label,  # type: ignore[arg-type]  # a stage label, see docs/pipeline.md
        work=work,
        halo_bits=full(lp.halo_bits),
        phase_cycles=full(lp.phase_cycles),
        phase_border_cycles=full(lp.phase_border_cycles),
        fmm_need_bits=full(lp.fmm_need_bits),
        halo_need_bits=full(lp.halo_need_bits),
    )


def _stationary(
    layers: tuple[LayerPlan, ...], weights: int, received: np.ndarray, first_is_link: bool
) -> list[LayerPlan]:
    """Stage layers with stationary weights.

    Every block is served on chip (``cached_blocks``: no off-chip read); each chip that
    computes a layer reads its weight bits once per frame from the FMM (``fmm_read_bits``).
    The FMM holds, at every layer, the stage's weights and the next frame's input
    (``received``) besides the maps. Bits received from the previous stage are written to
    the FMM (counted on the stage's first layer), like received halos.
    """
    out = []
    for k, lp in enumerate(layers):
        w = lp.work
        uses = w.wbuf_write_bits > 0
        reads = w.fmm_read_bits + np.where(uses, int(w.blocks.sum()), 0)
        writes = w.fmm_write_bits + (received if k == 0 and first_is_link else 0)
        out.append(
            dataclasses.replace(
                lp,
                work=dataclasses.replace(w, fmm_read_bits=reads, fmm_write_bits=writes),
                fmm_need_bits=lp.fmm_need_bits + weights + received,
                cached_blocks=np.ones(len(w.blocks), dtype=bool),
            )
        )
    return out


def _segment_weight_bits(net: ShapedNetwork, a: int, b: int, hw: Hardware) -> int:
    """Weight bits of layers [a, b) without any weight technique's coding."""
    return sum(info.weights for info in net.infos[a:b]) * hw.chip.weight_bits


def _band_hardware(hw: Hardware, mesh: Mesh) -> Hardware:
    """``hw`` with the band as its mesh, tiled, and no weight cache (weights are stationary)."""
    system = hw.system.model_copy(
        update={"mesh": mesh, "organisation": "tiled", "pipeline_stages": 0, "batch": 1}
    )
    chip = hw.chip.model_copy(update={"weight_cache_bits": 0})
    return dataclasses.replace(hw, mesh=mesh, system=system, chip=chip)


def cut_points(net: ShapedNetwork) -> dict[int, str]:
    """Layer indices i where the network may be cut before layer i, with the tensor crossing.

    A cut is allowed when exactly one tensor produced before i is used from i on (read by a
    later layer or read out as a network output), and that tensor is a tiled map (not a
    view such as a concat, nor a vector after a reduction).
    """
    tiled = {INPUT}
    for info in net.infos:
        if info.layer.spatial and all(ref in tiled for ref in info.layer.inputs):
            tiled.add(info.layer.name)
    kinds = {i.layer.name: i.layer.kind for i in net.infos}
    return {
        i: name
        for i, name in single_map_cuts(net)
        if name != INPUT
        and name in tiled
        and kinds[name] not in LAYOUT_KINDS
        and name not in net.outputs  # network outputs live to the end
        and _sizes_known(net, i, name)
    }


def _sizes_known(net: ShapedNetwork, i: int, source: str) -> bool:
    """A cut before layer i keeps every later size rule: an upsample to the size of a
    tensor before the cut (other than the crossing one) must be a whole factor here, which
    ``sub_network`` writes instead (``_frozen_ref``)."""
    before = {INPUT, *(info.layer.name for info in net.infos[:i])} - {source}
    return all(
        _frozen_ref(info) is not None
        for info in net.infos[i:]
        if set(info.layer.shape_refs) & before
    )


def _frozen_ref(info: LayerInfo) -> Layer | None:
    """An upsample to another tensor's size as an upsample by the whole factor it has at
    this resolution, or None when the ratio is not one whole factor on both axes."""
    x, out = info.in_shapes[0], info.out_shape
    if out.height % x.height or out.width % x.width:
        return None
    factor = out.height // x.height
    if factor != out.width // x.width or info.layer.kind != "upsample":
        return None
    return dataclasses.replace(info.layer, factor=factor, size_of=None)


def sub_network(net: ShapedNetwork, a: int, b: int, source: str) -> ShapedNetwork:
    """Layers [a, b) of ``net`` as a network of their own whose image is ``source``."""
    inside = {source, *(info.layer.name for info in net.infos[a:b])}
    layers = []
    for info in net.infos[a:b]:
        layer = info.layer
        if not set(layer.shape_refs) <= inside:  # a size from before the cut: its factor
            layer = _frozen_ref(info)
            if layer is None:
                raise MappingError(
                    f"layer {info.layer.name!r}: its size comes from a tensor before the cut",
                    key="organisation",
                )
        if source != INPUT:
            rename = lambda ref: INPUT if ref == source else ref  # noqa: E731
            layer = dataclasses.replace(layer, inputs=tuple(map(rename, layer.inputs)))
            if getattr(layer, "size_of", None) == source:
                layer = dataclasses.replace(layer, size_of=INPUT)
        layers.append(layer)
    layers = tuple(layers)
    shape = net.shape_of(source)
    sub = Network(
        f"{net.name}[{a}:{b}]", layers, input_channels=shape.channels, source=net.network.source
    )
    return sub.at(shape.height, shape.width)


def needed_pixels(sub: ShapedNetwork, mesh: Mesh) -> np.ndarray:
    """Per chip of ``mesh``, which pixels of ``sub``'s input it must hold, as a boolean mask
    ``[chip, height * width]``: its own tile of the input plus every window of its output
    share that a layer reading the input needs (its halo)."""
    shape = sub.input_shape
    inp = Tiling.of(shape, mesh)
    h, w = shape.height, shape.width
    masks = np.zeros((mesh.chips, h, w), dtype=bool)
    for r in range(mesh.rows):
        for c in range(mesh.cols):
            masks[r * mesh.cols + c, inp.row_bounds[r] : inp.row_bounds[r + 1],
                  inp.col_bounds[c] : inp.col_bounds[c + 1]] = True  # fmt: skip
    for info in sub.infos:
        layer = info.layer
        if INPUT not in layer.inputs or not layer.spatial or layer.arity != 1:
            continue  # element-wise and reducing readers read the own tile only
        out = Tiling.of(info.out_shape, mesh)
        for r in range(mesh.rows):
            r0, r1 = layer.input_rows(
                int(out.row_bounds[r]), int(out.row_bounds[r + 1]), h, info.out_shape.height
            )
            for c in range(mesh.cols):
                c0, c1 = layer.input_cols(
                    int(out.col_bounds[c]), int(out.col_bounds[c + 1]), w, info.out_shape.width
                )
                masks[r * mesh.cols + c, int(r0) : int(r1), int(c0) : int(c1)] = True
    return masks.reshape(mesh.chips, h * w)


def xy_route(src: int, dst: int, cols: int) -> tuple[tuple[int, int], ...]:
    """Directed links from ``src`` to ``dst``: along the row first (X), then the column (Y)."""
    r, c = divmod(src, cols)
    r1, c1 = divmod(dst, cols)
    links = []
    while c != c1:
        step = 1 if c1 > c else -1
        links.append((r * cols + c, r * cols + c + step))
        c += step
    while r != r1:
        step = 1 if r1 > r else -1
        links.append((r * cols + c, (r + step) * cols + c))
        r += step
    return tuple(links)


def retile(
    net: ShapedNetwork, source: str, prev: Stage, stage: Stage, value_bits: int, mesh: Mesh
) -> tuple[Transfer, ...]:
    """Messages moving ``source`` from ``prev``'s tiles to the pixels ``stage``'s chips need.

    One message per (sender, receiver) pair that share pixels, routed XY over the links,
    in receiver order then sender order.
    """
    shape = net.shape_of(source)
    need = needed_pixels(stage.plan.network, stage.plan.hw.mesh).reshape(
        len(stage.chips), shape.height, shape.width
    )
    held = Tiling.of(shape, prev.plan.hw.mesh)
    pcols = prev.plan.hw.mesh.cols
    out = []
    for j, dst in enumerate(stage.chips):
        for i, src in enumerate(prev.chips):
            r, c = divmod(i, pcols)
            pixels = int(
                need[j, held.row_bounds[r] : held.row_bounds[r + 1],
                     held.col_bounds[c] : held.col_bounds[c + 1]].sum()
            )  # fmt: skip
            if pixels:
                bits = pixels * shape.channels * value_bits
                out.append(Transfer(src, dst, bits, xy_route(src, dst, mesh.cols)))
    return tuple(out)


__all__ = ["Stage", "cut_points", "needed_pixels", "pipeline_plan", "retile", "sub_network"]
