"""Names the command line offers as choices, kept in a module that imports nothing, so that
``hyperdrive-sim --help`` does not load the evaluators or executors to list them.

tests/test_startup.py checks they match the registries (``evaluators.EVALUATORS``,
``sweep.executors.RUNNERS`` and the spec's ``Evaluator`` type).
"""

#: evaluators a point can be timed with (``--evaluator``, the spec's ``evaluator:``)
EVALUATORS = ("analytic", "simpy")
#: where points run (``--executor``)
EXECUTORS = ("serial", "processes", "dask")
