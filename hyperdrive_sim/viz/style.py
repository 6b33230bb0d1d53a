"""Every style constant of the figures: colours, labels, sizes, units. One place only.

Colours are colour-blind safe (Okabe-Ito). Compute-side energy parts are cool colours and
I/O parts warm ones, so "how much is I/O" reads at a glance in every figure.
"""

from __future__ import annotations

from hyperdrive_sim.pricing import PARTS

#: energy part -> colour, the same in every figure
PART_COLORS: dict[str, str] = {
    "core": "#0072B2",
    "onchip_mem": "#56B4E9",
    "offchip_io": "#D55E00",
    "c2c_io": "#E69F00",
    "leakage": "#999999",
}
#: energy part -> legend label
PART_LABELS: dict[str, str] = {
    "core": "core compute",
    "onchip_mem": "on-chip memory",
    "offchip_io": "off-chip I/O",
    "c2c_io": "chip-to-chip I/O",
    "leakage": "leakage",
}
assert set(PART_COLORS) == set(PARTS) == set(PART_LABELS), "style.py is out of date with PARTS"
#: parts that count as I/O in the "I/O share" of a frame's energy
IO_PARTS = ("offchip_io", "c2c_io")
#: the frame-level bars split off-chip I/O into weights and image/results (result columns)
FRAME_PARTS: dict[str, tuple[str, str]] = {  # column -> (colour, label)
    "core_energy_j": (PART_COLORS["core"], PART_LABELS["core"]),
    "onchip_mem_energy_j": (PART_COLORS["onchip_mem"], PART_LABELS["onchip_mem"]),
    "offchip_weight_energy_j": (PART_COLORS["offchip_io"], "off-chip I/O: weights"),
    "image_io_energy_j": ("#CC79A7", "off-chip I/O: image and results"),
    "c2c_io_energy_j": (PART_COLORS["c2c_io"], PART_LABELS["c2c_io"]),
    "leakage_energy_j": (PART_COLORS["leakage"], PART_LABELS["leakage"]),
}

#: chip activity (timeline and per-layer cycles) -> colour / label
ACTIVITY_COLORS: dict[str, str] = {
    "busy": "#009E73",
    "busy_alt": "#66C5AB",
    "stall_weight": "#D55E00",
    "stall_border": "#E69F00",
    "stall_io": "#CC79A7",
    "wait_other": "#BBBBBB",
}
ACTIVITY_LABELS: dict[str, str] = {
    "busy": "compute / transfer",
    "busy_alt": "compute / transfer (next layer)",
    "stall_weight": "stall: waiting for weights",
    "stall_border": "stall: waiting for halo (border) pixels",
    "stall_io": "waiting for input image",
    "wait_other": "other wait",
}
#: interval labels (as the simpy evaluator writes them) -> activity; any other label is busy
INTERVAL_ACTIVITY: dict[str, str] = {
    **{name: name for name in ACTIVITY_COLORS if name != "busy_alt"},
    "stall: weights": "stall_weight",
    "stall: halo": "stall_border",
    "wait: image": "stall_io",
    "wait: partial vector": "wait_other",
}

#: link and off-chip transfers of a trace (label prefix as the simpy evaluator writes it,
#: e.g. "halo layer1.0.conv1") -> colour / label; unknown prefixes are "other"
TRANSFER_COLORS: dict[str, str] = {
    "weights": "#D55E00",
    "halo": "#E69F00",
    "reduce": "#0072B2",
    "image": "#56B4E9",
    "results": "#F0E442",
    "other": "#999999",
}
TRANSFER_LABELS: dict[str, str] = {
    "weights": "weights",
    "halo": "halo (border) pixels",
    "reduce": "partial sums (reduce)",
    "image": "input image",
    "results": "results",
    "other": "other transfer",
}
#: bins of the link / off-chip activity panel of a trace
TRANSFER_BINS = 200

#: does-not-fit markers (and the label of points the simulator failed on)
INFEASIBLE_LABEL = "does not fit"
FAILED_LABEL = "failed"
INFEASIBLE_COLOR = "#C0C0C0"
INFEASIBLE_TEXT_COLOR = "#606060"
INFEASIBLE_HATCH = "///"
INFEASIBLE_MARKER = "x"
#: line plots: depth of the grey "does not fit" band below zero (fraction of the axis top)
INFEASIBLE_BAND = 0.12
INFEASIBLE_BAND_COLOR = "#EEEEEE"

