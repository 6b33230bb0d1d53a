"""Image loader and result reader: the frame's I/O over the shared off-chip interface."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from hyperdrive_sim.evaluators.des.state import IMAGE, Sim
from hyperdrive_sim.evaluators.des.tables import chip_name


def image_loader(sim: Sim) -> Generator[simpy.Event, None, None]:
    """Load each chip's input tile (with its halo), chip by chip, one read at a time."""
    env, port, tables = sim.env, sim.port, sim.tables
    cols = sim.plan.hw.mesh.cols
    for c, (bits, cycles) in enumerate(zip(tables.image_bits, tables.image_cycles, strict=True)):
        now = env.now
        end = port.reserve(now, cycles, bits, f"image {chip_name(c, cols)}")

        def arrived(_ev: simpy.Event, c: int = c, bits: int = bits) -> None:
            port.received += bits
            sim.image_loaded[c] += bits
            st = sim.chips[c]
            st.image_at = env.now
            st.wake(IMAGE)

        env.timeout(end + port.latency - now).callbacks.append(arrived)
        if end > now:
            yield env.timeout(end - now)


def result_reader(sim: Sim) -> Generator[simpy.Event, None, None]:
    """After every chip finished the last layer, read each chip's results out."""
    env, port, tables = sim.env, sim.port, sim.tables
    cols = sim.plan.hw.mesh.cols
    yield sim.all_done
    end = env.now
    for c, (bits, cycles) in enumerate(zip(tables.result_bits, tables.result_cycles, strict=True)):
        if bits:
            end = port.reserve(env.now, cycles, bits, f"results {chip_name(c, cols)}")
            sim.result_read[c] += bits
    yield env.timeout(end + port.latency - env.now)
    port.received += sum(sim.result_read)
    sim.total_cycles = env.now
