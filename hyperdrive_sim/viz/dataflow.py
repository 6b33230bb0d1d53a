"""Dataflow alternatives: the same network and input under different dataflow settings.

Drawn when a sweep column that varies between points of one network and input is a
dataflow key of the spec (``DATAFLOW_KEYS``: ``system.border_exchange``,
``chip.fuse_pooling``, ``system.organisation``, ``system.frames``, ...).

A *configuration* is a point's values of the ``config_columns``: every sweep column except
the point's network, input and mesh that differs between two points of one network and
input. The *reference* value of a column is its most common one (ties: first seen); a
configuration is named by the settings that differ from it (``border_exchange=streamed``),
or ``reference`` when none does, so any new setting or value (another system key) shows up
without code changes. With named alternatives (an ``alternative`` column, from the
experiment's ``sweep.alternatives``) a configuration is named by its alternative, the
first one is the reference, and both figures are drawn whatever the alternatives set.
Each configuration keeps its colour in both figures.

- ``border_stall``: share of chip-cycles stalled waiting for halos and for weights, against
  the number of chips, per network and input, one line per configuration run on two or more
  meshes. Stall cycles are summed over chips and divided by the first frame's cycles times
  the chips (result columns ``stall_border_cycles``, ``stall_weight_cycles``, ``cycles``,
  ``chips``).
- ``dataflow_comparison``: per network and input, each configuration's energy per frame,
  frames/s, latency and chips (``comparison_points`` says which mesh); configurations that
  do not fit are hatched slots, their shortened reason under the row (the full reason is in
  results.csv).
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.bars import (
    PointBars,
    infeasible_patch,
    infeasible_strip,
    infeasible_strip_handle,
)
from hyperdrive_sim.viz.grid import fit_title, panel_rows, place_panels
from hyperdrive_sim.viz.load import Row, cell_key
from hyperdrive_sim.viz.points import (
    ALTERNATIVE,
    implied_by_alternative,
    input_name,
    is_baseline,
    mesh_name,
    mesh_order,
)
from hyperdrive_sim.viz.save import new_figure, styled

#: file stems of the two figures
BORDER_STALL = "border_stall"
COMPARISON = "dataflow_comparison"
#: last part of the sweep columns that are dataflow options (drawing these figures)
DATAFLOW_KEYS = frozenset(
    (
        "border_exchange",
        "fuse_pooling",
        "organisation",
        "pipeline_stages",
        "frames",
        "batch",
        "partitioning",
    )
)
#: sweep columns that name the point, never a configuration
POINT_COLUMNS = frozenset(("network", "input", "mesh", "tiling", "accelerator"))
#: name of the configuration with every setting at its reference value
REFERENCE = "reference"
#: (column, scale, axis label, title, value format) of the comparison panels, left to right
PANELS = (
    ("total_energy_j", style.MJ_PER_J, "energy per frame (mJ)", "Energy per frame", "{:.4g}"),
    ("fps", 1.0, "throughput (frames/s)", "Frames/s (steady state)", "{:.1f}"),
    ("latency_s", style.MS_PER_S, "latency (ms)", "Latency (first frame)", "{:.2f}"),
    ("chips", 1.0, "mesh size (chips)", "Chips", "{:.0f}"),
)
#: (column, title, line style, marker) of the stall panels
STALLS = (
    ("stall_border_cycles", "stall_border", "-", "o"),
    ("stall_weight_cycles", "stall_weight", "--", "^"),
)
#: what the stalls are, above the border-stall figure
STALL_TITLE = (
    "Stalled chip-cycles against the number of chips, per configuration\n"
    "A halo stall is the halo's transfer (streaming overlaps it with compute) plus waiting for "
    "a slower neighbour\n(uneven tiles), which streaming cannot remove. The analytic evaluator "
    "books that wait as halo stall, simpy\nmostly as weight stall (the bus streams a block "
    "when the slowest chip has room): compare their sum across evaluators.\nUnder channel "
    "or hybrid partitioning the halo stall also counts waiting for maps moved between chips"
)
#: figure sizes (inches): comparison width, height per configuration and per row's margin;
#: border-stall panel size
COMPARISON_WIDTH = 13.0
CONFIG_HEIGHT = 0.34
ROW_MARGIN = 1.5
STALL_PANEL = (4.6, 3.6)
#: legend columns of the stall figure (configurations)
STALL_LEGEND_COLUMNS = 3
#: head-room (fraction of the largest value) for the value labels right of the bars
LABEL_ROOM = 0.75
#: characters of a does-not-fit reason shown in the figure
SHORT_REASON_CHARS = 150
#: smallest top of a stall axis (percent): shares near zero read as near zero
MIN_STALL_TOP = 0.5


def config_columns(points: list[Row], extra_columns: Iterable[str]) -> tuple[str, ...]:
    """Sweep columns (not network, input, mesh, tiling) whose value differs between two
    Hyperdrive points of one network and input; with named alternatives, ``alternative``
    first and without the columns an alternative's name already says."""
    found = _differing(points, extra_columns)
    if ALTERNATIVE not in found:
        return found
    implied = implied_by_alternative(points, found)
    return (ALTERNATIVE, *(c for c in found if c != ALTERNATIVE and c not in implied))


