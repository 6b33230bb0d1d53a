"""Figure design (tiling dodge, one colour per meaning, numeric mesh order, readable
timeline names) and plot_results' machinery (formats, stamp skip, parallel workers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

import hyperdrive_sim.viz as viz
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.evaluators.des.timeline import Timeline, write_trace
from hyperdrive_sim.experiment import run_experiment
from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.viz import load_results, plot_results, style
from hyperdrive_sim.viz.energy import energy_share_figure, io_vs_core_figure
from hyperdrive_sim.viz.layers import layer_figure
from hyperdrive_sim.viz.points import (
    NOT_VARYING,
    Varying,
    file_label,
    input_groups,
    select_point,
    tiling_series,
    varying_columns,
)
from hyperdrive_sim.viz.sweep import sweep_figure
from hyperdrive_sim.viz.tiling import tiling_figure
from hyperdrive_sim.viz.timeline import trace_figure

REPO = Path(__file__).resolve().parent.parent


def _row(mesh: str, fits: bool = True, size: str = "224x224", **extra: object) -> dict:
    rows, cols = (int(v) for v in mesh.split("x"))
    width, height = (int(v) for v in size.split("x"))
    row = dict.fromkeys(RESULT_COLUMNS)
    row.update(
        network="resnet34",
        input_w=width,
        input_h=height,
        mesh_rows=rows,
        mesh_cols=cols,
        chips=rows * cols,
        evaluator="analytic",
        accelerator="hyperdrive",
        fits=fits,
        status="ok" if fits else "infeasible",
        reason=None if fits else "feature maps do not fit",
        frequency_mhz=100.0,
    )
    if fits:
        row.update(
            fps=60.0,
            total_energy_j=1e-3,
            core_energy_j=2e-4,
            onchip_mem_energy_j=1e-4,
            offchip_weight_energy_j=5e-4,
            image_io_energy_j=1e-4,
            c2c_io_energy_j=5e-5,
            leakage_energy_j=5e-5,
            offchip_io_energy_j=6e-4,
            system_tops_per_w=15.0,
            core_tops_per_w=40.0,
            utilization=0.4,
        )
    row.update(extra)
    return row


def _write(folder: Path, rows: list[dict], extra: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"columns": [*RESULT_COLUMNS, *extra], "rows": rows}
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def _legend_entries(fig: Figure) -> list[tuple[str, str]]:
    """(label, colour) of every legend entry of ``fig`` (figure and axes legends, also in
    subfigures); the colour of a patch is its face, of a line its line colour."""
    entries = []
    for legend in fig.findobj(Legend):
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            color = handle.get_color() if isinstance(handle, Line2D) else handle.get_facecolor()
            entries.append((text.get_text(), to_hex(color)))
    return entries


# -- tiling comparison ----------------------------------------------------------------------------


def test_tiling_equal_chip_counts_are_three_points() -> None:
    """1x4, 2x2 and 4x1 all have 4 chips: three artists (wide, square, tall) at three x
    positions, and the legend lists exactly those three shapes."""
    efficiency = {"1x4": 15.04, "2x2": 14.84, "4x1": 14.9}
    rows = [
        _row(m, system_tops_per_w=e, fps=60.0 + k) for k, (m, e) in enumerate(efficiency.items())
    ]
    rows.append(_row("2x1"))  # another chip count, so the series spans several sizes
    series = tiling_series(rows, NOT_VARYING)
    fig = tiling_figure(series)
    fps_ax, _, eff_ax, _ = fig.axes[:4]  # the first row of panels
    points = {}
    for line in fps_ax.get_lines():
        for x, _y in line.get_xydata():
            points.setdefault(line.get_label(), []).append(x)
    assert sorted(points) == ["square", "tall", "wide"]
    four = [x for label in points for x in points[label] if 2.5 < x < 6.5]  # near 4 chips
    assert len(four) == 3 and len(set(four)) == 3, four  # three positions, none hidden
    # wide left of square left of tall: ordered by mesh rows (1, 2, 4)
    assert max(points["wide"]) < 4 < max(points["tall"])
    legend = [label for label, _ in _legend_entries(fig)]
    assert legend == [style.MESH_SHAPES[s][2] for s in ("square", "wide", "tall")]
    # the efficiency axis starts at zero: 15.04 vs 14.84 (1.3 %) is drawn at its true size,
    # not as a cliff, and the points carry the values that tell them apart
    low, high = eff_ax.get_ylim()
    assert low == 0 and (15.04 - 14.84) / (high - low) < 0.02
    assert {t.get_text() for t in eff_ax.texts} >= {"15.04", "14.84", "14.90"}


def test_tiling_legend_shows_unfit_only_when_drawn() -> None:
    rows = [_row("1x1", fits=False), _row("2x2"), _row("3x3")]
    labels = [
        label for label, _ in _legend_entries(tiling_figure(tiling_series(rows, NOT_VARYING)))
    ]
    assert labels == [style.MESH_SHAPES["square"][2], f"{style.INFEASIBLE_LABEL} (grey strip)"]


def test_tiling_panels_laid_out_by_hand_neither_overlap_nor_leave_the_figure(
    assert_laid_out,
) -> None:
    """The hand layout measures tick labels and titles: five-digit frames/s, a two-line
    efficiency title and two rows of series (one with an unfit mesh) still fit, and each
    column of panels starts right of its own widest tick label."""
    rows = [_row(m, fps=12345.6 * k) for k, m in enumerate(("1x2", "2x2", "4x4"), 1)]
    rows += [_row(m, size="1920x1080", fits=m != "2x2") for m in ("2x2", "4x4", "8x8")]
    fig = tiling_figure(tiling_series(rows, NOT_VARYING))
    assert len(fig.axes) == 8  # two rows of four panels
    assert_laid_out(fig)
    fps_left, energy_left = (fig.axes[i].get_position().x0 * fig.get_figwidth() for i in (0, 1))
    panel = style.TILING_PANEL_SIZE[0]
    # "40000" is wider than "1.00": the fps column leaves more room left of its panels
    assert fps_left > energy_left - panel


@pytest.mark.parametrize("meshes", [4, 14])  # vertical bars, rotated labels / horizontal
def test_energy_figures_laid_out_by_hand_neither_overlap_nor_leave_the_figure(
    meshes: int, assert_laid_out
) -> None:
    """The bar figures' margins come from their measured labels: rotated mesh labels under
    a few vertical bars, or long sweep labels left of many horizontal ones (two inputs,
    one panel each, one point that does not fit)."""
    rows = [
        _row(f"{k}x{k}", fits=k > 1, **{"energy.offchip_pj_per_bit": 21.0 + k})
        for k in range(1, meshes // 2 + 1)
    ]
    rows += [_row(f"{k}x{k}", size="1920x1080") for k in range(8, 8 + meshes - len(rows))]
    varying = Varying(("energy.offchip_pj_per_bit",)) if meshes > 4 else NOT_VARYING
    for figure in (io_vs_core_figure, energy_share_figure):
        assert_laid_out(figure(rows, varying))
    if varying:  # the sweep curves of the same points: one line per input
        assert_laid_out(sweep_figure(rows, varying.columns[0], NOT_VARYING))


def test_huge_values_are_written_in_full_not_as_an_offset(assert_laid_out) -> None:
    """Energies of 1.6e6 mJ per frame: tick labels carry the whole number. An "1e6" offset
    above the axis pushed the panel's title into the figure's title (found by
    test_viz_layout)."""
    energy = ("total_energy_j", "core_energy_j", "offchip_weight_energy_j")
    rows = [_row(m, **{k: 1.6e3 for k in energy}) for m in ("1x2", "4x1")]
    rows.append(_row("1x1", fits=False))
    fig = io_vs_core_figure(rows, NOT_VARYING)
    assert_laid_out(fig)
    ax = fig.axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert max(ax.get_yticks()) >= 1e6  # mJ, plainly


# -- one colour per meaning -----------------------------------------------------------------------


def _trace(path: Path) -> None:
    """A two-chip trace with every kind of interval and transfer."""
    tracks = {
        "chip 0": [(0, 7, "wait: image"), (7, 500, "conv1"), (500, 600, "stall: weights")],
        "chip 1": [(0, 9, "wait: image"), (9, 400, "conv1"), (400, 450, "stall: halo")],
        "link 0->1": [(10, 20, "halo conv1"), (30, 41, "reduce fc"), (50, 60, "weights fc")],
        "off-chip": [(0, 7, "image chip 0"), (7, 9, "weights conv1"), (590, 600, "results")],
    }
    tracks["chip 1"].append((450, 600, "wait: partial vector"))
    groups = {"chips": ("chip 0", "chip 1"), "links": ("link 0->1",), "off-chip": ("off-chip",)}
    write_trace(Timeline(tracks, groups, 600, 42), path, 100e6)


def test_one_colour_per_meaning_across_figures(tmp_path: Path, assert_laid_out) -> None:
    """Walk the legends of the quickstart figures and of a timeline: a colour of
    style.MEANINGS always carries that meaning's label, and each label one colour."""
    run_experiment(
        REPO / "experiments/quickstart.yaml",
        out_dir=tmp_path,
        progress=False,
        executor="serial",
        plots=False,
    )
    results = load_results(tmp_path)
    points = results.points
    varying = varying_columns(points, results.extra_columns)
    point = select_point(points)
    _trace(tmp_path / "t.json")
    figures = [
        io_vs_core_figure(points, varying),
        layer_figure(point, results.layers_of(point), varying),
        trace_figure(viz.load_trace(tmp_path / "t.json")),
    ]
    for fig in figures:  # a Gantt chart over link panels, the layer rows, the bars
        assert_laid_out(fig)
    meaning_of = {to_hex(c): lbl for c, lbl in style.MEANINGS.values()}
    colour_of: dict[str, str] = {}
    seen = 0
    for fig in figures:
        for label, colour in _legend_entries(fig):
            if colour in meaning_of:
                seen += 1
                assert meaning_of[colour] == label, (colour, label)
            assert colour_of.setdefault(label, colour) == colour, label
    # compute, weights, stalls, ... in the layer figure; every transfer kind in the timeline
    assert seen >= 15
    # the image and the results of the trace's off-chip track: the colour of the bars' part
    timeline = dict(_legend_entries(figures[2]))
    assert timeline[style.label("offchip_maps")] == style.color("offchip_maps").lower()
    # the orange of waiting for weights is not the orange of off-chip I/O (the old clash)
    assert style.ACTIVITY_COLORS["stall_weight"] != style.color("offchip_weights")
    assert not set(style.SERIES_COLORS) & {c for c, _ in style.MEANINGS.values()}


