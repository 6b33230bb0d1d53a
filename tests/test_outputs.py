"""Outputs: written as one set, with the usual permissions, and write failures reported
as the user's problem (exit 2, one line) before or without losing the previous set."""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import pytest

from hyperdrive_sim import experiment as experiment_module
from hyperdrive_sim.cli import default_validation_out, main
from hyperdrive_sim.experiment import draw_figures, run_experiment
from hyperdrive_sim.report import writers
from hyperdrive_sim.sweep import executors

EXPERIMENT = """name: t
networks: [resnet18]
inputs: [{inputs}]
meshes: [1x1]
chip: {{include: chips/hyperdrive}}
system: {{include: systems/hyperdrive_mesh}}
energy: {{include: energy/hyperdrive_22fdx}}
"""
SET = ("results.csv", "results.json", "layers.csv", "chips.csv", "manifest.json")


def write_exp(tmp_path: Path, inputs: str = "64x64", extra: str = "") -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(EXPERIMENT.format(inputs=inputs) + extra)
    return path


def run_cli(*args: str) -> int:
    return main(["run", *args, "--executor", "serial", "--no-plots", "--no-progress"])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in SET}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_full_disk_while_staging_keeps_the_previous_set(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert run_cli(str(write_exp(tmp_path)), "--out", str(out)) == 0
    before = snapshot(out)
    capsys.readouterr()
    calls = []
    real = writers._csv_into

    def fill_disk_at_layers(fh, columns, rows):  # the second table of the set
        calls.append(fh.name)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, columns, rows)

    monkeypatch.setattr(writers, "_csv_into", fill_disk_at_layers)
    # a different experiment (two inputs): had anything been renamed, results.csv would differ
    code = run_cli(str(write_exp(tmp_path, "64x64, 32x32")), "--out", str(out))
    assert code == 2
    line = error_line(capsys)
    assert line.startswith(f"hyperdrive-sim: error: {out}: cannot write layers.csv: ")
    assert "no space left on device; free some space" in line
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_a_failed_rename_restores_the_files_already_renamed(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert run_cli(str(write_exp(tmp_path)), "--out", str(out)) == 0
    before = snapshot(out)
    capsys.readouterr()
    real = os.replace

    def fail_on_chips(src, dst):  # results.csv, results.json, layers.csv were renamed
        if Path(dst).name == "chips.csv":
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_chips)
    assert run_cli(str(write_exp(tmp_path, "64x64, 32x32")), "--out", str(out)) == 2
    assert "cannot write chips.csv: input/output error" in error_line(capsys)
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_a_new_set_replaces_every_file(tmp_path):
    out = tmp_path / "out"
    run_experiment(write_exp(tmp_path), out_dir=out, executor="serial", plots=False)
    run_experiment(write_exp(tmp_path, "64x64, 32x32"), out_dir=out, executor="serial", plots=False)
    with (out / "results.csv").open() as fh:
        assert [r["input_w"] for r in csv.DictReader(fh)] == ["64", "32"]
    assert json.loads((out / "manifest.json").read_text())["points"] == 2
    assert leftovers(out) == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_respect_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        out = tmp_path / "out"
        run_experiment(write_exp(tmp_path), out_dir=out, executor="serial", plots=False)
    finally:
        os.umask(old)
    files = [out / name for name in SET] + list((out / "cache").glob("*.json"))
    assert len(files) == 6
    # 0o666 less the umask: the mode open() would have given a new file
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: mode for f in files}