def _differing(points: list[Row], extra_columns: Iterable[str]) -> tuple[str, ...]:
    rows = [r for r in points if not is_baseline(r)]
    found = []
    for col in extra_columns:
        if col in POINT_COLUMNS:
            continue
        seen: dict[tuple[str, str], str] = {}
        for row in rows:
            key = (str(row["network"]), input_name(row))
            if seen.setdefault(key, cell_key(row.get(col))) != cell_key(row.get(col)):
                found.append(col)
                break
    return tuple(found)


def is_dataflow(columns: Iterable[str]) -> bool:
    """Whether any of ``columns`` is a dataflow option."""
    return any(col.rsplit(".", 1)[-1] in DATAFLOW_KEYS for col in columns)


def reference_values(points: list[Row], columns: tuple[str, ...]) -> dict[str, str]:
    """The most common value (cell text) of each column over the Hyperdrive points; ties go
    to the value seen first."""
    rows = [r for r in points if not is_baseline(r)]
    ref = {}
    for col in columns:
        counts = Counter(cell_key(r.get(col)) for r in rows)
        ref[col] = max(counts, key=lambda v: counts[v])  # first maximal in insertion order
    return ref


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return cell_key(value)


def _setting(column: str, value: Any) -> str:
    return f"{column.rsplit('.', 1)[-1]}={_value_text(value)}"


def config_label(row: Row, columns: tuple[str, ...], reference: dict[str, str]) -> str:
    """The settings of ``row`` that differ from the reference, or ``reference``; a named
    alternative by its name (and the other settings that differ)."""
    named = [cell_key(row.get(ALTERNATIVE))] if ALTERNATIVE in columns else []
    diff = [
        _setting(c, row.get(c))
        for c in columns
        if c != ALTERNATIVE and cell_key(row.get(c)) != reference[c]
    ]
    return ", ".join(named + diff) or REFERENCE


def reference_name(points: list[Row], columns: tuple[str, ...]) -> str:
    """The configuration others are compared with: ``reference``, or with named
    alternatives the first (as the experiment lists them)."""
    if ALTERNATIVE not in columns:
        return REFERENCE
    rows = [r for r in points if not is_baseline(r)]
    return next(cell_key(r[ALTERNATIVE]) for r in rows if r.get(ALTERNATIVE) is not None)


def reference_text(points: list[Row], columns: tuple[str, ...]) -> str:
    """``reference: border_exchange=bulk, ...`` with the values as the points hold them;
    with named alternatives, the first one's name and the settings it runs with."""
    rows = [r for r in points if not is_baseline(r)]
    if ALTERNATIVE in columns:
        name = reference_name(points, columns)
        own = [r for r in rows if cell_key(r.get(ALTERNATIVE)) == name]
        implied = implied_by_alternative(rows, [k for k in own[0] if "." in k])
        shown = [_setting(c, own[0].get(c)) for c in implied]
        return f"{name}: {', '.join(shown)}" if shown else name
    ref = reference_values(points, columns)
    shown = []
    for col in columns:
        value = next(r.get(col) for r in rows if cell_key(r.get(col)) == ref[col])
        shown.append(_setting(col, value))
    return f"{REFERENCE}: {', '.join(shown)}"


def config_colors(points: list[Row], columns: tuple[str, ...]) -> dict[str, str]:
    """A series colour per configuration, in order of first appearance (the same in both
    figures)."""
    ref = reference_values(points, columns)
    labels = dict.fromkeys(config_label(r, columns, ref) for r in points if not is_baseline(r))
    colors = style.SERIES_COLORS
    return {name: colors[k % len(colors)] for k, name in enumerate(labels)}


