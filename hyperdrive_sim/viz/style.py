"""Every style constant of the figures: sizes, units, markers; the colours and their
meanings are in ``viz.palette`` (re-exported here).
"""

from __future__ import annotations

from hyperdrive_sim.viz.palette import (
    ENERGY_PARTS,
    IO_PARTS,
    MEANINGS,
    color,
    label,
)

__all__ = ["ENERGY_PARTS", "IO_PARTS", "MEANINGS", "color", "label"]

#: chip activity (timeline and per-layer cycles) -> meaning, in legend order
ACTIVITIES: dict[str, str] = {
    "busy": "compute",
    "busy_alt": "compute_alt",
    "stall_weight": "stall_weight",
    "stall_border": "stall_border",
    "stall_io": "stall_io",
    "wait_other": "wait_other",
}
ACTIVITY_COLORS: dict[str, str] = {a: color(m) for a, m in ACTIVITIES.items()}
ACTIVITY_LABELS: dict[str, str] = {a: label(m) for a, m in ACTIVITIES.items()}
#: interval labels (as the simpy evaluator writes them) -> activity; any other label is busy
INTERVAL_ACTIVITY: dict[str, str] = {
    **{name: name for name in ACTIVITIES if name != "busy_alt"},
    "stall: weights": "stall_weight",
    "stall: halo": "stall_border",
    "wait: image": "stall_io",
    "wait: partial vector": "wait_other",
}

#: link and off-chip transfers of a trace: (trace group, label prefix as the simpy evaluator
#: writes it, e.g. "halo layer1.0.conv1") -> meaning; anything else is "transfer_other"
TRANSFERS: dict[tuple[str, str], str] = {
    ("off-chip", "weights"): "offchip_weights",
    ("off-chip", "image"): "offchip_maps",
    ("off-chip", "results"): "offchip_maps",
    ("links", "halo"): "link_halo",
    ("links", "reduce"): "link_reduce",
    ("links", "weights"): "link_weights",
}
TRANSFER_OTHER = "transfer_other"
assert set(TRANSFERS.values()) | {TRANSFER_OTHER} <= set(MEANINGS), "a transfer of no meaning"
#: bins of the link / off-chip activity panel of a trace
TRANSFER_BINS = 200

#: does-not-fit markers (and the label of points the simulator failed on)
INFEASIBLE_LABEL = "does not fit"
FAILED_LABEL = "failed"
INFEASIBLE_COLOR = "#C0C0C0"
INFEASIBLE_TEXT_COLOR = "#606060"
INFEASIBLE_HATCH = "///"
INFEASIBLE_MARKER = "x"
INFEASIBLE_BAND_COLOR = "#EEEEEE"

#: series colours of lines (one per network/resolution/setting), cycled; none of them is a
#: colour of MEANINGS, so a line never reads as an energy part or an activity
SERIES_COLORS = ("#332288", "#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#000000")
#: markers of lines, one per cycle through SERIES_COLORS, so no two lines look alike
SERIES_MARKERS = ("o", "s", "^", "D")
#: sweep curves: the most lines drawn (with one legend entry each, plus one for the crosses
#: of points that do not fit: a dozen entries at most); the others are named in the title
MAX_SWEEP_LINES = 11
#: mesh shape class -> (colour, marker, legend label): a square marker for square meshes, a
#: right-pointing triangle for wide ones (more columns), an upward one for tall ones
MESH_SHAPES: dict[str, tuple[str, str, str]] = {
    "square": ("#332288", "s", "square mesh (rows = cols)"),
    "wide": ("#117733", ">", "wide mesh (cols > rows)"),
    "tall": ("#882255", "^", "tall mesh (rows > cols)"),
}
#: offset (points) and horizontal alignment of the labels of each mesh shape's points:
#: square above, wide below, tall to the left, so labels of close points do not collide
SHAPE_LABELS: dict[str, tuple[tuple[int, int], str]] = {
    "square": ((3, 5), "left"),
    "wide": ((3, -11), "left"),
    "tall": ((-4, 5), "right"),
}
#: tiling panels: meshes with the same number of chips are spread this far apart (fraction
#: of a factor of 2 on the log-2 chips axis), so none hides another
DODGE = 0.12
#: tiling comparison: panel size (inches) and the most (network, input) rows drawn
TILING_PANEL_SIZE = (3.3, 3.2)
MAX_TILING_ROWS = 12
#: height (fraction of the axes) of the "does not fit" strip at the bottom of line panels
INFEASIBLE_STRIP = 0.1
MARKER_SIZE = 6
#: offset (points) of point labels above their marker
LABEL_OFFSET = (4, 4)
#: gap (points) between a bar and its annotation
ANNOTATION_GAP = 3
LINE_WIDTH = 1.8
SECONDARY_LINE_WIDTH = 1.1
SECONDARY_LINE_STYLE = "--"