#: series colours of lines (one per network/resolution), cycled
SERIES_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: mesh aspect (cols/rows) -> marker; other aspects use MARKER_OTHER
ASPECT_MARKERS: dict[float, str] = {1.0: "o", 2.0: "s", 0.5: "D"}
MARKER_OTHER = "^"
MARKER_SIZE = 6
#: offsets (points) of point labels above / below their marker
LABEL_OFFSET = (4, 4)
LABEL_OFFSET_BELOW = (4, -10)
#: gap (points) between a bar and its annotation
ANNOTATION_GAP = 3
LINE_WIDTH = 1.8
SECONDARY_LINE_WIDTH = 1.1
SECONDARY_LINE_STYLE = "--"

#: output
DPI = 150
FORMATS = ("png", "svg")

#: font sizes (points)
FONT_SIZE = 9
TITLE_SIZE = 11
SMALL_FONT_SIZE = 7
#: matplotlib settings while drawing and saving; SVG keeps text as text (searchable, editable)
RC: dict[str, object] = {
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "figure.titlesize": TITLE_SIZE,
    "legend.fontsize": SMALL_FONT_SIZE + 1,
    "xtick.labelsize": SMALL_FONT_SIZE + 1,
    "ytick.labelsize": SMALL_FONT_SIZE + 1,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "hyperdrive_sim",
}

#: bar thickness (fraction of a slot) and bar edge (points)
BAR_WIDTH = 0.7
BAR_EDGE_WIDTH = 0.6
#: bar charts of points: vertical up to this many points, horizontal beyond
MAX_VERTICAL_POINTS = 10
#: figure sizes (inches)
POINT_FIG_WIDTH = 8.0
POINT_FIG_HEIGHT = 4.8
POINT_ROW_HEIGHT = 0.28
LAYER_ROW_HEIGHT = 0.16
FIG_MIN_HEIGHT = 3.5
FIG_MARGIN_HEIGHT = 1.6
SCATTER_WIDTH = 3.6
TILING_FIG_SIZE = (10.0, 7.0)
LAYER_FIG_WIDTH = 13.0
TIMELINE_FIG_WIDTH = 11.0
TIMELINE_ROW_HEIGHT = 0.35
TIMELINE_BAR_HEIGHT = 0.7
#: head-room above the tallest bar for its annotation (fraction of the axis range)
HEADROOM = 0.15
GRID_ALPHA = 0.3
LEGEND_COLUMNS = 4
LAYER_LEGEND_COLUMNS = 6
TIMELINE_LEGEND_COLUMNS = 3
#: height (inches) of the link / off-chip activity panel under a trace's chip timeline
TIMELINE_LINK_HEIGHT = 1.8
#: traces drawn per results folder (the first ones in sorted file order)
MAX_TIMELINES = 8
#: sweep curves: log x axis when the largest value exceeds the smallest by more than this
LOG_SPAN = 20.0
#: sweep curves: tick labels at the swept values when there are at most this many
MAX_VALUE_TICKS = 12
SWEEP_FIG_SIZE = (14.5, 4.6)
#: dash length (points) of core-only lines; identical lines interleave their dashes
CORE_DASH = 4.0
#: accelerator comparison: width (inches) of the figure and height per (network, input) row
COMPARISON_FIG_WIDTH = 12.0
COMPARISON_ROW_HEIGHT = 3.8
#: accelerator comparison with horizontal slots: height (inches) per two-line slot
COMPARISON_SLOT_HEIGHT = 0.36
#: markers of core-only and system-level efficiency (accelerator comparison)
CORE_MARKER = "o"
SYSTEM_MARKER = "s"
#: line from core to system efficiency: the loss, coloured as I/O
LOSS_COLOR = "#D55E00"
#: white box behind annotations, so grid and reference lines do not cross the text
TEXT_BOX: dict[str, object] = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
TICK_ROTATION = 30
#: line length of wrapped does-not-fit reasons (characters)
REASON_WRAP_CHARS = 60

#: unit conversions
MJ_PER_J = 1e3
UJ_PER_J = 1e6
PERCENT = 100.0
US_PER_S = 1e6
MS_PER_S = 1e3
CYCLES_PER_KCYCLE = 1e3
BITS_PER_MBIT = 1e6
HZ_PER_MHZ = 1e6