def _groups(points: list[Row]) -> dict[str, list[Row]]:
    """Hyperdrive points by network and input, in order of first appearance."""
    groups: dict[str, list[Row]] = {}
    for row in (r for r in points if not is_baseline(r)):
        groups.setdefault(f"{row['network']} {input_name(row)}", []).append(row)
    return groups


def _configs(rows: list[Row], columns: tuple[str, ...], ref: dict[str, str]):
    configs: dict[str, list[Row]] = {}
    for row in rows:
        configs.setdefault(config_label(row, columns, ref), []).append(row)
    return configs


def reference_mesh(configs: dict[str, list[Row]]) -> str:
    """The mesh that most configurations ran on (ties: fewest chips, then first seen)."""
    counts: Counter[str] = Counter()
    order: dict[str, tuple[int, int, int]] = {}
    for rows in configs.values():
        for name in dict.fromkeys(mesh_name(r) for r in rows):
            counts[name] += 1
            order.setdefault(name, mesh_order(next(r for r in rows if mesh_name(r) == name)))
    return min(counts, key=lambda m: (-counts[m], order[m]))


def comparison_points(
    points: list[Row], columns: tuple[str, ...]
) -> dict[str, list[tuple[str, Row]]]:
    """Per network and input, (configuration, point) in order of first appearance; the
    point of a configuration is the one on the group's ``reference_mesh`` when it fits
    there, else the one with the fewest chips that fits, else (nothing fits) the one on the
    reference mesh, or with the fewest chips."""
    ref = reference_values(points, columns)
    chosen: dict[str, list[tuple[str, Row]]] = {}
    for group, rows in _groups(points).items():
        configs = _configs(rows, columns, ref)
        mesh = reference_mesh(configs)
        picks = []
        for name, own in configs.items():
            at_ref = [r for r in own if mesh_name(r) == mesh]
            fitting = sorted((r for r in own if r["fits"]), key=mesh_order)
            if at_ref and at_ref[0]["fits"]:
                row = at_ref[0]
            elif fitting:
                row = fitting[0]
            else:
                row = at_ref[0] if at_ref else min(own, key=mesh_order)
            picks.append((name, row))
        chosen[group] = picks
    return chosen


def stall_share(row: Row, column: str) -> float | None:
    """Stall cycles of ``column`` (summed over chips) as a percentage of the frame's
    chip-cycles; None when the point has no timing."""
    cycles, chips, stall = row.get("cycles"), row.get("chips"), row.get(column)
    if not row["fits"] or not cycles or not chips or stall is None:
        return None
    return stall / (cycles * chips) * style.PERCENT


def stall_series(points: list[Row], columns: tuple[str, ...]) -> dict[str, dict[str, list[Row]]]:
    """Per network and input, the configurations that ran on two or more meshes, each with
    its points in mesh order (the first point of a mesh when a mesh repeats)."""
    ref = reference_values(points, columns)
    series: dict[str, dict[str, list[Row]]] = {}
    for group, rows in _groups(points).items():
        lines = {}
        for name, own in _configs(rows, columns, ref).items():
            by_mesh: dict[str, Row] = {}
            for row in own:
                by_mesh.setdefault(mesh_name(row), row)
            if len(by_mesh) > 1:
                lines[name] = sorted(by_mesh.values(), key=mesh_order)
        if lines:
            series[group] = lines
    return series


def _evaluators(rows: Iterable[Row]) -> str:
    names = sorted({str(r["evaluator"]) for r in rows if r.get("evaluator")})
    return f" ({' and '.join(names)} evaluator)" if names else ""


def short_reason(row: Row) -> str:
    """The reason a point does not fit, cut to its first clause and
    ``SHORT_REASON_CHARS`` characters."""
    text = str(row.get("reason") or row["status"]).split(";")[0].strip()
    prefix = "does not fit: "
    text = text[len(prefix) :] if text.startswith(prefix) else text
    return textwrap.shorten(text, SHORT_REASON_CHARS, placeholder=" ...")


# -- border stall ------------------------------------------------------------------------