# -- io_vs_core: numeric mesh order, a panel per input --------------------------------------------


def test_io_vs_core_meshes_in_numeric_order_one_panel_per_input() -> None:
    rows = [
        _row("16x16", size="1920x1080", core_energy_j=2e-2, total_energy_j=2.08e-2),
        _row("1x2", size="1920x1080", fits=False),
        _row("16x16"),
        _row("1x2", fits=False),
        _row("2x2"),
        _row("1x1", fits=False),
    ]
    groups = input_groups(rows)
    # by chips then rows: 1x1 (1), 1x2 (2), 2x2 (4), 16x16 (256); a string sort gives 16x16 first
    order = [[f"{r['mesh_rows']}x{r['mesh_cols']}" for r in g] for g in groups.values()]
    assert order == [["1x2", "16x16"], ["1x1", "1x2", "2x2", "16x16"]]
    fig = io_vs_core_figure(rows)
    big, small = fig.axes
    assert [t.get_text() for t in small.get_xticklabels()] == ["1x1", "1x2", "2x2", "16x16"]
    assert big.get_title(loc="left") == "resnet34 1920x1080"
    # own scales: the 224x224 bars (1 mJ: the parts of _row) are not squashed by the 1080p
    # one (20.8 mJ, its core energy raised to 20 mJ)
    assert small.get_ylim()[1] < 2 < 20 < big.get_ylim()[1]


