"""The fast path's events: simpy's order of events without simpy's objects.

simpy processes events in the order (time, priority, event id), the id counting every
event scheduled. The fast path keeps that order exactly but pays less per event:

- lean events (``Wait``, ``Signal``, ``Proc``) instead of simpy's classes;
- **batches**: events scheduled for the same time whose ids follow each other with no
  other event of that time between them are one heap entry, processed member by member
  in id order. Nothing can be processed between two such members (anything else at that
  time has an id before the first or after the last), so this is the order simpy would
  follow, at one heap push and pop for the lot. A chip's ``yield sleep(d)`` and every
  callback scheduled with ``Calendar.later`` join the batch of their time when they can.

Every event id is taken through the ``Calendar`` (``take`` for an ordinary event,
``later`` for a batch member), which closes the open batch of an event's time when
something else takes an id for that time. An id taken elsewhere (a simpy object) shows as
a gap in the ids and closes every open batch: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from heapq import heappop, heappush

import simpy

#: simpy's priorities: of a process start, and of timeouts and triggered events
URGENT, NORMAL = 0, 1

#: where an event sits in simpy's order: (time, priority, event id)
Stamp = tuple[int, int, int]


class Batch:
    """Callbacks due at one time with consecutive places in simpy's order."""

    __slots__ = ("eids", "group", "members")

    def __init__(self) -> None:
        self.members: list[Callable[[object], None]] = []
        self.eids: list[int] = []
        #: the last member's owner when it may take more members (phases.Group), else None
        self.group: object = None


class Calendar:
    """simpy's event ids and queue, with batches (see the module docstring)."""

    __slots__ = ("at", "env", "expect", "ids", "open", "queue")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.queue = env._queue
        self.ids = env._eid
        self.expect = 0  # the id the calendar takes next, unless one was taken elsewhere
        self.open: dict[int, Batch] = {}  # time -> the batch that may still grow
        #: the event being processed, as simpy's order places it
        self.at: Stamp = (0, NORMAL, -1)

    def take(self, time: int) -> int:
        """The id of a new event (not a batch member) due at ``time``."""
        eid = next(self.ids)
        if eid != self.expect:
            self.open.clear()
        self.expect = eid + 1
        if self.open:
            self.open.pop(time, None)
        return eid

    def later(self, time: int, callback: Callable[[object], None]) -> Batch:
        """Call ``callback(None)`` at ``time``, in the place a new timeout would take."""
        return self.put(next(self.ids), time, callback)

    def put(self, eid: int, time: int, callback: Callable[[object], None]) -> Batch:
        """``later`` with the id ``eid``, just taken (phases.py's groups take more ids for
        the same member, and set ``expect`` past them)."""
        open_ = self.open
        if eid != self.expect:
            open_.clear()
        self.expect = eid + 1
        batch = open_.get(time)
        if batch is None:
            batch = open_[time] = Batch()
            heappush(self.queue, (time, NORMAL, eid, batch))
        batch.members.append(callback)
        batch.eids.append(eid)
        batch.group = None
        return batch

    def run(self) -> int:
        """Process every event in simpy's order; return how many heap entries it took."""
        env, queue, open_ = self.env, self.queue, self.open
        processed = 0
        while queue:
            item = heappop(queue)
            time = env._now = item[0]
            event = item[3]
            processed += 1
            if event.__class__ is Batch:
                if open_.get(time) is event:
                    del open_[time]
                for eid, member in zip(event.eids, event.members, strict=True):
                    self.at = (time, NORMAL, eid)
                    member(None)
                continue
            self.at = item[:3]
            # the calendar's events never fail: an exception in a process propagates at once
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
        return processed


class Run:
    """Work a process hands over when it yields it: ``begin(proc)`` takes over, and
    resumes ``proc`` when done (see phases.py)."""

    __slots__ = ()

    def begin(self, proc: Proc) -> None:
        raise NotImplementedError


class Wait:
    """A ``simpy.Timeout`` without simpy's bookkeeping (see ``Calendar``)."""

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self) -> None:
        self.callbacks: list[Callable] | None = []


class Signal(Wait):
    """A lean ``simpy.Event`` that something else triggers (``succeed``)."""

    __slots__ = ("calendar", "triggered")

    def __init__(self, calendar: Calendar) -> None:
        self.callbacks = []
        self.calendar = calendar
        self.triggered = False

    def succeed(self) -> None:
        self.triggered = True
        self.calendar.later(self.calendar.env._now, self._process)

    def _process(self, _event: object) -> None:
        callbacks, self.callbacks = self.callbacks, None
        for callback in callbacks:  # type: ignore[union-attr]
            callback(self)


class Proc:
    """A ``simpy.Process`` without simpy's bookkeeping (no interrupts; an exception in the
    generator propagates at once). Its start and its end are events with their ids, as in
    simpy, so the order of events is the same. The generator may yield an int: a sleep of
    that many cycles (``Calendar.later``), the fast form of ``yield env.timeout(d)``."""

    __slots__ = ("_value", "calendar", "callbacks", "gen", "resume")
    _ok = True

    def __init__(self, calendar: Calendar, gen: Generator) -> None:
        self.calendar, self.gen, self.callbacks = calendar, gen, []
        self._value: object = simpy.events.PENDING
        self.resume = self._resume
        start = Wait()
        start.callbacks = [self.resume]
        now = calendar.env._now
        heappush(calendar.queue, (now, URGENT, calendar.take(now), start))

    @property
    def is_alive(self) -> bool:
        return self._value is simpy.events.PENDING

    def _resume(self, _event: object) -> None:
        gen = self.gen
        try:
            event = gen.send(None)
            while True:
                if event.__class__ is int:
                    calendar = self.calendar
                    calendar.later(calendar.env._now + event, self.resume)
                    return
                if isinstance(event, Run):
                    event.begin(self)
                    return
                if event.callbacks is not None:
                    break
                event = gen.send(event._value)  # already processed: go on at once
        except StopIteration:
            self._value = None
            calendar = self.calendar
            now = calendar.env._now
            heappush(calendar.queue, (now, NORMAL, calendar.take(now), self))
            return
        event.callbacks.append(self.resume)
