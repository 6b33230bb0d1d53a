"""What users write: chip, system, energy table and experiment specs (pydantic, frozen).

Every preset number carries a provenance note in the spec's ``sources`` mapping (a citation,
or "assumption: why"). Nothing downstream re-validates these objects.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hyperdrive_sim import limits
from hyperdrive_sim.errors import did_you_mean
from hyperdrive_sim.spec.accelerator import AcceleratorSpec
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.base import META, Sourced, Spec, integer, number

Voltage = number(ge=limits.MIN_VOLTAGE_V, le=limits.MAX_VOLTAGE_V)
Frequency = number(ge=limits.MIN_FREQUENCY_MHZ, le=limits.MAX_FREQUENCY_MHZ)
Bandwidth = number(ge=limits.MIN_BANDWIDTH_GBPS, le=limits.MAX_BANDWIDTH_GBPS)
Latency = number(ge=0, le=limits.MAX_LATENCY_NS)
Energy = number(ge=0, le=limits.MAX_ENERGY_PJ)
Leakage = number(ge=0, le=limits.MAX_LEAKAGE_MW)
Exponent = number(ge=0, le=limits.MAX_VOLTAGE_EXPONENT)
MemoryBits = integer(ge=0, le=limits.MAX_MEMORY_BITS)
WordBits = integer(gt=0, le=limits.MAX_WORD_BITS)


def _dims(text: Any, what: str, order: str, example: str, limit: int) -> tuple[int, int]:
    wrong = f"{what} must be written {order} (e.g. {example!r}), got {text!r}"
    if isinstance(text, (list, tuple)) and len(text) == 2:
        a, b = text
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
            raise ValueError(wrong)
    elif isinstance(text, str) and (m := re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)):
        a, b = int(m.group(1)), int(m.group(2))
    elif isinstance(text, int) and not isinstance(text, bool):  # YAML reads 0x2 as hex 2
        raise ValueError(f"{wrong}; YAML reads a bare 0x... as a hex number, so quote it")
    else:
        raise ValueError(wrong)
    if a < 1 or b < 1:
        raise ValueError(f"{what} ({order}) must be positive, got {text!r}")
    if max(a, b) > limit:
        raise ValueError(
            f"{what} ({order}) side must be at most {limit} (the input limit), got {text!r}"
        )
    return a, b


#: landscape video and display sizes (WIDTHxHEIGHT); one written the other way round
#: (1080x1920) is most likely a swap of width and height, and is warned about
LANDSCAPE_SIZES = frozenset(
    {(640, 480), (800, 600), (1024, 768), (1280, 720), (1280, 1024), (1920, 1080),
     (2048, 1080), (2560, 1440), (3840, 2160), (4096, 2160), (7680, 4320)}
)  # fmt: skip
#: height over width from which a portrait input is warned about (16:9 turned on its side),
#: for frames whose width is at least SWAP_WARNING_MIN_WIDTH (small test images are not)
SWAP_WARNING_RATIO = 16 / 9
SWAP_WARNING_MIN_WIDTH = 240


def _likely_swapped(width: int, height: int) -> bool:
    """A portrait size that is a standard landscape size turned round, or a video-sized one
    taller than 16:9."""
    tall = width >= SWAP_WARNING_MIN_WIDTH and height >= SWAP_WARNING_RATIO * width
    return height > width and ((height, width) in LANDSCAPE_SIZES or tall)


FINITE = ConfigDict(allow_inf_nan=False)  # merged into Spec's frozen, extra=forbid


class Mesh(Spec):
    """Chips arranged as rows x cols; written '4x2' (4 rows, 2 columns)."""

    rows: integer(gt=0, le=limits.MAX_MESH_SIDE)
    cols: integer(gt=0, le=limits.MAX_MESH_SIDE)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, (dict, Mesh)):
            rows, cols = _dims(data, "a mesh", "ROWSxCOLS", "4x2", limits.MAX_MESH_SIDE)
            return {"rows": rows, "cols": cols}
        return data

    @property
    def chips(self) -> int:
        return self.rows * self.cols

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols}"


class Resolution(Spec):
    """An input image size; strings are written WIDTHxHEIGHT as for video ('1920x1080')."""

    height: integer(gt=0, le=limits.MAX_INPUT_SIDE)
    width: integer(gt=0, le=limits.MAX_INPUT_SIDE)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, (dict, Resolution)):
            width, height = _dims(
                data, "an input resolution", "WIDTHxHEIGHT", "1920x1080", limits.MAX_INPUT_SIDE
            )
            if _likely_swapped(width, height):
                warnings.warn(
                    f"input {width}x{height} is read as WIDTHxHEIGHT: {width} wide and {height} "
                    f"high, a portrait image; write {height}x{width} for a landscape one",
                    UserWarning,
                    stacklevel=2,
                )
            return {"height": height, "width": width}
        return data

    @model_validator(mode="after")
    def _pixels(self) -> Resolution:
        if self.height * self.width > limits.MAX_INPUT_PIXELS:
            raise ValueError(
                f"an input image may have at most {limits.MAX_INPUT_PIXELS} pixels "
                f"(the input limit), got {self}"
            )
        return self

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class OperatingPoint(Spec):
    model_config = FINITE  # .inf would pass gt=0 and break the arithmetic

    voltage_v: Voltage
    frequency_mhz: Frequency


class ChipSpec(Sourced):
    """One Hyperdrive chip: an M x N array of Tile-PUs with C FMPUs each."""

    tile_rows: integer(gt=0, le=limits.MAX_TILE_SIDE) = Field(description="M: Tile-PU rows")
    tile_cols: integer(gt=0, le=limits.MAX_TILE_SIDE) = Field(description="N: Tile-PU columns")
    fmpus_per_tile: integer(gt=0, le=limits.MAX_FMPUS) = Field(
        description="C: output channels computed in parallel"
    )
    fmm_bits: integer(gt=0, le=limits.MAX_MEMORY_BITS) = Field(
        description="feature-map memory capacity in bits"
    )
    border_buffer_bits: MemoryBits = Field(
        description="separate memory for halo pixels; 0 means halos are held in the FMM"
    )
    weight_buffer_blocks: integer(gt=0, le=limits.MAX_BUFFER_BLOCKS) = Field(
        description="weight blocks the buffer holds (2 = double buffering)"
    )
    activation_bits: WordBits = Field(description="bits per feature-map value (FP16: 16)")
    weight_bits: WordBits = Field(description="bits per weight (binary: 1)")
    operating_points: dict[str, OperatingPoint]
    operating_point: str = Field(description="name of the operating point in use")
    activation_mode: Literal["fp16", "binary"] = Field(
        default="fp16",
        description="binary: 1-bit feature maps and XNOR-popcount MACs (XNORBIN-style BNN)",
    )
    binary_keep_first_last: bool = Field(
        default=True,
        description="binary mode: the image and the network outputs keep activation_bits",
    )
    scaling_factors: bool = Field(
        default=False,
        description="one trainable FP16 scaling factor multiply per output value (Xu, Cheung)",
    )
    pruning: Literal["none", "kernel_reuse"] = Field(
        default="none",
        description="kernel_reuse: kernels computed from a similar kernel (Gao, Liu, Lai)",
    )
    pruning_seed: integer(ge=0, le=limits.MAX_SEED) = Field(
        default=0, description="seed of the random +-1 weights"
    )
    pruning_weights: str | None = Field(
        default=None,
        description=".npz/.npy/.onnx weights for kernel reuse and the kernel dictionary "
        "(signs taken)",
    )
    weight_cache_bits: MemoryBits = Field(
        default=0, description="on-chip cache keeping weight blocks across frames (Vieira et al.)"
    )
    weight_cache_policy: Literal["most_used", "lru"] = Field(
        default="most_used", description="most_used pins blocks; lru evicts the oldest"
    )
    kernel_dictionary_bits: MemoryBits = Field(
        default=0,
        description="store near the FMPUs for a layer's unique binary kernel patterns; conv "
        "layers stream pattern indices when smaller (Vieira et al.); 0 = off",
    )
    fuse_pooling: bool = Field(
        default=False,
        description="a conv read only by the next layer, a max/avg pool, stores only the "
        "pooled output of each weight block plus the conv outputs that border pool windows "
        "and neighbours' halos need; pooling adds and cycles unchanged (assumption: a "
        "pooling unit at the FMPU outputs, not in the published chip; docs/model.md)",
    )

    @field_validator("operating_point")
    @classmethod
    def _point_exists(cls, value: str, info: ValidationInfo) -> str:
        points = info.data.get("operating_points")
        if points is not None and value not in points:  # None: already reported as invalid
            known = ", ".join(sorted(points)) or "none defined"
            raise ValueError(
                f"operating point {value!r} is not defined; expected one of the names under "
                f"operating_points: {known}"
            )
        return value

    @property
    def tiles(self) -> int:
        return self.tile_rows * self.tile_cols

    @property
    def point(self) -> OperatingPoint:
        return self.operating_points[self.operating_point]


class SystemSpec(Sourced):
    """The mesh of chips, their links and the off-chip memory interface."""

    model_config = FINITE

    mesh: Mesh
    weight_distribution: Literal["bus", "chain"] = Field(
        description="bus: one off-chip read reaches every chip; chain: chips forward weights"
    )
    corner_routing: Literal["relay", "diagonal"] = Field(
        description="corner halo pixels relayed through an edge neighbour or sent diagonally"
    )
    offchip_bandwidth_gbps: Bandwidth
    offchip_latency_ns: Latency
    offchip_burst_bits: integer(gt=0, le=limits.MAX_MEMORY_BITS) = Field(
        default=65536,
        description="the off-chip interface moves image tiles and results in bursts of at "
        "most this many bits, taking turns with the weight reads (one read per block)",
    )
    link_bandwidth_gbps: Bandwidth
    link_latency_ns: Latency
    border_exchange: Literal["bulk", "streamed"] = Field(
        default="bulk",
        description="bulk: a layer's halos leave in one message per neighbour when the layer "
        "ends; streamed: each weight block's border outputs leave when its phase ends",
    )
    partitioning: Literal["spatial", "channel", "hybrid"] = Field(
        default="spatial",
        description="spatial: every layer tiled over the mesh; channel: every layer's output "
        "channels split over the chips, each holding whole maps; hybrid: spatial, then "
        "channel from the cut the planner finds fastest",
    )
    organisation: Literal["tiled", "pipeline"] = Field(
        default="tiled",
        description="tiled: every layer split over the whole mesh, weights streamed; "
        "pipeline: groups of chips own consecutive layers with their weights stationary",
    )
    pipeline_stages: integer(ge=0, le=limits.MAX_MESH_CHIPS) = Field(
        default=0,
        description="pipeline: number of chip groups (0: the fewest whose weights fit)",
    )
    frames: integer(ge=1, le=limits.MAX_FRAMES) = Field(
        default=3,
        description="frames simulated back to back (tiled organisation): fps is the "
        "steady-state rate at which frames leave (3 reach it); 1: one frame alone, "
        "fps = 1 / latency. The pipeline organisation computes its steady state directly "
        "and does not use it",
    )
    batch: integer(ge=1, le=limits.MAX_BATCH) = Field(
        default=1,
        description="frames each weight block is applied to while it is in the buffer; all "
        "B frames' maps are held in the FMM",
    )

    fusion: Literal["layer_by_layer", "depth_first"] = Field(
        default="layer_by_layer",
        description="layer_by_layer: every layer's whole map is computed before the next; "
        "depth_first: the first layers run as a fused stack band by band, so only a few "
        "rows of their maps are in the FMM at a time (docs/depth_first.md)",
    )
    fused_layers: integer(ge=0, le=limits.MAX_LAYERS) = Field(
        default=0,
        description="depth_first: consecutive layers from the network's start run band by "
        "band (0: the planner chooses)",
    )
    band_rows: integer(ge=0, le=limits.MAX_INPUT_SIDE) = Field(
        default=0,
        description="depth_first: output rows of the fused stack's last layer computed per "
        "band on each chip, at most (0: the planner chooses)",
    )
    band_overlap: Literal["cache", "recompute"] = Field(
        default="cache",
        description="depth_first: rows a band shares with the next band are kept in the FMM "
        "(cache, the default: a few rows per layer cost less FMM than recomputing them "
        "costs cycles and energy) or recomputed by the next band",
    )

    @field_validator("pipeline_stages", "batch")
    @classmethod
    def _fits_organisation(cls, value: int, info: ValidationInfo) -> int:
        pipeline = info.data.get("organisation") == "pipeline"
        if info.field_name == "pipeline_stages" and value and not pipeline:
            raise ValueError("applies to organisation: pipeline (this system is tiled)")
        if info.field_name == "batch" and value != 1 and pipeline:
            raise ValueError(
                f"{value} applies to organisation: tiled; the pipeline organisation reports "
                "its own steady state (leave it at 1)"
            )
        return value

    @model_validator(mode="after")
    def _fusion_combinations(self) -> SystemSpec:
        if self.fusion == "layer_by_layer":
            for key, default in (("fused_layers", 0), ("band_rows", 0), ("band_overlap", "cache")):
                if getattr(self, key) != default:
                    raise ValueError(
                        f"{key}: {getattr(self, key)!r} applies to fusion: depth_first (this "
                        f"system runs layer_by_layer); remove it or set fusion: depth_first"
                    )
            return self
        clash = [
            (key, value, allowed)
            for key, value, allowed in (
                ("organisation", self.organisation, "tiled"),
                ("partitioning", self.partitioning, "spatial"),
                ("batch", self.batch, 1),
            )
            if value != allowed
        ]
        if clash:
            key, value, allowed = clash[0]
            raise ValueError(
                f"fusion: depth_first is modelled with {key}: {allowed} only, got {key}: "
                f"{value!r}; set fusion: layer_by_layer or {key}: {allowed}"
            )
        return self


class EnergyTable(Sourced):
    """Energy per action at ``reference_voltage_v``; pricing scales core and memory with V."""

    model_config = FINITE

    reference_voltage_v: Voltage
    binary_mac_pj: Energy = Field(description="one binary-weight MAC (FP16 add/subtract)")
    fp16_add_pj: Energy = Field(description="FP16 add or compare (pooling, residual, reduce)")
    xnor_mac_pj: Energy = Field(description="one XNOR-popcount MAC on 1-bit activations")
    fp16_mul_pj: Energy = Field(description="FP16 multiply (scaling factors)")
    fmm_read_pj_per_bit: Energy
    fmm_write_pj_per_bit: Energy
    wbuf_read_pj_per_bit: Energy
    wbuf_write_pj_per_bit: Energy
    offchip_pj_per_bit: Energy = Field(description="off-chip memory + pads, per bit moved")
    c2c_pj_per_bit: Energy = Field(description="chip-to-chip link, per bit per hop")
    logic_leakage_mw_per_chip: Leakage = Field(
        description="leakage of a chip's logic (datapath, control, pads), SRAM excluded"
    )
    sram_leakage_mw_per_mbit: Leakage = Field(
        description="leakage of every SRAM bit on a chip (FMM, border buffer, weight cache)"
    )
    sram_reference_bits: integer(gt=0, le=limits.MAX_MEMORY_BITS) = Field(
        description="SRAM capacity at which the fmm_*_pj_per_bit values hold"
    )
    sram_energy_exponent: number(ge=0, le=limits.MAX_SRAM_EXPONENT) = Field(
        description="SRAM access energy per bit scales with (capacity / reference) ** this"
    )
    dynamic_voltage_exponent: Exponent = Field(
        description="core and on-chip memory energy scale with (V / V_ref) ** this"
    )
    leakage_voltage_exponent: Exponent = Field(
        description="leakage power scales with (V / V_ref) ** this"
    )

    @model_validator(mode="after")
    def _some_energy(self) -> EnergyTable:
        actions = [k for k in type(self).model_fields if k.endswith(("_pj", "_pj_per_bit"))]
        if all(getattr(self, k) == 0 for k in actions):
            raise ValueError(
                "every per-action energy is 0; at least one must be positive, since an "
                "efficiency in TOp/s/W is undefined at zero energy"
            )
        return self


class NetworkRef(Spec):
    """A network: a zoo name, a YAML network file (``file:``) or an ONNX model (``onnx:``)."""

    zoo: str | None = None
    file: str | None = None
    onnx: str | None = None
    allow_unsupported: bool = Field(
        default=False,
        description="ONNX only: treat unsupported operators as zero-cost (with a warning)",
    )

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data.endswith((".yaml", ".yml")):
                return {"file": data}
            return {"onnx": data} if data.endswith(".onnx") else {"zoo": data}
        return data

    @model_validator(mode="after")
    def _one(self) -> NetworkRef:
        if sum(v is not None for v in (self.zoo, self.file, self.onnx)) != 1:
            raise ValueError(
                "give exactly one of 'zoo' (a zoo name), 'file' (a YAML network) or "
                "'onnx' (an ONNX model)"
            )
        if self.allow_unsupported and self.onnx is None:
            raise ValueError("allow_unsupported applies to ONNX models only")
        return self

    def __str__(self) -> str:
        return self.zoo or str(self.file or self.onnx)


def _known_network(ref: NetworkRef) -> NetworkRef:
    """Zoo names are checked while validating, so the error names the file and key path."""
    from hyperdrive_sim.workload.zoo import ZOO

    if ref.zoo is not None and ref.zoo not in ZOO:
        hint = did_you_mean(ref.zoo, ZOO)
        raise ValueError(
            f"unknown network {ref.zoo!r}{hint}; expected a zoo name ({', '.join(ZOO)}) "
            "or a network file ending in .yaml or .onnx"
        )
    return ref


KnownNetwork = Annotated[NetworkRef, AfterValidator(_known_network)]
Evaluator = Literal["analytic", "simpy"]  # keep in step with evaluators.EVALUATORS
SWEEP_TOP = ("network", "input", "mesh", "evaluator")
SWEEP_SECTIONS = {
    "chip": ChipSpec,
    "system": SystemSpec,
    "energy": EnergyTable,
    "area": AreaTable,
}


def check_axis(path: str) -> None:
    head, _, rest = path.partition(".")
    if path in SWEEP_TOP:
        return
    model = SWEEP_SECTIONS.get(head)
    if model is None or not rest:
        hint = did_you_mean(path, SWEEP_TOP) or did_you_mean(head, SWEEP_SECTIONS)
        raise ValueError(
            f"sweep axis {path!r} is not a spec path{hint}; use one of {', '.join(SWEEP_TOP)}, "
            "or chip.<key>, system.<key>, energy.<key>"
        )
    key = rest.split(".")[0]
    if key not in model.model_fields or key in META:
        keys = [k for k in sorted(model.model_fields) if k not in META]
        raise ValueError(
            f"sweep axis {path!r}: {head} has no key {key!r}{did_you_mean(key, keys)}; "
            f"allowed: {', '.join(keys)}"
        )


def _one_value(path: str, value: Any) -> Any:
    """A value of ``set``: one value, not a list of them (a mesh or input as "4x4")."""
    if isinstance(value, list | dict):
        raise ValueError(
            f"{path!r}: an alternative sets one value; give several in its 'cases' instead"
        )
    return value


class Alternative(Spec):
    """A named set of overrides, compared with the experiment's other alternatives.

    ``set`` holds the overrides that make the alternative (dotted paths, one value each);
    ``cases`` says where it runs: each case is a mapping of dotted paths (``network``,
    ``input``, ``mesh``, ``evaluator`` or a ``chip.``/``system.``/``energy.``/``area.`` key)
    to one value or a list of values (the case runs every combination of its lists). With
    no cases the alternative runs once on each point of the rest of the experiment.
    """

    name: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="how figures, tables and the `alternative` column name it (no '=')"
    )
    set: dict[str, Any] = Field(
        default_factory=dict, description="the overrides: dotted path -> one value"
    )
    cases: list[dict[str, Any]] = Field(
        default_factory=list,
        description="where it runs: dotted path -> value or list of values (every combination)",
    )

    @model_validator(mode="after")
    def _paths_valid(self) -> Alternative:
        if "=" in self.name or "\n" in self.name:
            raise ValueError(f"name {self.name!r}: a name has no '=' and no line break")
        for path, value in self.set.items():
            check_axis(path)
            _one_value(path, value)
        for case in self.cases:
            for path, values in case.items():
                check_axis(path)
                if path in self.set:
                    raise ValueError(f"{path!r} is both in 'set' and in a case; keep one")
                if isinstance(values, list) and not values:
                    raise ValueError(f"case axis {path!r} has no values")
        return self

    def case_points(self) -> list[dict[str, Any]]:
        """Overrides of each point of the alternative: ``set`` plus one combination of a
        case's values, cases in order (one point of ``set`` alone without cases)."""
        points = []
        for case in self.cases or [{}]:
            axes = {k: v if isinstance(v, list) else [v] for k, v in case.items()}
            for combo in itertools.product(*axes.values()):
                points.append({**self.set, **dict(zip(axes, combo, strict=True))})
        return points


