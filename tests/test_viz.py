"""Figures from results folders: every expected file exists, decodes, and is not blank."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.experiment import run_experiment
from hyperdrive_sim.result import LAYER_COLUMNS, RESULT_COLUMNS
from hyperdrive_sim.viz import FIGURES, PointSelector, plot_results, timeline_figure
from hyperdrive_sim.viz.load import load_results
from hyperdrive_sim.viz.points import (
    file_label,
    point_label,
    select_point,
    tiling_series,
    varying_columns,
)
from hyperdrive_sim.viz.style import INFEASIBLE_LABEL

REPO = Path(__file__).resolve().parent.parent
FMM_BITS = 6_400_000


def assert_figure(path: Path) -> None:
    """Non-empty file; a PNG decodes to an image that is not one flat colour."""
    assert path.is_file() and path.stat().st_size > 0, path
    if path.suffix == ".png":
        assert float(np.std(mpimg.imread(path))) > 0, f"{path} is blank"


def test_quickstart_figures(tmp_path: Path) -> None:
    run_experiment(
        REPO / "experiments/quickstart.yaml",
        out_dir=tmp_path,
        progress=False,
        executor="serial",
        plots=False,
    )
    paths = plot_results(tmp_path, formats=("png", "svg"))
    expected = {tmp_path / "figures" / f"{n}.{ext}" for n in FIGURES for ext in ("png", "svg")}
    assert set(paths) == expected
    for path in paths:
        assert_figure(path)
    assert not list((tmp_path / "figures").glob(".*.tmp")), "temp files left behind"
    svg = (tmp_path / "figures/io_vs_core_energy.svg").read_text(encoding="utf-8")
    assert INFEASIBLE_LABEL in svg  # the 1x1 mesh does not fit: shown, not dropped
    assert "resnet34 224x224" in svg and ">1x1<" in svg  # panel title, bar label
    layers_svg = (tmp_path / "figures/layer_breakdown.svg").read_text(encoding="utf-8")
    assert "resnet34 224x224 2x2" in layers_svg  # the first point that fits


def _row(mesh: tuple[int, int], fits: bool = False, **extra: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(RESULT_COLUMNS)
    row.update(
        network="resnet34",
        input_h=1080,
        input_w=1920,
        mesh_rows=mesh[0],
        mesh_cols=mesh[1],
        chips=mesh[0] * mesh[1],
        fits=fits,
        reason=None if fits else "layer 'conv1' needs more feature-map memory than the chip has",
        **extra,
    )
    return row


def _write_results(folder: Path, rows: list[dict[str, object]], extra: tuple[str, ...] = ()):
    data = {"columns": [*RESULT_COLUMNS, *extra], "rows": rows}
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")


def test_all_infeasible(tmp_path: Path) -> None:
    _write_results(tmp_path, [_row((1, 1)), _row((2, 2))])
    with open(tmp_path / "layers.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LAYER_COLUMNS, restval="")
        writer.writeheader()
        for name, need in (("conv1", 3 * FMM_BITS), ("layer1.0.conv1", FMM_BITS // 2)):
            writer.writerow(
                {
                    "network": "resnet34",
                    "input_h": 1080,
                    "input_w": 1920,
                    "mesh_rows": 1,
                    "mesh_cols": 1,
                    "layer": name,
                    "fmm_need_bits": need,
                    "fmm_capacity_bits": FMM_BITS,
                }
            )
    paths = plot_results(tmp_path, formats=("svg", "png"))
    figures = tmp_path / "figures"
    assert set(paths) == {
        figures / f"{name}.{ext}"
        for name in ("io_vs_core_energy", "layer_breakdown")
        for ext in ("png", "svg")
    }
    for path in paths:
        assert_figure(path)
    io_svg = (figures / "io_vs_core_energy.svg").read_text(encoding="utf-8")
    assert io_svg.count(INFEASIBLE_LABEL) >= 2
    layer_svg = (figures / "layer_breakdown.svg").read_text(encoding="utf-8")
    assert "over capacity" in layer_svg and "conv1" in layer_svg


def test_select_point() -> None:
    points = [_row((1, 1)), _row((2, 2), fits=True), _row((3, 3), fits=True)]
    assert select_point(points) is points[1]  # the first that fits
    assert select_point(points, PointSelector(mesh="3x3")) is points[2]
    assert select_point(points, PointSelector(mesh="1x1")) is points[0]  # does not fit: kept
    assert select_point(points, PointSelector("resnet34", "1920x1080")) is points[1]
    with pytest.raises(InputError, match="no point matches vgg16"):
        select_point(points, PointSelector(network="vgg16"))


def test_labels_name_only_the_settings_that_depart_from_the_usual_value() -> None:
    """A zipped sweep where each point changes one option of a reference: labels name only
    the change (as the run table does), the figure note names the reference, and file names
    keep every setting."""
    extra = ("system.border_exchange", "system.frames")
    reference = {"system.border_exchange": "bulk", "system.frames": 1}
    rows = [
        _row((2, 2), fits=True, **reference),
        _row((2, 2), fits=True, **{**reference, "system.border_exchange": "streamed"}),
        _row((2, 2), fits=True, **{**reference, "system.frames": 4}),
        _row((4, 4), fits=True, **reference),
    ]
    varying = varying_columns(rows, extra)
    assert varying.columns == extra
    # bulk: 3 of 4 points, frames 1: 3 of 4 -- the reference
    assert varying.usual == (("system.border_exchange", "bulk"), ("system.frames", "1"))
    assert [point_label(r, varying) for r in rows] == [
        "resnet34 1920x1080 2x2",
        "resnet34 1920x1080 2x2 border_exchange=streamed",
        "resnet34 1920x1080 2x2 frames=4",
        "resnet34 1920x1080 4x4",
    ]
    assert varying.note() == "settings not named: border_exchange=bulk, frames=1"
    assert file_label(rows[0], varying) == "resnet34_1920x1080_2x2_border_exchange-bulk_frames-1"
    # the series of a tiling keep apart: the reference spans 2x2 and 4x4
    assert list(tiling_series(rows, varying)) == ["resnet34 1920x1080"]


def test_sweep_columns_label_and_group_points(tmp_path: Path) -> None:
    """A sweep column that restates the mesh is not a setting; one that varies is."""
    extra = ("tiling", "energy.offchip_pj_per_bit")
    rows = [
        _row((m, m), fits=True, tiling="square", **{"energy.offchip_pj_per_bit": pj})
        for m in (1, 2)
        for pj in (0.5, 21)
    ]
    _write_results(tmp_path, rows, extra)
    results = load_results(tmp_path)
    assert results.extra_columns == extra
    varying = varying_columns(results.points, results.extra_columns)
    assert varying.columns == ("energy.offchip_pj_per_bit",)
    assert varying.usual == ()  # two values, two points each: no usual one, both named
    series = tiling_series(results.points, varying)
    assert sorted(series) == [
        "resnet34 1920x1080 offchip_pj_per_bit=0.5",
        "resnet34 1920x1080 offchip_pj_per_bit=21",
    ]
    assert all(len(rows) == 2 for rows in series.values())


def test_timeline_figure(tmp_path: Path) -> None:
    intervals = {
        "chip (0,0)": [(0, 100, "wait: image"), (100, 900, "conv1"), (900, 1000, "stall: halo")],
        "chip (0,1)": [(0, 50, "stall_io"), (50, 400, "busy"), (400, 600, "stall_weight")],
        "chip (1,0)": [(0, 300, "busy"), (300, 450, "stall_border"), (450, 1000, "layer2")],
    }
    timeline_figure(intervals, 100e6, tmp_path / "timeline.png", formats=("png", "svg"))
    for ext in ("png", "svg"):
        assert_figure(tmp_path / f"timeline.{ext}")
    svg = (tmp_path / "timeline.svg").read_text(encoding="utf-8")
    assert "chip (1,0)" in svg and "halo" in svg
