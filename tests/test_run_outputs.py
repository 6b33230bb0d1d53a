"""What a run prints and where it writes: the sizing table and its footer, folders per
command and per `--set`, figure folders that hold only the figures of their results,
status lines that say what changed, the sensitivity cache, verify's progress and the
resume hint on Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperdrive_sim import cli
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.report import folders, table

SMALL = {
    "name": "small",
    "networks": ["resnet18"],
    "inputs": ["64x64"],
    "meshes": ["1x1", "2x2"],
    "evaluator": "analytic",
}


def write(tmp_path: Path, data: dict = SMALL) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run(*args: str) -> int:
    return cli.main(["run", *args, "--executor", "serial", "--no-progress"])


# --- the table -------------------------------------------------------------------------

#: a row made up by hand: 10 mJ per frame split 2 / 1 / 5 / 1.5 / 0.5 mJ
ROW = {
    "network": "resnet34", "accelerator": "hyperdrive", "input_w": 224, "input_h": 224,
    "mesh_rows": 2, "mesh_cols": 4, "chips": 8, "silicon_area_mm2": 24.84, "fps": 50.0,
    "chip_area_mm2": 3.105, "pad_limited": True,
    "core_energy_j": 2e-3, "onchip_mem_energy_j": 1e-3, "offchip_io_energy_j": 5e-3,
    "c2c_io_energy_j": 1.5e-3, "leakage_energy_j": 0.5e-3, "total_energy_j": 10e-3,
    "system_tops_per_w": 7.3, "fits": True, "status": "ok",
}  # fmt: skip


def test_the_table_answers_sizing_with_shares_that_add_up():
    header, line = table.render([ROW], table.parse_columns([]), [""])
    cells = dict(zip(header.split()[:-1], line.split(), strict=False))
    assert line.split()[:6] == ["resnet34", "hyperdrive", "224x224", "2x4", "8", "24.8"]
    # by hand: shares of 10 mJ; I/O = off-chip 5 + chip-to-chip 1.5 = 65%
    # the die: 24.84 / 8 = 3.105 mm2, pad-limited
    assert line.split()[6:] == [
        "3.10p", "50.0", "10.000", "20.0", "10.0", "50.0", "15.0", "5.0", "65.0", "7.30"
    ]  # fmt: skip
    assert cells["chips"] == "8"
    assert table.footer(table.parse_columns([])) == [
        table.FOOTER["die"],
        table.FOOTER["io"],
        table.FOOTER["parts"],
    ]


def test_columns_pick_and_order_and_missing_cells_are_dashes():
    cols = table.parse_columns(["io,chips", "latency_s"], available=["latency_s"])
    header, line = table.render([{**ROW, "latency_s": None}], cols, ["note"])
    assert header.split() == ["I/O", "%", "chips", "latency_s", "note"]
    assert line.split() == ["65.0", "8", "-", "note"]
    assert table.footer(cols) == [table.FOOTER["io"]]
    assert table.footer(table.parse_columns(["fps"])) == []


def test_an_unknown_column_is_named_with_the_closest():
    with pytest.raises(
        InputError, match=r"--columns: unknown column 'chps' \(did you mean 'chips'"
    ):
        table.parse_columns(["chps"])


def test_plural():
    assert [table.plural(n, "point") for n in (0, 1, 2)] == ["0 points", "1 point", "2 points"]


def test_run_prints_the_footer_and_singular_counts(tmp_path, capsys):
    data = {**SMALL, "meshes": ["2x2"]}
    assert run(str(write(tmp_path, data)), "--out", str(tmp_path / "o"), "--no-plots") == 0
    out = capsys.readouterr().out
    assert table.FOOTER["io"] in out
    assert "1 point: 1 ok, 0 do not fit, 0 failed; 1 computed, 0 from cache" in out


def test_columns_may_name_a_sweep_column_and_a_typo_fails_before_running(tmp_path, capsys):
    data = {**SMALL, "meshes": None, "sweep": {"tilings": {"square": ["2x2"], "wide": ["1x4"]}}}
    data.pop("meshes")
    exp, out = str(write(tmp_path, data)), tmp_path / "o"
    assert run(exp, "--out", str(out), "--no-plots", "--columns", "tiling,chips") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["tiling", "chips", "note"]
    assert [line.split()[:2] for line in lines[1:3]] == [["square", "4"], ["wide", "4"]]
    assert run(exp, "--out", str(tmp_path / "p"), "--columns", "tilling") == 2
    assert "did you mean 'tiling'" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()  # refused before anything ran or was written


# --- folders ---------------------------------------------------------------------------


def test_folder_names():
    assert folders.output_folder("q", None) == Path("results/q")
    assert folders.output_folder("q", None, "mine", ["chip.fmm_bits=1"]) == Path("mine")
    assert folders.output_folder("q", None, None, ["chip.fmm_bits=12800000"]) == Path(
        "results/q+chip.fmm_bits=12800000"
    )
    assert folders.output_folder("q", "out/x", None, ["meshes=[2x2, 4x4]"], "explore") == Path(
        "out/x+meshes=2x2-4x4/explore"
    )
    # an override that names the folder or the experiment chooses the folder itself
    assert folders.output_folder("n", "o", None, ["output_dir=o"]) == Path("o")
    assert folders.output_folder("n", None, None, ["name=n"]) == Path("results/n")
    long = [f"energy.offchip_pj_per_bit={v}" for v in range(20)]
    slug = folders.override_slug(long)
    assert len(slug) == folders.MAX_SLUG_CHARS and slug != folders.override_slug(long[:-1])


def test_set_without_out_keeps_the_baseline(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exp = str(write(tmp_path))
    assert run(exp, "--no-plots") == 0
    baseline = (tmp_path / "results/small/results.csv").read_bytes()
    assert run(exp, "--no-plots", "--set", "chip.fmm_bits=12800000") == 0
    assert (tmp_path / "results/small/results.csv").read_bytes() == baseline
    varied = tmp_path / "results/small+chip.fmm_bits=12800000/results.csv"
    assert varied.read_bytes() != baseline and "12800000" in varied.read_text()
    assert "results/small+chip.fmm_bits=12800000/" in capsys.readouterr().out


def _fake_plot_results(results_dir, out_dir=None, **_options) -> list[Path]:
    """Stands in for viz.plot_results (which takes seconds): two "figures" whose bytes are
    those of the results they are drawn from, rewritten on every call."""
    out = Path(out_dir) if out_dir is not None else Path(results_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    data = (Path(results_dir) / "results.json").read_bytes()
    paths = [out / "io_vs_core_energy.png", out / "energy_share.png"]
    for path in paths:
        path.write_bytes(data)
    return paths


def test_new_results_remove_the_figures_of_the_old(tmp_path, monkeypatch, capsys):
    """A figure of earlier results is removed when the results change, drawn or not; a
    re-run with the same results says its figures are up to date (same bytes), and so does
    `plot`."""
    import hyperdrive_sim.viz

    monkeypatch.setattr(hyperdrive_sim.viz, "plot_results", _fake_plot_results)
    out = tmp_path / "o"
    exp = str(write(tmp_path))
    assert run(exp, "--out", str(out)) == 0
    assert "wrote 2 figures to" in capsys.readouterr().out
    stray = out / "figures" / "tornado_from_elsewhere.png"
    stray.write_bytes(b"not ours")
    assert run(exp, "--out", str(out)) == 0  # same results: same figures
    again = capsys.readouterr().out
    assert f"2 figures in {out}/figures/ up to date" in again and "wrote 2" not in again
    assert "removed 1 figure of earlier results" in again and not stray.exists()
    assert cli.main(["plot", str(out)]) == 0  # `plot` as well: nothing changed, nothing "wrote"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("up to date: ") for line in lines)
    assert run(exp, "--out", str(out), "--no-plots", "--set", "meshes=[1x1]") == 0
    assert not list((out / "figures").glob("*.png"))  # other results: the figures went
    assert run(exp, "--out", str(out)) == 0  # and drawn again from these results, written
    assert "wrote 2 figures to" in capsys.readouterr().out


def test_a_cached_run_does_not_redraw_its_figures(tmp_path, capsys):
    """With the real figures: the second run finds them up to date (the figure stamp)."""
    out = tmp_path / "o"
    exp = str(write(tmp_path, {**SMALL, "meshes": ["2x2"]}))
    assert run(exp, "--out", str(out)) == 0
    assert "wrote 3 figures to" in capsys.readouterr().out  # one point: no tiling comparison
    stamps = {p: p.stat().st_mtime_ns for p in (out / "figures").glob("*.png")}
    assert run(exp, "--out", str(out)) == 0
    assert f"3 figures in {out}/figures/ up to date" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not even rewritten


def test_draw_into_reports_changes_and_prunes(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"1")
    (folder / "old.svg").write_bytes(b"x")
    (folder / "notes.txt").write_text("kept: not a figure")

    def draw() -> list[Path]:
        (folder / "a.png").write_bytes(b"1")  # same bytes
        (folder / "b.png").write_bytes(b"2")
        return [folder / "a.png", folder / "b.png"]

    drawn = folders.draw_into(folder, draw)
    assert drawn.changed == (folder / "b.png",)
    assert drawn.removed == (folder / "old.svg",)
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "b.png", "notes.txt"]
    assert drawn.summary() == (
        f"wrote 1 figure to {folder}/ (1 up to date); removed 1 figure of earlier results"
    )


# --- sensitivity and explore -------------------------------------------------------------


def test_sensitivity_has_its_folder_and_a_rerun_computes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = {**SMALL, "meshes": ["1x1"]}
    args = ["sensitivity", str(write(tmp_path, data)), "--samples", "4", "--executor",
            "serial", "--no-progress", "--no-plots"]  # fmt: skip
    assert cli.main(args) == 0
    first = capsys.readouterr().out
    assert "1 evaluation: 1 computed, 0 from cache" in first
    assert (tmp_path / "results/small/sensitivity/uncertainty.csv").is_file()
    table_first = (tmp_path / "results/small/sensitivity/uncertainty.csv").read_bytes()
    assert cli.main(args) == 0
    second = capsys.readouterr().out
    assert "1 evaluation: 0 computed, 1 from cache" in second
    assert (tmp_path / "results/small/sensitivity/uncertainty.csv").read_bytes() == table_first
    assert not (tmp_path / "results/small/results.csv").exists()  # not mixed with a run's


def test_explore_writes_its_own_subfolder(tmp_path, monkeypatch):
    from hyperdrive_sim.explore.run import explore_experiment

    monkeypatch.chdir(tmp_path)
    data = {
        "name": "space",
        "networks": ["resnet18"],
        "inputs": ["64x64"],
        "explore": {
            "mesh": {"max_rows": 1, "max_cols": 2},
            "objectives": {"energy": "min", "fps": "max"},
        },
    }
    stray = tmp_path / "results/space/explore/figures/pareto_of_a_removed_scenario.png"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not of these results")
    result = explore_experiment(write(tmp_path, data), executor="serial")
    assert result.out_dir == Path("results/space/explore")
    assert (tmp_path / "results/space/explore/pareto.csv").is_file()
    figures = sorted(p.name for p in stray.parent.iterdir() if p.suffix == ".png")
    assert figures and stray.name not in figures


# --- verify progress and Ctrl-C ----------------------------------------------------------


def test_verify_reports_progress_per_layer():
    from hyperdrive_sim.verify.run import verify

    calls = []
    report = verify("resnet18", "32x32", mesh="1x1", progress=lambda *call: calls.append(call))
    n = len(report.layers)
    assert calls[0] == (0, n, "starting")
    assert [c[0] for c in calls] == list(range(n + 1))
    assert calls[-1][2] == report.layers[-1].name


def test_ctrl_c_says_a_rerun_resumes(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with(parser(), "run", interrupted))
    assert cli.main(["run", "quickstart"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperdrive-sim: interrupted") and "run the same command again" in err


def _with(parser, command: str, func):
    """``parser`` with ``command`` bound to ``func``."""
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices[command].set_defaults(func=func)
    return parser
