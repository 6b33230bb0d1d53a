"""Regenerate plots/ from the bundled experiments (the figures the README shows).

    python scripts/make_plots.py

Runs every experiment in experiments/ into results/<name>/ (cached points are reused; the
explore_* ones are searched with `explore`, into results/<name>/explore/), then copies its
PNG figures to plots/<name>/; the quickstart's sensitivity goes to
results/quickstart/sensitivity/ and plots/sensitivity_quickstart/.
The contention experiment also writes simpy traces and their timeline figures. Every
figure is drawn once more and put through the figure check (hyperdrive_sim.viz.check):
the script lists what it finds and exits with 1 when it finds anything.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hyperdrive_sim.experiment import load_experiment, run_experiment
from hyperdrive_sim.explore.run import explore_experiment
from hyperdrive_sim.sensitivity import sensitivity
from hyperdrive_sim.viz.check import figure_problems, results_figures
from hyperdrive_sim.viz.pareto import pareto_builds
from hyperdrive_sim.viz.uncertainty import uncertainty_figures

ROOT = Path(__file__).resolve().parent.parent
TRACED = {"contention"}


def _copy_figures(source: Path, target: Path) -> int:
    """Replace ``target`` with the PNG figures of ``source``; return how many."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    figures = sorted(source.glob("*.png"))
    for png in figures:
        shutil.copy2(png, target / png.name)
    return len(figures)


def _check(name: str, builds) -> int:
    """Draw each figure of ``builds`` ((stem, build) pairs) and print what the figure
    check finds; return how many figures have a problem."""
    bad = 0
    for stem, build in builds:
        problems = figure_problems(build())
        for problem in problems:
            print(f"  figure check, {name}/{stem}: {problem}")
        bad += bool(problems)
    return bad


def sensitivity_plots(plots: Path) -> int:
    """The quickstart's sensitivity figures (the README shows its tornado chart); returns
    the figures the check finds a problem in."""
    spec, base = load_experiment(ROOT / "experiments" / "quickstart.yaml")
    out = ROOT / "results" / "quickstart" / "sensitivity"
    sensitivity(spec, base, out_dir=out)
    n = _copy_figures(uncertainty_figures(out)[0].parent, plots / "sensitivity_quickstart")
    print(f"sensitivity_quickstart: {n} figures")
    return _check("sensitivity_quickstart", results_figures(out))


def main() -> int:
    plots = ROOT / "plots"
    bad = sensitivity_plots(plots)
    for spec in sorted((ROOT / "experiments").glob("*.yaml")):
        name = spec.stem
        out = ROOT / "results" / name
        if name.startswith("explore_"):
            out = out / "explore"
            shutil.rmtree(out / "figures", ignore_errors=True)  # no figure of an earlier run
            result = explore_experiment(spec, out_dir=out, progress=True)
            objectives = [(o.column, o.maximise) for o in result.objectives]
            builds = pareto_builds(result.rows, objectives, result.scenarios)
        else:
            shutil.rmtree(out / "figures", ignore_errors=True)
            result = run_experiment(spec, out_dir=out, progress=True, trace=name in TRACED)
            builds = results_figures(out)
        n = _copy_figures(out / "figures", plots / name)
        st = result.stats
        print(f"{name}: {st['points']} points ({st['ok']} ok), {n} figures")
        bad += _check(name, builds)
    print(f"figure check: {bad} figures with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
