"""Pareto figures of an explore run: one figure per network and input, one panel per pair
of objectives.

In each panel: every design point that meets the constraints (colour = number of chips),
points that violate a constraint in faint grey, the two-objective front of the panel as a
staircase, the points of the full front ringed in black, and the staircase's points
labelled by mesh and memory. Axes are logarithmic where the values span over a decade.
A front refined with a second evaluator draws its refined points as diamonds, each with a
dotted line from where the first evaluator had put it.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from hyperdrive_sim.explore.pareto import front_2d
from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.grid import fit_title
from hyperdrive_sim.viz.labels import declutter
from hyperdrive_sim.viz.save import new_figure, save_figure, styled

#: axis labels of the usual objectives
AXIS_LABELS = {
    "total_energy_j": "energy per frame (mJ)",
    "fps": "throughput (frames/s)",
    "latency_s": "latency (ms)",
    "chips": "mesh size (chips)",
    "silicon_area_mm2": "silicon area, all chips (mm²)",
    "chip_area_mm2": "area per chip (mm²)",
    "system_tops_per_w": "system efficiency (TOp/s/W)",
}
#: shown values are scaled for readability (J -> mJ, s -> ms)
SCALES = {"total_energy_j": 1e3, "latency_s": 1e3}
MAX_LABELS = 10
#: smallest distance between two labels, as a fraction of the panel's width
LABEL_GAP = 0.12
PANEL = 3.6


def _value(row: dict, column: str) -> float:
    value = row.get(column)
    if value in (None, ""):
        return math.nan
    return float(value) * SCALES.get(column, 1.0)


def point_name(row: dict) -> str:
    """``4x4, 6.4 Mb``: the mesh and the memory of a design point."""
    fmm = row.get("fmm_capacity_bits")
    mem = f", {float(fmm) / 1e6:.3g} Mb" if fmm not in (None, "") else ""
    return f"{row['mesh_rows']}x{row['mesh_cols']}{mem}"


def _unit(values: np.ndarray) -> np.ndarray:
    """Values mapped to [0, 1] as the axis shows them (log where it will be logarithmic)."""
    v = np.asarray(values, dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    if pos.size and pos.max() / pos.min() > 10:
        v = np.log10(np.where(v > 0, v, pos.min()))
    span = np.nanmax(v) - np.nanmin(v)
    return (v - np.nanmin(v)) / span if span > 0 else np.zeros_like(v)


def spread_out(x: np.ndarray, y: np.ndarray, candidates: np.ndarray) -> list[int]:
    """Up to MAX_LABELS of ``candidates`` whose labels will not overprint: each at least
    LABEL_GAP (a fraction of the panel) from every label kept before it."""
    ux, uy = _unit(x), _unit(y)
    kept: list[int] = []
    for k in candidates.tolist():
        if all(abs(ux[k] - ux[j]) > LABEL_GAP or abs(uy[k] - uy[j]) > LABEL_GAP / 2 for j in kept):
            kept.append(k)
        if len(kept) == MAX_LABELS:
            break
    return kept


def _truthy(value: object) -> bool:
    return str(value) in ("True", "true", "1")


def _moves(ax, rows: Sequence[dict], cx: str, cy: str) -> None:
    """A dotted line from where the first evaluator put each refined point to where the
    refining one did (points that did not move draw nothing)."""
    xs: list[float] = []
    ys: list[float] = []
    for r in rows:
        before = r.get("before_refining")
        if not _truthy(r.get("refined")) or not isinstance(before, dict):
            continue
        x0 = _value(before, cx) if cx in before else _value(r, cx)
        y0 = _value(before, cy) if cy in before else _value(r, cy)
        x1, y1 = _value(r, cx), _value(r, cy)
        if (x0, y0) != (x1, y1) and all(map(math.isfinite, (x0, y0, x1, y1))):
            xs += [x0, x1, math.nan]  # one line, broken between the points
            ys += [y0, y1, math.nan]
    if xs:
        ax.plot(xs, ys, color="black", lw=0.6, ls=":", alpha=0.7,
                label="moved by refining")  # fmt: skip


def _log_if_spread(ax, axis: str, values: np.ndarray) -> None:
    v = values[np.isfinite(values) & (values > 0)]
    if v.size and v.max() / v.min() > 10:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


@styled
def pareto_figure(rows: Sequence[dict], objectives: Sequence[tuple[str, bool]], title: str):
    """The figure for one network and input; ``objectives`` are (column, maximise)."""
    pairs = list(itertools.combinations(range(len(objectives)), 2))
    ncols = min(3, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    fig = new_figure(PANEL * ncols + 0.8, PANEL * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    ok = [r for r in rows if str(r.get("constraints_ok")) in ("True", "true", "1")]
    bad = [r for r in rows if r not in ok and str(r.get("fits")) in ("True", "true", "1")]
    chips = np.array([float(r["chips"]) for r in ok]) if ok else np.array([1.0])
    norm = (LogNorm if chips.max() / max(chips.min(), 1) > 10 else Normalize)(
        vmin=max(chips.min(), 1), vmax=max(chips.max(), 2)
    )
    cmap = colormaps["viridis"]
    refined = np.array([_truthy(r.get("refined")) for r in ok], dtype=bool)
    how = next((r["evaluator"] for r in rows if _truthy(r.get("refined"))), None)
    chips = chips if ok else chips[:0]
    scatter = None
    for ax, (i, j) in zip(axes, pairs, strict=False):
        (cx, mx), (cy, my) = objectives[i], objectives[j]
        for group, look in ((bad, {"c": "#CFCFCF", "s": 8, "alpha": 0.5}),):
            if group:
                ax.scatter(
                    [_value(r, cx) for r in group], [_value(r, cy) for r in group],
                    marker="x", linewidths=0.6, label="violates a constraint", **look,
                )  # fmt: skip
        if how is not None:
            _moves(ax, [*ok, *bad], cx, cy)
        if ok:
            x = np.array([_value(r, cx) for r in ok])
            y = np.array([_value(r, cy) for r in ok])
            for shape, sel in (("o", ~refined), ("D", refined)):
                if sel.any():
                    scatter = ax.scatter(
                        x[sel], y[sel], c=chips[sel], cmap=cmap, norm=norm, marker=shape,
                        s=12 if shape == "o" else 11, alpha=0.8, linewidths=0,
                    )  # fmt: skip
            if refined.any():
                ax.scatter(
                    x[refined], y[refined], marker="D", s=11, facecolors="none",
                    edgecolors="black", linewidths=0.5, label=f"refined with {how}",
                )  # fmt: skip
            rank1 = np.array([str(r.get("pareto_rank")) == "1" for r in ok])
            ax.scatter(
                x[rank1], y[rank1], s=28, facecolors="none", edgecolors="black",
                linewidths=0.8, label="Pareto front (all objectives)",
            )  # fmt: skip
            stair = front_2d(x, y, mx, my)
            ax.step(x[stair], y[stair], where="post", color="black", lw=1.0, alpha=0.7,
                    label="front of this pair")  # fmt: skip
            for k in spread_out(x, y, stair):
                ax.annotate(
                    point_name(ok[k]), (x[k], y[k]), xytext=(4, 4), textcoords="offset points",
                    fontsize=6.5, color="#333333", bbox=style.TEXT_BOX,
                )  # fmt: skip
            _log_if_spread(ax, "x", x)
            _log_if_spread(ax, "y", y)
        ax.set_xlabel(AXIS_LABELS.get(cx, cx) + (" ↑" if mx else " ↓"))
        ax.set_ylabel(AXIS_LABELS.get(cy, cy) + (" ↑" if my else " ↓"))
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        per_row = min(len(handles), 2 * ncols)  # two entries fit under a panel
        fig.legend(handles, labels, loc="outside lower center", ncols=per_row, fontsize=8)
    if scatter is not None:
        fig.colorbar(scatter, ax=list(axes[: len(pairs)]), label="mesh size (chips)", shrink=0.8)
    suptitle = fig.suptitle(title + "   (↓ lower is better, ↑ higher is better)")
    fit_title(suptitle, fig.get_figwidth())
    # lay out once, then move the point labels off each other where they collide
    fig.get_layout_engine().execute(fig)
    fig.set_layout_engine("none")
    declutter(fig, list(axes[: len(pairs)]))
    return fig


def pareto_builds(
    rows: Sequence[dict],
    objectives: Sequence[tuple[str, bool]],
    scenarios: Sequence[str] = (),
) -> list[tuple[str, Callable[[], Figure]]]:
    """(file stem, build) of one Pareto figure per network, input and scenario value."""
    cases: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["network"], r["input_w"], r["input_h"], *(r.get(k) for k in scenarios))
        cases.setdefault(key, []).append(r)
    builds = []
    for (net, w, h, *values), case in cases.items():
        extra = "".join(f", {k} = {v}" for k, v in zip(scenarios, values, strict=True))
        stem = f"pareto_{net}_{w}x{h}" + "".join(
            f"_{k.split('.')[-1]}-{v}" for k, v in zip(scenarios, values, strict=True)
        )
        how = next((r["evaluator"] for r in case if str(r.get("refined")) == "True"), None)
        title = f"{net} at {w}x{h}{extra}" + (f", front refined with {how}" if how else "")
        build = functools.partial(pareto_figure, case, objectives, title)
        builds.append((re.sub(r"[^A-Za-z0-9_.-]", "_", stem), build))
    return builds


def pareto_figures(
    rows: Sequence[dict],
    objectives: Sequence[tuple[str, bool]],
    out_dir: Path,
    scenarios: Sequence[str] = (),
) -> list[Path]:
    """One Pareto figure per network, input and scenario value; return the written files."""
    paths = []
    for stem, build in pareto_builds(rows, objectives, scenarios):
        paths += save_figure(build(), out_dir, stem)
    return paths
