"""The fast path's calendar processes events in simpy's own order.

Random processes sleep (often for the same number of cycles, so many events tie in time),
schedule callbacks and trigger and wait for each other's signals. The same scripts run on
simpy's classes and loop, and on the calendar's lean events and batches; the log of what
ran when, in order, and the number of event ids taken must be identical. This checks the
batching rule on its own, apart from the chip model (tests/test_des_fast.py checks that).
"""

from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperdrive_sim.evaluators.des.events import Calendar, Proc, Signal

# an action: ("sleep", cycles), ("call", cycles): a callback that logs, ("fire", signal),
# ("wait", signal): wait for a signal that another process fires (if it was not fired yet),
# ("join", q): wait for an earlier process q to end (an event that is not a batch member),
# ("simpy", cycles): a callback on a simpy timeout, an event id the calendar does not see
actions = st.one_of(
    st.tuples(st.just("sleep"), st.integers(0, 3)),
    st.tuples(st.just("call"), st.integers(0, 3)),
    st.tuples(st.just("fire"), st.integers(0, 2)),
    st.tuples(st.just("wait"), st.integers(0, 2)),
    st.tuples(st.just("join"), st.integers(0, 5)),
    st.tuples(st.just("simpy"), st.integers(0, 3)),
)
scripts = st.lists(st.lists(actions, max_size=12), min_size=1, max_size=6)


def _run(script: list[list[tuple[str, int]]], fast: bool) -> tuple[list, int]:
    env = simpy.Environment()
    log: list[tuple[int, str]] = []
    if fast:
        cal = Calendar(env)
        signals = [Signal(cal) for _ in range(3)]

        def sleep(d: int) -> object:
            return d

        def call_in(d: int, f) -> None:
            cal.later(env._now + d, f)

        def process(gen) -> object:
            return Proc(cal, gen)
    else:
        signals = [env.event() for _ in range(3)]
        sleep = env.timeout

        def call_in(d: int, f) -> None:
            env.timeout(d).callbacks.append(f)

        def process(gen) -> object:
            return env.process(gen)

    def proc(p: int, steps: list[tuple[str, int]]):
        for n, (what, arg) in enumerate(steps):
            log.append((env.now, f"{p}.{n} {what}"))
            if what == "sleep":
                yield sleep(arg)
            elif what == "call":
                call_in(arg, lambda _ev, p=p, n=n: log.append((env.now, f"{p}.{n} called")))
            elif what == "fire" and not signals[arg].triggered:
                signals[arg].succeed()
            elif what == "wait" and not signals[arg].triggered:
                if not any(w == "fire" and a == arg for q in script for w, a in q):
                    continue  # nobody fires it: do not wait forever
                yield signals[arg]
            elif what == "simpy":
                env.timeout(arg).callbacks.append(
                    lambda _ev, p=p, n=n: log.append((env.now, f"{p}.{n} simpy"))
                )
            elif what == "join" and arg < p:
                yield procs[arg]
        log.append((env.now, f"{p} done"))

    procs = [process(proc(p, steps)) for p, steps in enumerate(script)]
    if fast:
        cal.run()
    else:
        env.run()
    return log, next(env._eid)


@settings(max_examples=300, deadline=None)
@given(scripts)
def test_calendar_follows_simpys_order(script) -> None:
    assert _run(script, fast=True) == _run(script, fast=False)


def test_batches_take_one_heap_entry() -> None:
    """Two processes sleeping in step share their heap entries (the saving it exists for)."""
    env = simpy.Environment()
    cal = Calendar(env)

    def proc():
        for _ in range(10):
            yield 5

    Proc(cal, proc())
    Proc(cal, proc())
    processed = cal.run()
    # 2 starts, then 10 batches of both sleeps, then 2 ends: simpy would process 24 events
    assert processed == 2 + 10 + 2
    assert next(env._eid) == 24
