"""Channels: a mesh link or the off-chip interface, one transfer at a time.

A channel serves transfers in request order (FIFO), one at a time, for
``ceil(bits / bits_per_cycle)`` cycles each; a transfer is delivered ``latency`` cycles after
it leaves the channel, so the latency is pipelined (the channel can start the next transfer
meanwhile). Because every transfer's service time is known when it is requested and requests
are made at the current simulation time, a FIFO single server is a calendar: the next
transfer starts at ``max(now, free_at)``. That is exactly a ``simpy.Resource`` of capacity 1
with a FIFO queue, without the request/release events.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from hyperdrive_sim.evaluators.des.events import NORMAL, Calendar

Interval = tuple[int, int, str]


class Channel:
    """A FIFO server of transfers with a bandwidth (bits/cycle) and a delivery latency."""

    __slots__ = ("bits_per_cycle", "free_at", "intervals", "latency", "name", "received", "sent")

    def __init__(self, name: str, bits_per_cycle: float, latency: int, record: bool) -> None:
        self.name = name
        self.bits_per_cycle = bits_per_cycle
        self.latency = latency
        self.free_at = 0
        self.sent = 0
        self.received = 0
        self.intervals: list[Interval] | None = [] if record else None

    def reserve(self, now: int, cycles: int, bits: int, label: str) -> int:
        """Queue a transfer of ``cycles`` requested at ``now``; return when it leaves."""
        start = self.free_at if self.free_at > now else now
        end = start + cycles
        self.free_at = end
        self.sent += bits
        if self.intervals is not None and end > start:
            self.intervals.append((start, end, label))
        return end


def send(
    env: simpy.Environment,
    route: tuple[Channel, ...],
    bits: int,
    cycles: int,
    label: str,
    on_arrival: Callable[[], None],
    on_hop: Callable[[int], None] | None = None,
    call_in: Callable[[int, Callable[[object], None]], None] | None = None,
) -> None:
    """Store-and-forward ``bits`` over ``route``; call ``on_arrival()`` at the destination,
    and ``on_hop(k)`` (if given) when hop k has arrived (a copy kept on the way).
    ``call_in(delay, f)`` schedules a hop's arrival (default: a simpy timeout).

    Every hop queues on its channel when the message has fully arrived at the hop's start
    (so a relayed message requests its second link only after crossing the first).
    """
    if call_in is None:

        def call_in(delay: int, callback: Callable[[object], None]) -> None:
            env.timeout(delay).callbacks.append(callback)

    _Message(env, route, bits, cycles, label, on_arrival, on_hop, call_in).hop()


class _Message:
    """A message in flight (a plain object: no closures, so no reference cycles)."""

    __slots__ = (
        "bits",
        "call_in",
        "cycles",
        "env",
        "k",
        "label",
        "on_arrival",
        "on_hop",
        "route",
    )

    def __init__(self, env, route, bits, cycles, label, on_arrival, on_hop, call_in) -> None:
        self.env, self.route, self.bits, self.cycles = env, route, bits, cycles
        self.label, self.on_arrival, self.on_hop, self.k = label, on_arrival, on_hop, 0
        self.call_in = call_in

    def hop(self) -> None:
        link = self.route[self.k]
        now = self.env.now
        end = link.reserve(now, self.cycles, self.bits, self.label)
        self.call_in(end + link.latency - now, self.arrived)

    def arrived(self, _event: simpy.Event) -> None:
        self.route[self.k].received += self.bits
        if self.on_hop is not None:
            self.on_hop(self.k)
        self.k += 1
        if self.k < len(self.route):
            self.hop()
        else:
            self.on_arrival()


def send_stamped(
    calendar: Calendar,
    route: tuple[Channel, ...],
    bits: int,
    cycles: int,
    label: str,
    on_stamp: Callable[[tuple[int, int, int]], None],
) -> None:
    """``send`` without the last hop's arrival event: when the last hop is queued,
    ``on_stamp`` gets where its arrival would sit in simpy's order (time, priority, event
    id, the id taken now as the arrival event would take it), so whoever needs the
    arrival can schedule it (or find it past) in exactly that place."""
    if len(route) == 1:
        link = route[0]
        end = link.reserve(calendar.env._now, cycles, bits, label) + link.latency
        link.received += bits
        on_stamp((end, NORMAL, calendar.take(end)))
    else:
        _Stamped(calendar, route, bits, cycles, label, on_stamp).hop()


class _Stamped:
    """A relayed message of ``send_stamped``: every hop but the last arrives as an event."""

    __slots__ = ("bits", "calendar", "cycles", "k", "label", "on_stamp", "route")

    def __init__(self, calendar, route, bits, cycles, label, on_stamp) -> None:
        self.calendar, self.route, self.bits, self.cycles = calendar, route, bits, cycles
        self.label, self.on_stamp, self.k = label, on_stamp, 0

    def hop(self) -> None:
        link = self.route[self.k]
        cal = self.calendar
        end = link.reserve(cal.env._now, self.cycles, self.bits, self.label) + link.latency
        if self.k == len(self.route) - 1:
            link.received += self.bits
            self.on_stamp((end, NORMAL, cal.take(end)))
        else:
            cal.later(end, self.arrived)

    def arrived(self, _event: object) -> None:
        self.route[self.k].received += self.bits
        self.k += 1
        self.hop()
