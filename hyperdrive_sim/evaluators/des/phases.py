"""Chips' phases that only compute: the fast path's inner loop, stepped in groups.

Most of a layer's phases take the next weight block (waiting for it if it has not
arrived), compute for ``phase`` cycles and free the block's slot. The chip process hands
such a run of phases to its ``PhaseRun`` and is resumed when the last phase ends.

Runs due at the same time in the same state (phases left, phase length, the same layer,
and for a phase's end the same start) form a ``Group``: one member of the calendar's
batch for that time, which steps every run in id order. A run joins a group only while
the group is its batch's last member, so no other event of that time has an id between
the group's runs. A step takes event ids where the chip processes would in simpy: one
per run for the next phase's end or the wake-up when a block arrives, and the ids the
freed slots trigger. A group takes its runs' ids together after the step, which only
reorders ids of events due at different times, so it changes no comparison simpy makes;
the order of events, and every result, is the plain path's (tests/test_des_fast.py).
"""

from __future__ import annotations

from itertools import islice

from hyperdrive_sim.evaluators.des.events import NORMAL, Calendar, Proc, Run
from hyperdrive_sim.evaluators.des.labels import STALL_WEIGHT, mark
from hyperdrive_sim.evaluators.des.state import BLOCK, ChipState, Sim, WeightBuffer


class PhaseRun(Run):
    """One chip's remaining compute-only phases of a layer (``setup``), run when the
    process yields it; ``stalled`` is what it waited for blocks."""

    __slots__ = (
        "buf",
        "c",
        "calendar",
        "env",
        "left",
        "name",
        "needs",
        "phase",
        "proc",
        "st",
        "stalled",
        "t0",
        "taken",
        "uses",
        "waiting",
    )

    def __init__(self, sim: Sim, c: int) -> None:
        self.c, self.waiting = c, sim.block_waiting
        self.env, self.calendar = sim.env, sim.calendar
        self.st: ChipState = sim.chips[c]
        self.buf: WeightBuffer = sim.buffers[c]
        self.proc: Proc | None = None
        self.left = self.phase = self.stalled = self.t0 = 0
        self.needs = self.taken = False
        self.name = ""
        self.uses: list[int] | None = None

    def setup(self, left: int, phase: int, needs: bool, name: str, taken: bool = False) -> PhaseRun:
        """``left`` phases of ``phase`` cycles, each taking a block if ``needs``; ``taken``:
        the process has already taken the first phase's block (its ``uses`` is set)."""
        self.left, self.phase, self.needs, self.name = left, phase, needs, name
        self.stalled = 0
        self.taken = taken
        return self

    def begin(self, proc: Proc) -> None:
        self.proc = proc
        now = self.env._now
        if self.taken or not self.needs or self.take(self.left, now):
            _place(self.calendar, self, now + self.phase, False, now)

    def take(self, left: int, now: int) -> bool:
        """Take the next block if it has arrived (True); else wait for it, ``left`` phases
        to go, until ``ChipState.wake`` calls ``succeed``."""
        buf = self.buf
        if buf.arrived + buf.common[0] > buf.consumed:
            buf.consumed += 1
            self.uses = buf.queue.popleft() if buf.queue else None
            return True
        self.wait(left, now)
        return False

    def wait(self, left: int, now: int) -> None:
        self.left, self.t0 = left, now
        st = self.st
        st.key, st.event = BLOCK, self
        self.waiting.add(self.c)

    def succeed(self) -> None:
        """The block the run waits for has arrived: wake up now (a triggered event)."""
        now = self.env._now
        _place(self.calendar, self, now, True, now)