class SweepSpec(Spec):
    """Axes over dotted spec paths: ``grid`` (cartesian), ``zip`` (paired), named tilings,
    and named ``alternatives`` (override sets compared side by side)."""

    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    zip: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    tilings: dict[str, Annotated[list[Mesh], Field(min_length=1)]] = Field(
        default_factory=dict, description="named lists of mesh shapes (replace `meshes`)"
    )
    alternatives: list[Alternative] = Field(
        default_factory=list,
        description="named override sets compared side by side, each on its own cases",
    )

    @model_validator(mode="after")
    def _axes_valid(self) -> SweepSpec:
        for path in (*self.grid, *self.zip):
            check_axis(path)
        both = set(self.grid) & set(self.zip)
        if both:
            raise ValueError(f"axis {sorted(both)[0]!r} is in both grid and zip")
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in self.zip.items())
            raise ValueError(f"zip axes must have equal lengths, got {sizes}")
        if self.tilings and "mesh" in (*self.grid, *self.zip):
            raise ValueError("give mesh shapes either as tilings or as a mesh axis, not both")
        names = [a.name for a in self.alternatives]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"alternative {twice[0]!r} is named twice; names must differ")
        for alt in self.alternatives:
            paths = set(alt.set).union(*alt.cases) if alt.cases else set(alt.set)
            clash = sorted(paths & {*self.grid, *self.zip, *(("mesh",) if self.tilings else ())})
            if clash:
                raise ValueError(
                    f"alternative {alt.name!r} sets {clash[0]!r}, which is also a sweep axis; "
                    "keep one"
                )
        if self.combinations > limits.MAX_POINTS:
            raise ValueError(
                f"the sweep has {self.combinations} combinations "
                f"({' x '.join(str(n) for n in self._sizes())}), more than the limit of "
                f"{limits.MAX_POINTS} points of one experiment"
            )
        return self

    def _sizes(self) -> list[int]:
        sizes = [len(v) for v in self.grid.values()]
        if self.zip:
            sizes.insert(0, len(next(iter(self.zip.values()))))
        return sizes

    @property
    def combinations(self) -> int:
        """Value combinations of grid and zip axes, times the points of the alternatives
        (tilings not included), by multiplication."""
        alternatives = sum(len(a.case_points()) for a in self.alternatives)
        return math.prod(self._sizes()) * (alternatives or 1)


