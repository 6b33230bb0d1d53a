"""The dataflow figures (viz.dataflow): which points they pick, the values they draw, and
that plot_results draws them exactly when a dataflow option varies."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from hyperdrive_sim.experiment import run_experiment
from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.viz import plot_results, style
from hyperdrive_sim.viz.dataflow import (
    BORDER_STALL,
    COMPARISON,
    PANELS,
    border_stall_figure,
    comparison_points,
    config_columns,
    config_label,
    dataflow_comparison_figure,
    dataflow_figures,
    reference_values,
    short_reason,
    stall_series,
)
from hyperdrive_sim.viz.load import load_results, parse_cell

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "configs" / "networks" / "tiny_residual.yaml"
BX, FRAMES = "system.border_exchange", "system.frames"
REASON = "needs 9 bits of feature-map memory (FMM) at layer 'c1' (over by 3 bits, 50%); 2 more"


def _row(mesh: int, bx: str, frames: int, fits: bool = True, **metrics: object) -> dict:
    """A point of resnet34 224x224 on a mesh x mesh system (synthetic metrics)."""
    row = {
        **dict.fromkeys(RESULT_COLUMNS),
        "network": "resnet34",
        "input_h": 224,
        "input_w": 224,
        "mesh_rows": mesh,
        "mesh_cols": mesh,
        "chips": mesh * mesh,
        "evaluator": "simpy",
        "accelerator": "hyperdrive",
        "fits": fits,
        "status": "ok" if fits else "infeasible",
        "reason": None if fits else f"does not fit: {REASON}",
        BX: bx,
        FRAMES: frames,
    }
    if fits:
        row.update(cycles=1000, total_energy_j=1e-3, fps=100.0, latency_s=0.01)
        row.update(stall_border_cycles=0, stall_weight_cycles=0, system_tops_per_w=5.0)
    row.update(metrics)
    return row


def _rows() -> list[dict]:
    # bulk/frames=1 is the reference (4 of 7 rows are bulk, 6 of 7 have frames=1)
    return [
        _row(2, "bulk", 1, stall_border_cycles=400, stall_weight_cycles=100, fps=50.0),
        _row(3, "bulk", 1, stall_border_cycles=900, stall_weight_cycles=450, fps=60.0),
        _row(4, "bulk", 1, fits=False),
        _row(2, "streamed", 1, stall_border_cycles=200, stall_weight_cycles=100, fps=55.0),
        _row(3, "streamed", 1, stall_border_cycles=450, stall_weight_cycles=450, fps=66.0),
        _row(3, "bulk", 4, fps=90.0),  # only on 3x3
        _row(2, "streamed", 4, fits=False),  # frames=4 streamed: nothing fits
    ]


def _write(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"columns": [*RESULT_COLUMNS, BX, FRAMES], "rows": rows}
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")


def assert_figure(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0, path
    if path.suffix == ".png":
        assert float(np.std(mpimg.imread(path))) > 0, f"{path} is blank"


def test_configurations_and_reference(tmp_path: Path) -> None:
    _write(tmp_path, _rows())
    results = load_results(tmp_path)
    columns = config_columns(results.points, results.extra_columns)
    assert columns == (BX, FRAMES)
    assert reference_values(results.points, columns) == {BX: "bulk", FRAMES: "1"}
    ref = reference_values(results.points, columns)
    labels = [config_label(r, columns, ref) for r in results.points]
    # by hand: the settings that differ from bulk / 1
    assert labels == [
        "reference",
        "reference",
        "reference",
        "border_exchange=streamed",
        "border_exchange=streamed",
        "frames=4",
        "border_exchange=streamed, frames=4",
    ]


def test_comparison_picks_reference_mesh_else_smallest_fit(tmp_path: Path) -> None:
    _write(tmp_path, _rows())
    results = load_results(tmp_path)
    columns = config_columns(results.points, results.extra_columns)
    chosen = comparison_points(results.points, columns)
    picks = chosen["resnet34 224x224"]
    # 2x2 and 3x3 each carry 3 configurations; the tie goes to the fewer chips: 2x2.
    # reference and streamed fit there; frames=4 ran on 3x3 only; streamed+frames=4 fits
    # nowhere and stays on 2x2, unfit
    got = [(name, r["mesh_rows"], r["fits"]) for name, r in picks]
    assert got == [
        ("reference", 2, True),
        ("border_exchange=streamed", 2, True),
        ("frames=4", 3, True),
        ("border_exchange=streamed, frames=4", 2, False),
    ]
    assert short_reason(picks[3][1]) == REASON.split(";")[0]


def test_comparison_values_are_the_csv_values(tmp_path: Path) -> None:
    """The bars of the comparison are the results' values of the picked points."""
    _write(tmp_path, _rows())
    results = load_results(tmp_path)
    columns = config_columns(results.points, results.extra_columns)
    fig = dataflow_comparison_figure(results.points, columns)
    sub = fig.subfigs[0]
    fps_ax = sub.axes[[p[0] for p in PANELS].index("fps")]
    widths = [round(bar.get_width(), 9) for bars in fps_ax.containers for bar in bars]
    # fps of reference 2x2, streamed 2x2 and frames=4 3x3 (see _rows); the unfit one has none
    assert widths == [50.0, 55.0, 90.0]
    texts = {t.get_text() for t in fps_ax.texts}
    assert {"50.0", "55.0 (+10.0%)", "90.0 (+80.0%)", style.INFEASIBLE_LABEL} <= texts


