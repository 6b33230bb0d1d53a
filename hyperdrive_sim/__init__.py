"""hyperdrive_sim: simulate tiled multi-chip Hyperdrive binary-weight CNN accelerators.

Entry points: ``simulate`` for one point, ``run_experiment`` for an experiment YAML.
"""

__version__ = "0.1.0"

from hyperdrive_sim.experiment import ExperimentResult, run_experiment
from hyperdrive_sim.simulate import simulate

__all__ = ["ExperimentResult", "__version__", "run_experiment", "simulate"]
