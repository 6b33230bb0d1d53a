"""hyperdrive_sim: simulate tiled multi-chip Hyperdrive binary-weight CNN accelerators.

Entry points: ``simulate`` for one point, ``run_experiment`` for an experiment YAML.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy so that `import hyperdrive_sim` stays cheap for the CLI and worker processes.
    if name == "simulate":
        from hyperdrive_sim.simulate import simulate

        return simulate
    if name == "run_experiment":
        from hyperdrive_sim.experiment import run_experiment

        return run_experiment
    raise AttributeError(name)


__all__ = ["__version__", "run_experiment", "simulate"]