def test_stall_series_and_drawn_shares(tmp_path: Path, assert_laid_out) -> None:
    _write(tmp_path, _rows())
    results = load_results(tmp_path)
    columns = config_columns(results.points, results.extra_columns)
    series = stall_series(results.points, columns)["resnet34 224x224"]
    # frames=4 configurations ran on one mesh each: no line
    assert list(series) == ["reference", "border_exchange=streamed"]
    assert [r["chips"] for r in series["reference"]] == [4, 9, 16]
    fig = border_stall_figure(results.points, columns)
    assert_laid_out(fig)  # two-line tick labels (chips over mesh) under each panel
    halo_ax, weight_ax = fig.axes[:2]  # the first row of panels
    halo = [(tuple(ln.get_xdata()), tuple(ln.get_ydata())) for ln in halo_ax.lines[:2]]
    # stall / (cycles x chips) in percent, by hand: 400 / (1000 x 4) = 10%, 900 / 9000 = 10%
    assert halo[0] == ((4, 9), pytest.approx((10.0, 10.0)))
    assert halo[1] == ((4, 9), pytest.approx((5.0, 5.0)))
    weight = [tuple(ln.get_ydata()) for ln in weight_ax.lines[:2]]
    assert weight[0] == pytest.approx((2.5, 5.0))
    # the unfit 4x4 is a cross at 16 chips
    crosses = [ln for ln in halo_ax.lines if ln.get_marker() == style.INFEASIBLE_MARKER]
    assert [tuple(ln.get_xdata()) for ln in crosses] == [(16,)]


def test_not_drawn_without_dataflow_option(tmp_path: Path) -> None:
    rows = [{**r, BX: "bulk"} for r in _rows()[:3]]
    rows += [{**r, BX: "bulk", "energy.offchip_pj_per_bit": 5} for r in _rows()[:3]]
    for r in rows[:3]:
        r["energy.offchip_pj_per_bit"] = 21
    folder = tmp_path / "energy"
    folder.mkdir()
    data = {"columns": [*RESULT_COLUMNS, BX, "energy.offchip_pj_per_bit"], "rows": rows}
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
    results = load_results(folder)
    assert config_columns(results.points, results.extra_columns) == ("energy.offchip_pj_per_bit",)
    assert dataflow_figures(results.points, results.extra_columns) == []
    # test_tiny_real_run draws both with the same call when an option varies
    assert plot_results(folder, figures=[BORDER_STALL, COMPARISON], workers=1) == []


def test_tiny_real_run(tmp_path: Path) -> None:
    """A real analytic run: the figures exist, the picked points and drawn values are those
    of results.csv, and the point that does not fit is marked with its reason."""
    spec = {
        "name": "tiny_dataflow",
        "networks": [str(TINY)],
        "inputs": ["64x64"],
        "meshes": ["1x1", "2x2"],
        "evaluator": "analytic",
        # peak FMM need at block1.conv2 (stem output, conv1 output and conv2 output, 32x32x32
        # FP16 each, 3 x 524,288 bits): 1,572,864 bits on 1x1, twice that for batch 2, a
        # quarter plus halos on 2x2: only batch 2 on 1x1 overflows 2 Mbit
        "chip": {"fmm_bits": 2_000_000},
        "sweep": {
            "zip": {
                "system.border_exchange": ["bulk", "streamed", "bulk"],
                "system.batch": [1, 1, 2],
            }
        },
    }
    source = tmp_path / "spec.yaml"
    source.write_text(json.dumps(spec), encoding="utf-8")
    out = tmp_path / "out"
    run_experiment(source, out_dir=out, executor="serial", progress=False, plots=False)
    paths = plot_results(out, figures=[BORDER_STALL, COMPARISON], formats=("png", "svg"))
    assert {p.name for p in paths} == {
        f"{n}.{f}" for n in (BORDER_STALL, COMPARISON) for f in ("png", "svg")
    }
    for path in paths:
        assert_figure(path)
    with open(out / "results.csv", encoding="utf-8", newline="") as fh:
        csv_rows = [{k: parse_cell(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    unfit = [r for r in csv_rows if r["fits"] is False]
    assert unfit, "the batch-2 point on 1x1 should not fit"
    results = load_results(out)
    columns = config_columns(results.points, results.extra_columns)
    picks = comparison_points(results.points, columns)[f"{TINY.stem} 64x64"]
    # every configuration ran on 1x1 and 2x2; the tie goes to 1x1, where batch 2 does not
    # fit, so it is shown on 2x2
    expected = {
        (r["system.border_exchange"], r["system.batch"]): r
        for r in csv_rows
        if r["fits"] and (r["mesh_rows"], r["system.batch"]) in ((1, 1), (2, 2))
    }
    assert len(picks) == len(expected) == 3
    for _, row in picks:
        want = expected[(row["system.border_exchange"], row["system.batch"])]
        assert row["total_energy_j"] == pytest.approx(want["total_energy_j"], rel=1e-12)
        assert row["fps"] == pytest.approx(want["fps"], rel=1e-12)
        assert (row["mesh_rows"], row["mesh_cols"]) == (want["mesh_rows"], want["mesh_cols"])
    svg = (out / "figures" / f"{COMPARISON}.svg").read_text(encoding="utf-8")
    for _, row in picks:
        assert f"{row['total_energy_j'] * style.MJ_PER_J:.4g}" in svg
    svg = (out / "figures" / f"{BORDER_STALL}.svg").read_text(encoding="utf-8")
    assert f"{style.INFEASIBLE_LABEL} (grey strip)" in svg  # the batch-2 line's 1x1 cross