def test_a_read_only_folder_is_refused_before_simulating(tmp_path, monkeypatch, capsys):
    def read_only(*_args, **_kw):
        raise OSError(errno.EROFS, "Read-only file system")

    def never(*_args, **_kw):  # pragma: no cover - the point must not run
        raise AssertionError("simulated before checking the output folder")

    monkeypatch.setattr(writers.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(executors, "run_point", never)
    out = tmp_path / "ro" / "out"
    assert run_cli(str(write_exp(tmp_path)), "--out", str(out)) == 2
    assert error_line(capsys) == (
        f"hyperdrive-sim: error: {out}: cannot write results.csv: read-only file system; "
        "choose another folder with --out"
    )
    assert not (tmp_path / "ro").exists()  # the folders it created are removed again


@pytest.mark.parametrize(
    "target, expected",
    [
        ("afile/sub", "cannot create folder sub: not a directory"),
        ("a" * 300, "a name of 300 characters in this path is too long (at most 255)"),
        ("/proc/x", "/proc: cannot create folder x"),
        ("afile", "expected a folder for the outputs, but this is a file"),
    ],
)
def test_output_paths_that_cannot_be_folders_exit_2(
    tmp_path, monkeypatch, capsys, target, expected
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert run_cli(str(write_exp(tmp_path)), "--out", target) == 2
    line = error_line(capsys)
    assert expected in line and "internal error" not in line


def test_output_dir_naming_the_experiment_file_itself_exits_2(tmp_path, capsys):
    path = write_exp(tmp_path, extra=f"output_dir: {tmp_path / 't.yaml'}\n")
    assert run_cli(str(path)) == 2
    assert "the output folder is the experiment file itself" in error_line(capsys)
    assert path.read_text().startswith("name: t")  # untouched


def test_cache_put_on_a_full_disk_stops_with_exit_2(tmp_path, monkeypatch, capsys):
    """Decision: a cache entry that cannot be written stops the run (computing on would
    waste time on results that cannot be kept); entries already written stay."""
    exp = write_exp(tmp_path, "64x64, 32x32")
    out = tmp_path / "out"
    real = writers.write_json
    puts = []

    def full_after_one(path, data):
        if path.parent.name == "cache":
            puts.append(path)
            if len(puts) == 2:
                raise writers.output_error(OSError(errno.ENOSPC, "No space left"), path)
        real(path, data)

    monkeypatch.setattr("hyperdrive_sim.sweep.cache.write_json", full_after_one)
    assert run_cli(str(exp), "--out", str(out)) == 2
    assert "no space left; free some space" in error_line(capsys)
    assert len(list((out / "cache").glob("*.json"))) == 1  # the first point is kept
    monkeypatch.undo()
    assert run_cli(str(exp), "--out", str(out)) == 0
    assert "1 computed, 1 from cache" in capsys.readouterr().out


def test_a_sweep_axis_that_is_a_result_column_appears_once(tmp_path):
    exp = write_exp(tmp_path, extra="sweep:\n  grid:\n    evaluator: [analytic, simpy]\n")
    out = tmp_path / "out"
    run_experiment(exp, out_dir=out, executor="serial", plots=False)
    for name in ("results.csv", "layers.csv", "chips.csv"):
        with (out / name).open() as fh:
            header = next(csv.reader(fh))
        assert header.count("evaluator") == 1, name
    with (out / "results.csv").open() as fh:
        assert [r["evaluator"] for r in csv.DictReader(fh)] == ["analytic", "simpy"]


def test_rows_of_points_that_do_not_fit_name_evaluator_and_accelerator(tmp_path):
    # resnet18 at 2048x2048 overflows one chip's feature-map memory (a plan that does not
    # fit); yolov3 at 1000x1000 cannot even be built (sides must divide by 32)
    exp = tmp_path / "t.yaml"
    exp.write_text(
        EXPERIMENT.format(inputs="2048x2048").replace("[resnet18]", "[resnet18, yolov3]")
        .replace("[1x1]", "[1x1]\nevaluator: simpy")
    )  # fmt: skip
    exp.write_text(exp.read_text().replace("2048x2048", "2048x2048, 1000x1000"))
    result = run_experiment(exp, out_dir=tmp_path / "out", executor="serial", plots=False)
    infeasible = [r for r in result.rows if not r["fits"]]
    assert len(infeasible) >= 2
    for row in infeasible:
        assert row["evaluator"] == "simpy", row["reason"]
        assert row["accelerator"] == "hyperdrive"
        assert row["operating_point"] and row["frequency_mhz"] > 0


def test_the_cli_prints_the_table_before_drawing_figures(tmp_path, monkeypatch, capsys):
    events = []

    def fake_plot(target: Path, formats=None) -> list[Path]:
        events.append(("plot", capsys.readouterr().out))  # what was printed before drawing
        (target / "figures").mkdir(exist_ok=True)
        figure = target / "figures" / "io_vs_core_energy.png"
        figure.write_bytes(b"png")
        return [figure]

    monkeypatch.setattr(experiment_module, "_plot", fake_plot)
    out = tmp_path / "out"
    code = main(["run", str(write_exp(tmp_path)), "--out", str(out), "--executor", "serial",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    ((_, printed),) = events
    assert printed.startswith("network") and "1 point: 1 ok" in printed
    assert printed.rstrip().endswith("manifest.json)")  # the tables' line, then the figures
    assert "wrote 1 figure to" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["figures"] == ["figures/io_vs_core_energy.png"]


def test_library_plots_true_draws_before_returning(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(
        experiment_module, "_plot", lambda target, formats=None: drawn.append(target) or []
    )
    out = tmp_path / "out"
    result = run_experiment(write_exp(tmp_path), out_dir=out, executor="serial", plots=True)
    assert drawn == [out]
    assert draw_figures(result) == []


def test_validate_writes_beside_the_current_folder_outside_the_repository(tmp_path):
    assert default_validation_out(tmp_path) == Path("validation/validation.md")
    root = Path(__file__).resolve().parent.parent  # this repository: has pyproject.toml
    assert default_validation_out(root) == Path("docs/validation.md")


def test_validate_leaves_no_empty_folder_when_it_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def broken(*_args, **_kw):
        Path("validation/results/paper_comparison/figures").mkdir(parents=True)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("hyperdrive_sim.validation.validate", broken)
    assert main(["validate"]) == 1
    assert list(tmp_path.iterdir()) == []