# -- timeline names -------------------------------------------------------------------------------


def test_timeline_names_readable_sanitised_unique(tmp_path: Path) -> None:
    column = "system.link_bandwidth_gbps"
    rows = [
        _row("2x2", point_id="aaaaaaaa11", **{column: 0.8}),
        _row("2x2", point_id="bbbbbbbb22", **{column: 3.2}),
        _row("2x2", point_id="cccccccc33", **{column: 3.2}),  # the same settings again
    ]
    _write(tmp_path, rows, (column,))
    for pid in ("aaaaaaaa", "bbbbbbbb", "cccccccc"):
        _trace(tmp_path / "traces" / f"resnet34_224x224_2x2_{pid}.json")
    paths = plot_results(tmp_path, figures=["timeline_*"], workers=1)
    assert [p.stem for p in paths] == [
        "timeline_resnet34_224x224_2x2_link_bandwidth_gbps-0.8",
        "timeline_resnet34_224x224_2x2_link_bandwidth_gbps-3.2_bbbbbbbb",
        "timeline_resnet34_224x224_2x2_link_bandwidth_gbps-3.2_cccccccc",
    ]
    odd = _row("2x2", network="my net/v2", **{column: 0.8})
    assert file_label(odd, (column,)) == "my_net_v2_224x224_2x2_link_bandwidth_gbps-0.8"


