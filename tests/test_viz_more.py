"""Sweep curves, accelerator comparison, timelines from traces, and the loader's fallbacks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from hyperdrive_sim.cli import main
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.evaluators.des.timeline import Timeline, write_trace
from hyperdrive_sim.experiment import run_experiment
from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.viz import PointSelector, load_trace, plot_results, style
from hyperdrive_sim.viz.comparison import comparison_figure, comparison_groups
from hyperdrive_sim.viz.load import load_results, trace_row
from hyperdrive_sim.viz.points import point_label, tiling_series, varying_columns
from hyperdrive_sim.viz.sweep import sweep_columns

REPO = Path(__file__).resolve().parent.parent
#: the tests read texts back from the SVG files (PNG is the default format)
SVG = ("png", "svg")
CONFIGS = REPO / "configs"


def assert_figure(path: Path) -> None:
    """Non-empty file; a PNG decodes to an image that is not one flat colour."""
    assert path.is_file() and path.stat().st_size > 0, path
    if path.suffix == ".png":
        assert float(np.std(mpimg.imread(path))) > 0, f"{path} is blank"


def _run(source: str | Path, out: Path, **kw: object) -> None:
    run_experiment(
        source if isinstance(source, Path) else REPO / "experiments" / f"{source}.yaml",
        out_dir=out,
        executor="serial",
        progress=False,
        plots=False,
        **kw,
    )


def _pngs(paths: list[Path]) -> set[str]:
    return {p.stem for p in paths if p.suffix == ".png"}


def _check(paths: list[Path]) -> None:
    assert paths and {p.suffix for p in paths} == {".png", ".svg"}
    for path in paths:
        assert_figure(path)


def test_sweep_curves_offchip_energy(tmp_path: Path) -> None:
    _run("offchip_energy_sensitivity", tmp_path)
    results = load_results(tmp_path)
    assert sweep_columns(results.points, results.extra_columns) == ("energy.offchip_pj_per_bit",)
    paths = plot_results(tmp_path, figures=["sweep_*"], formats=SVG)
    assert _pngs(paths) == {"sweep_energy_offchip_pj_per_bit"}
    _check(paths)
    svg = (tmp_path / "figures/sweep_energy_offchip_pj_per_bit.svg").read_text(encoding="utf-8")
    # the unit of the swept key on the x axis (viz.units: _pj_per_bit -> pJ/bit)
    for text in ("resnet34 224x224 2x2", "resnet34 1920x1080 12x12", "(pJ/bit, log scale)",
                 "(TOp/s/W)"):  # fmt: skip
        assert text in svg, text
    assert "offchip_pj_per_bit=" not in svg  # the swept value is the x axis, not a line name


def test_sweep_skips_text_axis_and_notes_infeasible(tmp_path: Path) -> None:
    """chip.operating_point (text) makes lines, never an x axis; 1x1 does not fit."""
    spec = {
        "name": "sweep_text_axis",
        "networks": ["resnet34"],
        "inputs": ["224x224"],
        "meshes": ["1x1", "2x2"],
        "chip": {"include": str(CONFIGS / "chips/hyperdrive")},
        "system": {"include": str(CONFIGS / "systems/hyperdrive_mesh")},
        "energy": {"include": str(CONFIGS / "energy/hyperdrive_22fdx")},
        "evaluator": "analytic",
        "sweep": {
            "grid": {
                "chip.operating_point": ["efficient", "nominal"],
                "chip.weight_cache_bits": [0, 1_000_000],
            }
        },
    }
    source = tmp_path / "spec.yaml"
    source.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    out = tmp_path / "out"
    _run(source, out)
    paths = plot_results(out, figures=["sweep_*"], formats=SVG)
    assert _pngs(paths) == {"sweep_chip_weight_cache_bits"}
    _check(paths)
    svg = (out / "figures/sweep_chip_weight_cache_bits.svg").read_text(encoding="utf-8")
    assert "resnet34 224x224 2x2 operating_point=nominal" in svg
    # the 1x1 lines: not drawn, named in the title rather than given legend entries
    assert f"not drawn, {style.INFEASIBLE_LABEL} at every value: resnet34 224x224 1x1" in svg


def test_sweep_text_axis_only(tmp_path: Path) -> None:
    rows = [
        {**dict.fromkeys(RESULT_COLUMNS), **_point(op), "chip.operating_point": op}
        for op in ("efficient", "nominal")
    ]
    _write(tmp_path, rows, ("chip.operating_point",))
    results = load_results(tmp_path)
    assert sweep_columns(results.points, results.extra_columns) == ()
    assert plot_results(tmp_path, figures=["sweep_*"]) == []


def test_accelerator_comparison(tmp_path: Path, assert_laid_out) -> None:
    _run("paper_comparison", tmp_path)
    results = load_results(tmp_path)
    groups = comparison_groups(results.points)
    assert list(groups) == [("resnet34", "224x224"), ("resnet34", "1920x1080")]
    assert [r["accelerator"] for r in groups[("resnet34", "224x224")]] == [
        "hyperdrive_journal",
        "yodann",
        "unpu",
        "xnorbin",
        "xne",
    ]
    varying = varying_columns(results.points, results.extra_columns)
    assert_laid_out(comparison_figure(groups, varying))
    assert tiling_series(results.points, varying) == {}  # baselines are not a mesh size
    paths = plot_results(
        tmp_path, figures=["accelerator_comparison", "tiling_comparison"], formats=SVG
    )
    assert _pngs(paths) == {"accelerator_comparison"}
    _check(paths)
    svg = (tmp_path / "figures/accelerator_comparison.svg").read_text(encoding="utf-8")
    for text in ("hyperdrive_journal", "12x12", "yodann", "xne", "resnet34 1920x1080", "\u221298%"):
        assert text in svg, text
    labels = {point_label(r, varying) for r in results.points}
    assert "yodann resnet34 224x224" in labels  # baselines named, not "resnet34 224x224 1x1"


def test_timeline_from_simpy_trace(tmp_path: Path) -> None:
    _run("quickstart", tmp_path, evaluator="simpy", trace=True)
    traces = sorted((tmp_path / "traces").glob("*.json"))
    assert [t.name.split("_")[2] for t in traces] == ["2x2", "3x3", "4x4"]
    results = load_results(tmp_path)
    row = trace_row(results.points, traces[0])
    assert row is not None and row["point_id"].startswith(traces[0].stem[-8:])
    trace = load_trace(traces[0])
    assert list(trace.groups) == ["chips", "links", "off-chip"]
    assert list(trace.group("chips")) == ["chip (0,0)", "chip (0,1)", "chip (1,0)", "chip (1,1)"]
    assert trace.frequency_hz == row["frequency_mhz"] * 1e6
    ends = [ivs[-1][1] for ivs in trace.group("chips").values()]
    # three frames back to back: the trace ends when the third frame's results are out,
    # after the second frame's, which leave one steady-state interval after the first's
    interval = row["frequency_mhz"] * 1e6 / row["fps"]
    assert trace.end_cycles > row["cycles"] + interval - 1
    assert max(ends) <= trace.end_cycles and all(isinstance(e, int) for e in ends)

    # a trace without frequency metadata is converted with its results row's frequency
    data = json.loads(traces[0].read_text(encoding="utf-8"))
    del data["otherData"]
    bare = tmp_path / "bare" / "traces" / traces[0].name
    bare.parent.mkdir(parents=True)
    bare.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match="no frequency"):
        load_trace(bare)
    assert load_trace(bare, trace.frequency_hz).groups == trace.groups

    paths = plot_results(tmp_path, figures=["timeline_*2x2*"], formats=SVG)
    # named by the trace's point (network, input, mesh; quickstart sweeps nothing else)
    assert _pngs(paths) == {"timeline_resnet34_224x224_2x2"}
    _check(paths)
    svg = paths[1].read_text(encoding="utf-8")
    for text in ("resnet34 224x224 2x2", "chip (1,1)", "links", "off-chip", "weights"):
        assert text in svg, text


def _timeline(chips: int) -> Timeline:
    tracks = {
        f"chip {i}": [
            (0, 7, "wait: image"),
            (7, 1000 + i, "conv1"),
            (1000 + i, 1013, "stall: halo"),
        ]
        for i in range(chips)
    }
    tracks["link 0->1"] = [(10, 20, "halo conv1"), (30, 41, "reduce fc")]
    tracks["off-chip"] = [(0, 7, "image chip 0"), (7, 9, "weights conv1")]
    groups = {"chips": tuple(t for t in tracks if t.startswith("chip")), "links": ("link 0->1",)}
    return Timeline(tracks, {**groups, "off-chip": ("off-chip",)}, 1013 + chips, 42)


def test_trace_round_trip_in_cycles(tmp_path: Path) -> None:
    timeline = _timeline(11)  # chips 0..10: numeric, not text, track order
    write_trace(timeline, tmp_path / "t.json", 333e6)  # cycles are not whole microseconds
    trace = load_trace(tmp_path / "t.json")
    assert trace.end_cycles == timeline.end and trace.frequency_hz == 333e6
    for group, names in timeline.groups.items():
        assert trace.group(group) == {n: timeline.tracks[n] for n in names}


def test_timelines_capped_in_sorted_order(tmp_path, monkeypatch, caplog) -> None:
    _write(tmp_path, [{**dict.fromkeys(RESULT_COLUMNS), **_point("efficient")}])
    for name in ("b_224x224_1x1_00000002", "a_224x224_1x1_00000001", "c_224x224_1x1_00000003"):
        write_trace(_timeline(2), tmp_path / "traces" / f"{name}.json", 100e6)
    (tmp_path / "traces/0_broken.json").write_text("{", encoding="utf-8")
    monkeypatch.setattr(style, "MAX_TIMELINES", 2)
    with caplog.at_level(logging.WARNING, logger="hyperdrive_sim.viz"):
        paths = plot_results(tmp_path, figures=["timeline_*"], formats=SVG)
    assert _pngs(paths) == {"timeline_a_224x224_1x1_00000001"}
    assert "0_broken.json" in caplog.text  # sorted first, unreadable: skipped
    assert "b_224x224_1x1_00000002.json, c_224x224_1x1_00000003.json" in caplog.text  # capped
    _check(paths)


# -- loader fallbacks and selectors ---------------------------------------------------------


def _point(op: str, **extra: object) -> dict[str, object]:
    return {
        "network": "resnet34",
        "input_h": 224,
        "input_w": 224,
        "mesh_rows": 2,
        "mesh_cols": 2,
        "chips": 4,
        "evaluator": "analytic",
        "accelerator": "hyperdrive",
        "operating_point": op,
        "fits": True,
        **extra,
    }


def _write(folder: Path, rows: list[dict], extra: tuple[str, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"columns": [*RESULT_COLUMNS, *extra], "rows": rows}
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")


def test_loader_status_and_keys(tmp_path: Path) -> None:
    """Older rows without status, failed rows with only sweep labels, status over fits."""
    base = [c for c in RESULT_COLUMNS if c not in ("status", "point_id")]  # older format
    failed = {"network": "resnet34", "fits": False, "reason": "internal error: KeyError: 'x'"}
    rows = [
        _point("efficient", input="224x224", mesh="2x2"),
        {**failed, "input": "1920x1080", "mesh": "3x4"},
        _point("efficient", fits=False, reason="FMM overflow", input="224x224", mesh="2x2"),
        _point("efficient", status="infeasible", input="224x224", mesh="2x2"),
    ]
    data = {"columns": [*base, "input", "mesh"], "rows": rows}
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    results = load_results(tmp_path)
    assert results.extra_columns == ("input", "mesh")
    ok, bad, unfit, ruled = results.points
    assert (ok["status"], ok["fits"]) == ("ok", True)
    assert (bad["status"], bad["fits"]) == ("failed", False)
    assert (bad["input_w"], bad["input_h"], bad["mesh_rows"], bad["mesh_cols"], bad["chips"]) == (
        1920,
        1080,
        3,
        4,
        12,
    )
    assert point_label(bad) == "resnet34 1920x1080 3x4"
    assert (unfit["status"], unfit["fits"]) == ("infeasible", False)
    assert (ruled["status"], ruled["fits"]) == ("infeasible", False)


def test_layer_point_selector(tmp_path: Path) -> None:
    assert PointSelector.parse("resnet34,224x224,2x2") == PointSelector(
        "resnet34", "224x224", "2x2"
    )
    assert PointSelector.parse("resnet34") == PointSelector("resnet34")
    assert PointSelector.parse(",,4x4") == PointSelector(mesh="4x4")
    for bad in ("", "resnet34,224,2x2", "a,1x1,1x1,extra", "resnet34,,2x"):
        with pytest.raises(InputError, match="--layer-point"):
            PointSelector.parse(bad)
    _write(tmp_path, [{**dict.fromkeys(RESULT_COLUMNS), **_point("efficient")}])
    assert main(["plot", str(tmp_path), "--layer-point", "resnet34,224x224,9x9"]) == 2
    assert main(["plot", str(tmp_path), "--layer-point", "resnet34,oops"]) == 2