class PointSpec(Spec):
    """One fully resolved point of an experiment; its JSON is hashed for the cache."""

    network: KnownNetwork
    input: Resolution
    mesh: Mesh
    evaluator: Evaluator
    chip: ChipSpec
    system: SystemSpec
    energy: EnergyTable
    area: AreaTable
    labels: dict[str, Any] = Field(default_factory=dict)


#: sections an experiment may omit: they default to these bundled presets (configs/...)
DEFAULT_SECTIONS = {
    "chip": "chips/hyperdrive.yaml",
    "system": "systems/hyperdrive_mesh.yaml",
    "energy": "energy/hyperdrive_22fdx.yaml",
    "area": "area/hyperdrive_22fdx.yaml",
}


class ExperimentSpec(Spec):
    """What to simulate: networks x inputs x meshes on one chip, system and energy table.

    ``chip``, ``system``, ``energy`` and ``area`` default to the bundled Hyperdrive presets
    (``section_defaults``); a section given without ``include:`` overrides the preset's keys.
    """

    section_defaults: ClassVar[dict[str, str]] = DEFAULT_SECTIONS

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str = ""
    networks: list[KnownNetwork] = Field(
        default_factory=list, description="zoo names or YAML network files"
    )
    inputs: list[Resolution] = Field(
        default_factory=list, description="WIDTHxHEIGHT strings (1920x1080 is landscape)"
    )
    meshes: list[Mesh] = Field(
        default_factory=list,
        description="mesh shapes to try, ROWSxCOLS; empty means the system's mesh",
    )
    chip: ChipSpec
    system: SystemSpec
    energy: EnergyTable
    area: AreaTable
    evaluator: Evaluator = "analytic"
    sweep: SweepSpec | None = None
    baselines: list[AcceleratorSpec] = Field(
        default_factory=list,
        description="other accelerators priced on the same networks and inputs (one row each)",
    )
    output_dir: str | None = Field(
        default=None, description="where results go; default results/<name>/"
    )
    explore: ExploreSpec | None = Field(
        default=None,
        description="a design space to search with `hyperdrive-sim explore` (Pareto front)",
    )

    @model_validator(mode="after")
    def _has_axes(self) -> ExperimentSpec:
        swept = set(self.sweep.grid) | set(self.sweep.zip) if self.sweep else set()
        alternatives = self.sweep.alternatives if self.sweep else []
        # the paths every point of the alternatives sets, and those some point sets
        points = [p for a in alternatives for p in a.case_points()]
        always = set.intersection(*(set(p) for p in points)) if points else set()
        sometimes = set().union(*points)
        for key, axis in (("networks", "network"), ("inputs", "input")):
            if not getattr(self, key) and axis not in swept | always:
                raise ValueError(
                    f"give at least one entry in {key!r} (or a sweep axis {axis!r}, or "
                    f"{axis!r} in every case of the alternatives)"
                )
            if getattr(self, key) and axis in swept | sometimes:
                raise ValueError(f"{axis!r} is both in {key!r} and a sweep axis; keep one")
        if self.meshes and self.sweep and (self.sweep.tilings or "mesh" in swept | sometimes):
            raise ValueError(
                "give mesh shapes in one place: meshes, sweep.tilings, a mesh axis or the "
                "alternatives' cases"
            )
        if self.explore is not None:
            beside = [k for k in ("sweep", "meshes", "baselines") if getattr(self, k)]
            if beside:
                raise ValueError(
                    f"{beside[0]!r} is not used beside 'explore' (explore.mesh sets the meshes, "
                    "explore.axes the swept values, and explore compares no baselines); "
                    "remove it or move it to another experiment"
                )
        return self


from hyperdrive_sim.spec.explore import ExploreSpec  # noqa: E402  (it uses Mesh from here)

ExperimentSpec.model_rebuild()