def _chips_axis(ax: Axes, rows: list[Row]) -> None:
    """Log-2 chips axis with a tick per chip count, named ``chips`` over ``mesh`` when
    one mesh has that many chips."""
    ax.set_xscale("log", base=2)
    meshes: dict[int, set[str]] = {}
    for row in rows:
        meshes.setdefault(row["chips"], set()).add(mesh_name(row))
    ticks = sorted(meshes)
    names = [f"{c}\n{min(meshes[c])}" if len(meshes[c]) == 1 else f"{c}" for c in ticks]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels(names)
    ax.set_xlim(min(ticks) / 2**0.35, max(ticks) * 2**0.35)
    ax.set_xlabel("mesh size (chips, log scale)")
    ax.grid(alpha=style.GRID_ALPHA)
    ax.set_axisbelow(True)


def _stall_panel(ax: Axes, column: str, lines: dict[str, list[Row]], colors: dict[str, str]):
    """One line per configuration; meshes that do not fit are crosses in a grey strip."""
    top = 0.0
    bad: list[Row] = []
    style_of = {c: (ls, m) for c, _, ls, m in STALLS}
    linestyle, marker = style_of[column]
    for name, rows in lines.items():
        good = [r for r in rows if stall_share(r, column) is not None]
        bad += [r for r in rows if stall_share(r, column) is None]
        ys = [stall_share(r, column) for r in good]
        ax.plot(
            [r["chips"] for r in good],
            ys,
            color=colors[name],
            linestyle=linestyle,
            marker=marker,
            markersize=style.MARKER_SIZE,
            linewidth=style.LINE_WIDTH,
        )
        top = max([top, *(y for y in ys if y is not None)])
    high = max(top, MIN_STALL_TOP) * (1 + style.HEADROOM)
    if bad:
        infeasible_strip(ax, [r["chips"] for r in bad], 0, high)
        ax.yaxis.set_major_locator(FixedLocator([t for t in ax.get_yticks() if t >= 0]))
    else:
        ax.set_ylim(0, high)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:g}%"))


@styled
def border_stall_figure(points: list[Row], columns: tuple[str, ...]) -> Figure:
    """Halo stall and weight stall (share of chip-cycles) against chips: a row of two
    panels per network and input of ``stall_series``, a line per configuration."""
    series = stall_series(points, columns)
    colors = config_colors(points, columns)
    panels = panel_rows(len(series), len(STALLS), STALL_PANEL)
    fig = panels.fig
    drawn: set[str] = set()
    infeasible = False
    row_titles = []
    for axes, (group, lines) in zip(panels.axes, series.items(), strict=True):
        rows = [r for rs in lines.values() for r in rs]
        for ax, (column, meaning, _, _) in zip(axes, STALLS, strict=True):
            _stall_panel(ax, column, lines, colors)
            _chips_axis(ax, rows)
            ax.set_ylabel("share of chip-cycles (%)")
            ax.set_title(style.label(meaning))
        drawn |= set(lines)
        infeasible |= any(not r["fits"] for r in rows)
        row_titles.append(f"{group}{_evaluators(rows)}")
    handles = [
        Line2D([], [], color=colors[n], linewidth=style.LINE_WIDTH, label=n)
        for n in colors
        if n in drawn
    ]
    # each panel's title names its stall: no legend entry for its line style
    if infeasible:
        handles.append(infeasible_strip_handle())
    ncols = min(len(handles), STALL_LEGEND_COLUMNS)
    legend = fig.legend(
        handles=handles,
        loc="lower center",
        ncols=ncols,
        title=reference_text(points, columns),
        title_fontsize=style.SMALL_FONT_SIZE + 1,
    )
    title = fig.suptitle(STALL_TITLE, fontsize=style.FONT_SIZE + 1)
    place_panels(panels, title=title, row_titles=row_titles, legend=legend, legend_columns=ncols)
    return fig


# -- comparison --------------------------------------------------------------------------


def _relative(value: float, base: float | None) -> str:
    if base is None or not base:
        return ""
    return f" ({(value / base - 1) * style.PERCENT:+.1f}%)"


