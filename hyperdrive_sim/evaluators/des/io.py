"""Image loader and result reader: the frame's I/O over the shared off-chip interface."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from hyperdrive_sim.evaluators.cycles import bursts
from hyperdrive_sim.evaluators.des.state import IMAGE, Sim
from hyperdrive_sim.evaluators.des.tables import chip_name


def image_loader(sim: Sim) -> Generator[simpy.Event, None, None]:
    """Load each chip's input tile (with its halo), chip by chip, one burst at a time.

    Each tile moves in bursts of at most ``offchip_burst_cycles``, each requested when the
    previous one has left, so weight reads take turns with them on the interface. With
    ``frames`` back to back, a chip's next tile waits until its FMM has room for it
    (``next_image_layer``); the loader serves the chips in order, frame after frame.
    """
    env, port, tables = sim.env, sim.port, sim.tables
    cols = sim.plan.hw.mesh.cols
    burst = sim.plan.hw.offchip_burst_cycles
    tiles = list(zip(tables.image_bits, tables.image_cycles, strict=True))
    for f in range(sim.frames):
        for c, (bits, cycles) in enumerate(tiles):
            st = sim.chips[c]
            if st.room <= f:
                st.room_event = event = env.event()
                yield event
            parts = bursts(bits, cycles, burst)
            for k, (part_bits, part_cycles) in enumerate(parts):
                now = env.now
                end = port.reserve(now, part_cycles, part_bits, f"image {chip_name(c, cols)}")
                if c == 0 and k == 0:
                    sim.image_start[f] = end - part_cycles
                if k == len(parts) - 1:

                    def arrived(_ev: simpy.Event, c: int = c, bits: int = bits) -> None:
                        port.received += bits
                        sim.image_loaded[c] += bits
                        st = sim.chips[c]
                        st.images += 1
                        st.wake(IMAGE)

                    env.timeout(end + port.latency - now).callbacks.append(arrived)
                if end > now:
                    yield env.timeout(end - now)


def result_reader(sim: Sim) -> Generator[simpy.Event, None, None]:
    """After every chip finished a frame's last layer, read each chip's results out, one
    burst at a time (weight reads of the next frame take turns with them)."""
    env, port, tables = sim.env, sim.port, sim.tables
    cols = sim.plan.hw.mesh.cols
    burst = sim.plan.hw.offchip_burst_cycles
    for f in range(sim.frames):
        yield sim.frame_done[f]
        end = env.now
        bits_read = 0
        for c, (bits, cycles) in enumerate(
            zip(tables.result_bits, tables.result_cycles, strict=True)
        ):
            if not bits:
                continue
            for part_bits, part_cycles in bursts(bits, cycles, burst):
                now = env.now
                end = port.reserve(now, part_cycles, part_bits, f"results {chip_name(c, cols)}")
                if end > now:
                    yield env.timeout(end - now)
            sim.result_read[c] += bits
            bits_read += bits

        def arrived(_ev: simpy.Event, f: int = f, bits: int = bits_read) -> None:
            port.received += bits
            sim.result_end[f] = env.now

        env.timeout(end + port.latency - env.now).callbacks.append(arrived)
