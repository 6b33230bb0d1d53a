"""Figures of a sensitivity run (from ``uncertainty.csv`` and ``tornado.csv`` only).

- ``uncertainty``: per point, energy per frame, the I/O share of it and system TOp/s/W at
  the preset values (bars) with the Monte-Carlo p5-p95 interval (error bars);
- ``tornado_<point>``: per point, how far each assumed parameter alone moves system
  TOp/s/W between the low and the high end of its range, largest first.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.readfile import read_input
from hyperdrive_sim.viz.grid import fit_title
from hyperdrive_sim.viz.save import new_figure, save_figure, styled

#: tornado charts drawn at most (the first points that fit), and bars per chart
MAX_TORNADOS = 6
MAX_BARS = 12
#: (column, axis label, scale) of the uncertainty panels
PANELS = (
    ("total_energy_j", "energy per frame (mJ)", 1e3),
    ("io_share", "I/O share of the energy (%)", 100.0),
    ("system_tops_per_w", "system efficiency (TOp/s/W)", 1.0),
)
#: colours of their own (not an energy part's): the parameter at its low / high end, and
#: the bars at the preset values
LOW_COLOUR, HIGH_COLOUR = "#44AA99", "#882255"
PRESET_COLOUR = "#88CCEE"


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError("not found; run `hyperdrive-sim sensitivity` first", file=str(path))
    text = read_input(path, limit=limits.MAX_RESULTS_BYTES, what="sensitivity table")
    return list(csv.DictReader(io.StringIO(text.decode("utf-8", errors="replace"), newline="")))


def _num(cell: str) -> float:
    return float(cell) if cell not in ("", None) else float("nan")


def point_label(row: dict) -> str:
    return (
        f"{row['network']} {row['input_w']}x{row['input_h']} {row['mesh_rows']}x{row['mesh_cols']}"
    )


@styled
def uncertainty_figure(rows: list[dict]):
    """Bars at the preset values with p5-p95 error bars, one panel per metric."""
    ok = [r for r in rows if r["fits"] == "True"]
    fig = new_figure(4.0 * len(PANELS), 0.35 * max(len(ok), 4) + 1.6)
    axes = fig.subplots(1, len(PANELS), sharey=True)
    y = np.arange(len(ok))
    for ax, (column, label, scale) in zip(axes, PANELS, strict=True):
        base = np.array([_num(r[column]) for r in ok]) * scale
        lo = np.array([_num(r[f"{column}_p5"]) for r in ok]) * scale
        hi = np.array([_num(r[f"{column}_p95"]) for r in ok]) * scale
        ax.barh(y, base, color=PRESET_COLOUR, label="preset values")
        err = np.vstack([np.maximum(base - lo, 0), np.maximum(hi - base, 0)])
        ax.errorbar(base, y, xerr=err, fmt="none", ecolor="black", capsize=3, lw=1,
                    label="Monte-Carlo p5 to p95")  # fmt: skip
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, [point_label(r) for r in ok])
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    fit_title(fig.suptitle("Results over the assumed values' ranges"), fig.get_figwidth())
    return fig


@styled
def tornado_figure(entries: list[dict], title: str, base_value: float):
    """Efficiency at each parameter's low and high end, the largest swings on top."""
    swings = []
    for e in entries:
        lo, hi = _num(e["system_tops_per_w_at_low"]), _num(e["system_tops_per_w_at_high"])
        if np.isfinite(lo) and np.isfinite(hi):
            swings.append((abs(hi - lo), e, lo, hi))
    swings.sort(key=lambda t: -t[0])
    shown = swings[:MAX_BARS]
    fig = new_figure(7.5, 0.38 * max(len(shown), 3) + 1.4)
    ax = fig.subplots()
    for k, (_, _entry, lo, hi) in enumerate(shown):
        ax.barh(k, lo - base_value, left=base_value, color=LOW_COLOUR, alpha=0.8,
                label="parameter at its low end" if k == 0 else None)  # fmt: skip
        ax.barh(k, hi - base_value, left=base_value, color=HIGH_COLOUR, alpha=0.8,
                label="parameter at its high end" if k == 0 else None)  # fmt: skip
    ax.axvline(base_value, color="black", lw=1)
    names = [
        f"{e['parameter']} [{_num(e['low']):.3g}, {_num(e['high']):.3g}]" for _, e, _, _ in shown
    ]
    ax.set_yticks(range(len(shown)), names)
    ax.invert_yaxis()
    ax.set_xlabel("system efficiency (TOp/s/W); the line is the preset values'")
    ax.grid(True, axis="x", alpha=0.3)
    if shown:
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return fig


def uncertainty_builds(results_dir: Path) -> list[tuple[str, Callable[[], Figure]]]:
    """(file stem, build) of the sensitivity figures of ``results_dir``."""
    results_dir = Path(results_dir)
    rows = _read(results_dir / "uncertainty.csv")
    tornado = _read(results_dir / "tornado.csv")
    builds: list[tuple[str, Callable[[], Figure]]] = [
        ("uncertainty", functools.partial(uncertainty_figure, rows))
    ]
    for row in [r for r in rows if r["fits"] == "True"][:MAX_TORNADOS]:
        entries = [t for t in tornado if t["point"] == row["point"]]
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", "tornado_" + point_label(row).replace(" ", "_"))
        build = functools.partial(
            tornado_figure, entries, point_label(row), _num(row["system_tops_per_w"])
        )
        builds.append((f"{name}_{row['point']}", build))
    return builds


def uncertainty_figures(results_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw the sensitivity figures of ``results_dir``; return the written files."""
    out = out_dir or Path(results_dir) / "figures"
    paths: list[Path] = []
    for stem, build in uncertainty_builds(results_dir):
        paths += save_figure(build(), out, stem)
    return paths
