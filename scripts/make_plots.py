"""Regenerate plots/ from the bundled experiments (the figures the README shows).

    python scripts/make_plots.py

Runs every experiment in experiments/ into results/<name>/ (cached points are reused; the
explore_* ones are searched with `explore`, into results/<name>/explore/), then copies its
PNG figures to plots/<name>/; the quickstart's sensitivity goes to
results/quickstart/sensitivity/ and plots/sensitivity_quickstart/.
The contention experiment also writes simpy traces and their timeline figures.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hyperdrive_sim.experiment import load_experiment, run_experiment
from hyperdrive_sim.explore.run import explore_experiment
from hyperdrive_sim.sensitivity import sensitivity
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


def sensitivity_plots(plots: Path) -> None:
    """The quickstart's sensitivity figures (the README shows its tornado chart)."""
    spec, base = load_experiment(ROOT / "experiments" / "quickstart.yaml")
    out = ROOT / "results" / "quickstart" / "sensitivity"
    sensitivity(spec, base, out_dir=out)
    n = _copy_figures(uncertainty_figures(out)[0].parent, plots / "sensitivity_quickstart")
    print(f"sensitivity_quickstart: {n} figures")


def main() -> int:
    plots = ROOT / "plots"
    sensitivity_plots(plots)
    for spec in sorted((ROOT / "experiments").glob("*.yaml")):
        name = spec.stem
        out = ROOT / "results" / name
        if name.startswith("explore_"):
            out = out / "explore"
            shutil.rmtree(out / "figures", ignore_errors=True)  # no figure of an earlier run
            result = explore_experiment(spec, out_dir=out, progress=True)
        else:
            shutil.rmtree(out / "figures", ignore_errors=True)
            result = run_experiment(spec, out_dir=out, progress=True, trace=name in TRACED)
        n = _copy_figures(out / "figures", plots / name)
        st = result.stats
        print(f"{name}: {st['points']} points ({st['ok']} ok), {n} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