# -- formats, stamp, workers ----------------------------------------------------------------------


def test_formats(tmp_path: Path) -> None:
    _write(tmp_path, [_row("1x1", fits=False), _row("2x2")])
    assert {p.suffix for p in plot_results(tmp_path, workers=1)} == {".png"}  # the default
    paths = plot_results(tmp_path, formats=["pdf", "svg"], workers=1)
    assert {p.suffix for p in paths} == {".pdf", ".svg"}
    with pytest.raises(InputError, match="unknown figure format jpg"):
        plot_results(tmp_path, formats=["jpg"])


def test_stamp_skips_unchanged_inputs(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path, [_row("1x1", fits=False), _row("2x2"), _row("3x3")])
    first = plot_results(tmp_path, workers=1)
    assert {p.stem for p in first} == {"io_vs_core_energy", "energy_share", "tiling_comparison"}
    drawn: list[int] = []
    real = viz._draw
    monkeypatch.setattr(
        viz, "_draw", lambda jobs, workers: drawn.append(len(jobs)) or real(jobs, 1)
    )
    assert plot_results(tmp_path) == first and drawn == []  # same inputs: nothing drawn
    first[0].unlink()
    assert plot_results(tmp_path) == first and drawn == [3]  # a figure went missing
    _write(tmp_path, [_row("1x1", fits=False), _row("2x2"), _row("3x3", fps=1.0)])
    plot_results(tmp_path)
    assert drawn == [3, 3]  # results changed
    plot_results(tmp_path, force=True)
    plot_results(tmp_path, formats=["svg"])
    assert drawn == [3, 3, 3, 3]  # forced; other options


def test_workers_draw_the_same_bytes(tmp_path: Path) -> None:
    """Forked workers and the parent alone write identical files."""
    _write(tmp_path, [_row("1x1", fits=False), _row("2x2"), _row("1x4")])
    serial = plot_results(tmp_path, tmp_path / "one", workers=1)
    parallel = plot_results(tmp_path, tmp_path / "two", workers=2)
    assert [p.name for p in serial] == [p.name for p in parallel]
    for a, b in zip(serial, parallel, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_import_does_not_load_matplotlib() -> None:
    """Checking the stamp of a cached re-run must not pay for importing matplotlib."""
    code = "import sys, hyperdrive_sim.viz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_traces_of_points_no_longer_in_the_results_are_not_drawn():
    """A re-run with other settings leaves the old points' traces in traces/; only the
    traces whose id (the file name's last part) belongs to a current row are drawn."""
    from pathlib import Path

    from hyperdrive_sim.viz.load import stale_trace

    rows = [{"point_id": "abcdef0123456789", "network": "resnet34"}]
    assert not stale_trace(rows, Path("resnet34_224x224_4x4_abcdef01.json"))
    assert stale_trace(rows, Path("resnet34_224x224_4x4_99999999.json"))
    assert not stale_trace(rows, Path("my_own_trace.json"))  # not a name `run` writes
    assert not stale_trace([{"network": "x"}], Path("resnet34_224x224_4x4_99999999.json"))