def _comparison_row(
    sub: SubFigure,
    group: str,
    picks: list[tuple[str, Row]],
    colors: dict[str, str],
    reference: str,
) -> None:
    labels = [f"{name} [{mesh_name(row)}]" for name, row in picks]
    axes = sub.subplots(1, len(PANELS))
    ref = next((row for name, row in picks if name == reference and row["fits"]), None)
    bad = [i for i, (_, row) in enumerate(picks) if not row["fits"]]
    for k, (ax, (column, scale, unit, title, fmt)) in enumerate(zip(axes, PANELS, strict=True)):
        bars = PointBars(ax, labels, horizontal=True)
        ax.tick_params(axis="y", labelleft=k == 0)
        good = [i for i, (_, row) in enumerate(picks) if row["fits"] and row.get(column)]
        values = [picks[i][1][column] * scale for i in good]
        bars.bar(good, values, [0.0] * len(good), color=[colors[picks[i][0]] for i in good])
        base = ref[column] * scale if ref is not None and ref.get(column) else None
        for i, value in zip(good, values, strict=True):
            same = base is not None and value == base  # e.g. the same chips: no "+0.0%"
            extra = "" if picks[i][0] == reference or same else _relative(value, base)
            bars.annotate(i, value, fmt.format(value) + extra)
        if bad:
            texts = [
                style.FAILED_LABEL if picks[i][1]["status"] == "failed" else style.INFEASIBLE_LABEL
                for i in bad
            ]
            bars.mark_infeasible(bad, texts)
        top = max(values, default=0.0)
        ax.set_xlim(0, top * (1 + LABEL_ROOM) if top > 0 else 1.0)
        ax.set_xlabel(unit)
        ax.set_title(title)
    notes = [f"{picks[i][0]} [{mesh_name(picks[i][1])}]: {short_reason(picks[i][1])}" for i in bad]
    title = f"{group}{_evaluators(row for _, row in picks)}"
    sub.suptitle(title, x=0.01, ha="left", fontweight="bold")
    if notes:
        sub.supxlabel(
            "\n".join(f"{style.INFEASIBLE_LABEL}: {n}" for n in notes),
            x=0.01,
            ha="left",
            fontsize=style.SMALL_FONT_SIZE,
            color=style.INFEASIBLE_TEXT_COLOR,
        )


@styled
def dataflow_comparison_figure(points: list[Row], columns: tuple[str, ...]) -> Figure:
    """Energy per frame, frames/s, latency and chips of each configuration, a row of panels
    per network and input (the points of ``comparison_points``); values right of the bars
    with the change against the reference configuration."""
    chosen = comparison_points(points, columns)
    colors = config_colors(points, columns)
    heights = [
        CONFIG_HEIGHT * len(picks) + ROW_MARGIN + 0.15 * sum(not r["fits"] for _, r in picks)
        for picks in chosen.values()
    ]
    fig = new_figure(COMPARISON_WIDTH, sum(heights) + style.FIG_MARGIN_HEIGHT)
    subs = fig.subfigures(len(chosen), 1, squeeze=False, height_ratios=heights)[:, 0]
    reference = reference_name(points, columns)
    for sub, (group, picks) in zip(subs, chosen.items(), strict=True):
        _comparison_row(sub, group, picks, colors, reference)
    handles: list[Patch] = [Patch(color=c, label=n) for n, c in colors.items()]
    if any(not r["fits"] for picks in chosen.values() for _, r in picks):
        handles.append(infeasible_patch())
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))
    title = fig.suptitle(
        "Dataflow alternatives: each configuration [mesh] per network and input\n"
        f"(change against the reference in brackets; {reference_text(points, columns)})",
        fontsize=style.FONT_SIZE + 1,
    )
    fit_title(title, fig.get_figwidth())
    return fig


def dataflow_figures(points: list[Row], extra_columns: Iterable[str]) -> list[tuple[str, Any]]:
    """(file stem, builder, points, config columns) of the figures the points support:
    none unless a dataflow option varies or named alternatives are compared, and a point
    fits; the border-stall figure when a
    configuration ran on two or more meshes, the comparison when a network and input ran in
    two or more configurations."""
    columns = config_columns(points, extra_columns)
    compared = ALTERNATIVE in columns or is_dataflow(_differing(points, extra_columns))
    if not compared or not any(r["fits"] for r in points):
        return []
    figures: list[tuple[str, Any]] = []
    if stall_series(points, columns):
        figures.append((BORDER_STALL, border_stall_figure, points, columns))
    chosen = comparison_points(points, columns)
    if any(len(picks) > 1 for picks in chosen.values()):
        figures.append((COMPARISON, dataflow_comparison_figure, points, columns))
    return figures
