"""The figure check (hyperdrive_sim.viz.check): it finds each problem it is for, passes the
figures drawn from the dataflow experiment's results, and (slow) every figure the bundled
experiments draw, which scripts/make_plots.py copies to plots/.

tests/data/dataflow_alternatives/results.json holds the rows of
``hyperdrive-sim run dataflow_alternatives`` (the columns these figures read).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hyperdrive_sim.viz import load_results
from hyperdrive_sim.viz.check import MAX_LEGEND_ENTRIES, figure_problems, results_figures
from hyperdrive_sim.viz.energy import io_vs_core_figure
from hyperdrive_sim.viz.grid import fit_grid
from hyperdrive_sim.viz.points import varying_columns
from hyperdrive_sim.viz.save import new_figure

REPO = Path(__file__).resolve().parent.parent
DATAFLOW = Path(__file__).resolve().parent / "data" / "dataflow_alternatives"


def _bars(ylabel: str = "energy per frame (mJ)") -> Figure:
    """A clean figure: two labelled bars, axes with units, a legend of what is drawn."""
    fig = new_figure(4, 3, layout=None)
    ax = fig.subplots()
    ax.bar([0, 1], [1.0, 2.0], color="#0072B2", label="core compute")
    ax.set_xticks([0, 1], ["2x2", "4x4"])
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left")
    fig.subplots_adjust(left=0.2, bottom=0.15)
    return fig


def test_a_clean_figure_passes() -> None:
    assert figure_problems(_bars()) == []


def test_finds_a_title_cut_off() -> None:
    fig = _bars()
    fig.suptitle("settings not named: " + ", ".join(f"setting_{k}=value" for k in range(20)))
    assert any(p.startswith("outside the figure: figure text") for p in figure_problems(fig))


def test_finds_overlapping_point_labels() -> None:
    fig = _bars()
    ax = fig.axes[0]
    for text in ("8.53", "3x3"):  # the two labels of the issue, at one point
        ax.annotate(text, (0, 1.0), xytext=(3, 5), textcoords="offset points")
    assert "overlap: point label '8.53' and point label '3x3'" in figure_problems(fig)


def test_finds_a_legend_entry_for_nothing_drawn() -> None:
    fig = _bars()
    handles = [Line2D([], [], color="black", linewidth=2, label="system-level TOp/s/W")]
    fig.legend(handles=handles, loc="upper right")
    assert figure_problems(fig) == ["legend entry not drawn: 'system-level TOp/s/W'"]


def test_finds_a_numeric_axis_without_unit() -> None:
    problems = figure_problems(_bars(ylabel="TOp/s/W"))
    assert problems == ["no unit on the numeric y axis of 'panel 0': 'TOp/s/W'"]
    # "(log scale)" is no unit; the x axis has mesh names, not numbers: no unit needed
    assert len(figure_problems(_bars(ylabel="energy.offchip_pj_per_bit (log scale)"))) == 1


def test_finds_too_many_legend_entries() -> None:
    fig = new_figure(8, 8, layout=None)
    ax = fig.subplots()
    for k in range(MAX_LEGEND_ENTRIES + 1):
        ax.plot([0, 1], [k, k], color=f"C{k % 10}", marker="os"[k // 10], label=f"line {k}")
    ax.set_xlabel("frames (frames)")
    ax.set_ylabel("efficiency (TOp/s/W)")
    fig.legend(loc="lower center", ncols=4)
    fig.subplots_adjust(bottom=0.3)
    assert figure_problems(fig) == ["13 legend entries, more than 12"]


def test_dataflow_energy_by_part_fits_and_would_not_without_wrapping() -> None:
    """The dataflow experiment's energy-by-part figure: its note of the settings not named
    is longer than the figure is wide. Wrapped it fits; left on one line, as the figure
    was drawn before titles were wrapped, the check finds it cut off."""
    results = load_results(DATAFLOW)
    points = results.points
    varying = varying_columns(points, results.extra_columns)
    assert "alternative" in varying  # points named by their alternative, not 6 settings
    fig = io_vs_core_figure(points, varying)
    assert figure_problems(fig) == []
    # the same figure with its title on one line per sentence and the old settings note
    title = fig.texts[0]
    note = (
        "(settings not named: border_exchange=bulk, fuse_pooling=False, organisation=tiled, "
        "frames=1, batch=1, partitioning=spatial)"
    )
    title.set_text(title.get_text().split("\n")[0] + "\n" + note)
    fit_grid(
        fig,
        fig.axes[0].get_subplotspec().get_gridspec(),
        title=title,
        legend=fig.legends[0],
        legend_columns=4,
        axes_height=fig.axes[0].get_position().height,
    )
    title.set_text(title.get_text().replace("\n", " ", 2))  # unwrapped
    assert any(p.startswith("outside the figure: figure text") for p in figure_problems(fig))


def _experiments() -> list[Path]:
    return sorted((REPO / "experiments").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", _experiments(), ids=lambda p: p.stem)
def test_every_figure_of_the_bundled_experiments_passes(path: Path, tmp_path: Path) -> None:
    """What scripts/make_plots.py draws for plots/: every figure of every bundled
    experiment (traces for contention, Pareto figures for explore_*)."""
    from hyperdrive_sim.experiment import run_experiment
    from hyperdrive_sim.explore.run import explore_experiment
    from hyperdrive_sim.viz.pareto import pareto_builds

    if path.stem.startswith("explore_"):
        result = explore_experiment(path, out_dir=tmp_path, progress=False, plots=False)
        objectives = [(o.column, o.maximise) for o in result.objectives]
        builds = list(pareto_builds(result.rows, objectives, result.scenarios))
    else:
        trace = path.stem == "contention"
        run_experiment(path, out_dir=tmp_path, progress=False, plots=False, trace=trace)
        builds = list(results_figures(tmp_path))
    assert builds
    problems = {stem: figure_problems(build()) for stem, build in builds}
    assert {stem: p for stem, p in problems.items() if p} == {}


@pytest.mark.slow
def test_every_sensitivity_figure_passes(tmp_path: Path) -> None:
    from hyperdrive_sim.experiment import load_experiment
    from hyperdrive_sim.sensitivity import sensitivity

    spec, base = load_experiment(REPO / "experiments" / "quickstart.yaml")
    sensitivity(spec, base, out_dir=tmp_path)
    problems = {stem: figure_problems(build()) for stem, build in results_figures(tmp_path)}
    assert len(problems) >= 2 and {s: p for s, p in problems.items() if p} == {}


def test_wrap_breaks_lines_to_the_width_and_keeps_every_word() -> None:
    from hyperdrive_sim.viz.grid import text_width, wrap

    text = (
        "Energy per frame by part\n(settings not named: "
        + ", ".join(f"option_{k}=value" for k in range(12))
        + ")"
    )
    wrapped = wrap(text, 4.0, 11)
    assert wrapped.split() == text.split()  # only line breaks changed
    assert all(text_width([line], 11) <= 4.0 for line in wrapped.split("\n"))
    assert wrapped.count("\n") > text.count("\n")


def test_a_sweep_of_many_lines_keeps_a_dozen_legend_entries() -> None:
    """20 meshes along a swept key: 11 lines, each its own colour and marker, one entry for
    the crosses of a point that does not fit, and the title counts the lines left out."""
    from hyperdrive_sim.result import RESULT_COLUMNS
    from hyperdrive_sim.viz import style
    from hyperdrive_sim.viz.points import varying_columns
    from hyperdrive_sim.viz.sweep import series_styles, sweep_figure

    column = "energy.offchip_pj_per_bit"
    rows = []
    for k in range(1, 21):
        for pj in (10, 21):
            fits = (k, pj) != (1, 21)
            row = {**dict.fromkeys(RESULT_COLUMNS), column: pj}
            row.update(network="resnet34", input_w=224, input_h=224, mesh_rows=k, mesh_cols=k,
                       chips=k * k, evaluator="analytic", accelerator="hyperdrive", fits=fits,
                       status="ok" if fits else "infeasible")  # fmt: skip
            if fits:
                row.update(total_energy_j=1e-3, core_energy_j=5e-4, offchip_io_energy_j=5e-4,
                           offchip_weight_energy_j=4e-4, image_io_energy_j=1e-4,
                           system_tops_per_w=8.0 - pj / 10, core_tops_per_w=40.0,
                           offchip_bits=2e7, weight_bits=1.8e7)  # fmt: skip
            rows.append(row)
    fig = sweep_figure(rows, column, varying_columns(rows, (column,)))
    assert figure_problems(fig) == []
    entries = fig.legends[0].texts
    assert len(entries) == style.MAX_SWEEP_LINES + 1 == MAX_LEGEND_ENTRIES
    assert "9 more lines not drawn" in fig.texts[0].get_text()
    looks = series_styles([f"line {k}" for k in range(style.MAX_SWEEP_LINES)])
    assert len(set(looks.values())) == style.MAX_SWEEP_LINES  # no two lines alike
    assert not {c for c, _ in looks.values()} & {c for c, _ in style.MEANINGS.values()}