#: output: resolution, formats written by default, and every format that can be asked for
DPI = 150
FORMATS = ("png",)
ALL_FORMATS = ("png", "svg", "pdf")
#: worker processes drawing figures at once (at most; never more than the CPU count)
MAX_WORKERS = 4
#: drawing time of a figure relative to the others (rough, from the bundled experiments:
#: a timeline or a many-row tiling or dataflow comparison takes 2-4 s, a sweep curve about
#: 1-2 s), so the workers start the longest first and finish together; others: 1
DRAW_COST: dict[str, float] = {
    "timeline_": 3.0,
    "tiling_comparison": 2.5,
    "dataflow_comparison": 2.0,
    "accelerator_comparison": 2.0,
    "io_vs_core_energy": 1.3,
    "energy_share": 1.3,
    "layer_breakdown": 1.2,
}

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
    # tick labels in full (no "1e6" offset above an axis, where the layout of
    # viz.grid does not look and a panel title would be pushed into the figure's title)
    "axes.formatter.useoffset": False,
    "axes.formatter.limits": (-9, 9),
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
#: bar labels longer than this (characters) make the bars horizontal: labels then read
#: left to right instead of rotated
MAX_VERTICAL_LABEL_CHARS = 14
#: width (inches) of a vertical bar slot when panels sit side by side
POINT_SLOT_WIDTH = 1.1
LAYER_ROW_HEIGHT = 0.16
#: gap (inches) between the layer names and the first panel of the layer breakdown
ROW_NAME_PAD = 0.05
#: figures laid out by hand (the layer breakdown), in inches: margin at the figure's edges,
#: height of the titles above the panels, of the x tick labels and label under them, of a
#: legend row, and the gap between panels (room for the last x tick label of each)
FIG_PAD = 0.1
TITLES_HEIGHT = 0.75
X_AXIS_HEIGHT = 0.55
LEGEND_ROW_HEIGHT = 0.2
PANEL_GAP = 0.3
#: panels laid out by hand (viz.grid), in inches: room right of a panel (its last x tick
#: label, point labels); a legend's padding inside and around its box (0.4 + 0.4 + 0.5
#: font sizes at 8 points); the gap between a row's x label and the next row's title, and
#: between a panel's x label and the title of the panel under it; room left of a title's
#: line, between a y label and the tick labels (matplotlib's labelpad, 4 points), for a
#: tick and its gap to the label (3.5 + 3.5 points), under an axes title (titlepad, 6
#: points); and text line height per point of font size
PANEL_RIGHT_PAD = 0.2
LEGEND_PAD = 0.15
ROW_GAP = 0.15
PANEL_GAP_Y = 0.05
#: the smallest panel (inches) a grid figure keeps: it grows instead (long labels, legends)
MIN_PANEL_SIZE = (1.5, 1.0)
ROW_TITLE_PAD = 0.06
Y_LABEL_PAD = 0.06
TICK_ROOM = 0.1
TITLE_PAD = 6 / 72
LINE_SPACING = 1.2
POINTS_PER_INCH = 72.0
#: layer names measured for the left margin: the longest (in characters) few
NAMES_MEASURED = 5
FIG_MIN_HEIGHT = 3.5
FIG_MARGIN_HEIGHT = 1.6
SCATTER_WIDTH = 3.6
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
#: relative spread below which core-only efficiency is one number in a title, not a line
FLAT_SPREAD = 5e-3
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
#: line from core to system efficiency: the loss (neutral: it is I/O, memory and leakage)
LOSS_COLOR = "#404040"
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