class Group:
    """Runs due at ``time``, the ends of phases that started at ``t0`` (``woken`` False) or
    wake-ups of runs whose block has arrived, stepped together: one member of the batch of
    ``time``, standing for the runs' own events (ids: the ranges ``eids``, in order; a
    range per block of ids taken at once). No other event due at
    ``time`` has an id between them (a run joins only while the group is the batch's last
    member), so stepping them in order is simpy's order."""

    __slots__ = (
        "calendar",
        "eids",
        "left",
        "name",
        "needs",
        "phase",
        "runs",
        "t0",
        "time",
        "woken",
    )

    def __init__(self, calendar: Calendar, run: PhaseRun, left: int, time: int, woken: bool):
        self.calendar = calendar
        self.runs = [run]
        self.left, self.phase, self.needs, self.name = left, run.phase, run.needs, run.name
        self.time, self.woken, self.t0 = time, woken, calendar.env._now
        self.eids: list[range] = []

    def step(self, _event: object) -> None:
        if self.woken:
            self._woken()
        else:
            self._ended()

    def _woken(self) -> None:
        now = self.calendar.env._now
        for run in self.runs:
            run.stalled += now - run.t0
            rec = run.st.intervals
            if rec is not None:
                mark(rec, run.t0, now, STALL_WEIGHT)
            buf = run.buf
            buf.consumed += 1
            run.uses = buf.queue.popleft() if buf.queue else None
        self._schedule(self.runs, self.left, now)

    def _ended(self) -> None:
        cal = self.calendar
        now = cal.env._now
        left = self.left - 1
        runs = self.runs
        if self.needs and left and runs[0].st.intervals is None:  # the usual case
            going: list[PhaseRun] = []
            for run in runs:
                buf = run.buf
                uses = run.uses
                if uses is not None:
                    uses[0] -= 1
                if uses is None or not uses[0]:  # WeightBuffer.release, inline
                    buf.free += 1
                    if buf.slot_waiter is not None:
                        event, buf.slot_waiter = buf.slot_waiter, None
                        event.succeed()
                if buf.arrived + buf.common[0] > buf.consumed:  # PhaseRun.take, inline
                    buf.consumed += 1
                    run.uses = buf.queue.popleft() if buf.queue else None
                    going.append(run)
                else:
                    run.wait(left, now)
            if going:
                self._schedule(going, left, now)
            return
        needs, name, t0 = self.needs, self.name, self.t0
        going = []
        eids = [] if left else [eid for block in self.eids for eid in block]
        for j, run in enumerate(runs):
            rec = run.st.intervals
            if rec is not None:
                mark(rec, t0, now, name)
            if needs:
                run.buf.release(run.uses)
            if not left:
                cal.at = (now, NORMAL, eids[j])
                run.proc.resume(None)  # type: ignore[union-attr]
                continue
            if not needs or run.take(left, now):
                going.append(run)
        if going:
            self._schedule(going, left, now)

    def _schedule(self, runs: list[PhaseRun], left: int, now: int) -> None:
        """The next phase of ``runs`` (``left`` to go, this one included) starts now: they
        join the group of that time if it is in the same state, else this group (whose
        batch member is spent) becomes theirs."""
        cal = self.calendar
        time = now + self.phase
        n = len(runs)
        eid = _take_ids(cal, n)
        g = _joinable(cal, eid, time, False, now, runs[0], left)
        if g is not None:
            g.runs.extend(runs)
        else:
            self.runs, self.left, self.t0, self.woken, self.time = runs, left, now, False, time
            self.eids = []
            cal.put(eid, time, self.step).group = g = self
        g.eids.append(range(eid, eid + n))
        cal.expect = eid + n


def _take_ids(cal: Calendar, n: int) -> int:
    """Take ``n`` consecutive event ids; return the first."""
    eid = next(cal.ids)
    if n > 1:
        next(islice(cal.ids, n - 2, None))
    return eid


def _joinable(
    cal: Calendar, eid: int, time: int, woken: bool, now: int, run: PhaseRun, left: int
) -> Group | None:
    """The group that runs in ``run``'s state (``left`` phases to go) may join at ``time``
    with ids from ``eid`` on: its batch's last member, if no id was taken elsewhere since
    the calendar's last (else None)."""
    if eid != cal.expect:
        return None
    batch = cal.open.get(time)
    g = None if batch is None else batch.group
    if (
        g is not None
        and g.woken is woken  # type: ignore[attr-defined]
        and (woken or g.t0 == now)  # type: ignore[attr-defined]
        and _same(g, run, left)  # type: ignore[arg-type]
    ):
        return g  # type: ignore[return-value]
    return None


def _same(group: Group, run: PhaseRun, left: int) -> bool:
    """Whether ``run`` with ``left`` phases to go is in ``group``'s state."""
    return (
        group.left == left
        and group.phase == run.phase
        and group.name is run.name
        and group.needs is run.needs
    )


def _place(cal: Calendar, run: PhaseRun, time: int, woken: bool, now: int) -> Group:
    """Schedule ``run`` at ``time`` (a wake-up, or the end of a phase starting ``now``):
    in the batch's last group if it is in the same state, else in a new one."""
    eid = next(cal.ids)
    group = _joinable(cal, eid, time, woken, now, run, run.left)
    if group is not None:
        group.runs.append(run)
        cal.expect = eid + 1
    else:
        group = Group(cal, run, run.left, time, woken)
        cal.put(eid, time, group.step).group = group
    group.eids.append(range(eid, eid + 1))
    return group


def wake_runs(cal: Calendar, runs: list[PhaseRun]) -> None:
    """Wake ``runs``, whose block has just arrived, in order: ``succeed`` for each, with
    runs in the same state taking their ids in one group."""
    now = cal.env._now
    i, n = 0, len(runs)
    while i < n:
        run = runs[i]
        group = _place(cal, run, now, True, now)
        j = i + 1
        left, phase, name = run.left, run.phase, run.name
        while j < n:
            other = runs[j]
            if other.left != left or other.phase != phase or other.name is not name:
                break
            j += 1
        if j > i + 1:  # the same state: the same group, ids in a row
            eid = _take_ids(cal, j - i - 1)
            group.runs.extend(runs[i + 1 : j])
            group.eids.append(range(eid, eid + j - i - 1))
            cal.expect = eid + j - i - 1
        i = j
