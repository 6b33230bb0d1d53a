"""Does a network fit, and what would make it fit: peak memory need, smallest mesh or FMM.

These answer from the plan's memory side only (``geometry``: placement, tiling, halos and
live maps per chip), without building the timing of any layer, so they are cheap enough
to scan many meshes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from hyperdrive_sim.errors import InputError, MappingError
from hyperdrive_sim.limits import MAX_MESH_SIDE
from hyperdrive_sim.mapping.plan import Geometry, capacity_problems, geometry
from hyperdrive_sim.spec.defaults import coerce
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import (
    ChipSpec,
    EnergyTable,
    Mesh,
    NetworkRef,
    Resolution,
    SystemSpec,
)
from hyperdrive_sim.workload.network import Network, ShapedNetwork

Shapes = Literal["square", "wide"]
SpecLike = str | Path | dict


class FmmPeak(NamedTuple):
    """The largest FMM need of a network on a mesh: bits, the layer and the chip (row, col)."""

    bits: int
    layer: str | None
    chip: tuple[int, int] | None


def peak_of(geo: Geometry, cols: int) -> FmmPeak:
    """The peak FMM need of a geometry: bits, layer and chip (row, col)."""
    if not geo.layers:
        return FmmPeak(0, None, None)
    maxima = [int(lg.fmm_need_bits.max()) for lg in geo.layers]
    k = int(np.argmax(maxima))
    chip = int(np.argmax(geo.layers[k].fmm_need_bits))
    return FmmPeak(maxima[k], geo.layers[k].info.layer.name, divmod(chip, cols))


def depth_first_peak(network: ShapedNetwork, hw: Hardware, geo: Geometry | None = None) -> FmmPeak:
    """The peak FMM need of the planner's depth-first choice (``memory_choice``): its
    fused stack's bands and the layers after the stack, the larger of the two."""
    from hyperdrive_sim.mapping.bands import band_count
    from hyperdrive_sim.mapping.depth_first import band_name, memory_choice, stack_bands

    geo = geometry(network, hw, switch=None) if geo is None else geo
    choice = memory_choice(network, hw, geo)
    if not choice.fused:
        return peak_of(geo, hw.mesh.cols)
    rest = peak_of(replace(geo, layers=geo.layers[choice.fused :]), hw.mesh.cols)
    if rest.bits >= choice.fmm_peak_bits:
        return rest
    bands = stack_bands(network, hw, geo, choice.fused, choice.band_rows)
    band, chip = np.unravel_index(int(np.argmax(bands.fmm_bits)), bands.fmm_bits.shape)
    count = band_count(network, hw.mesh, choice.fused, choice.band_rows)
    last = network.infos[choice.fused - 1].layer.name
    where = divmod(int(chip), hw.mesh.cols)
    return FmmPeak(int(bands.fmm_bits.max()), band_name(last, int(band), count), where)


def fmm_peak(network: ShapedNetwork, hw: Hardware) -> FmmPeak:
    """Peak feature-map memory need over all layers and chips of ``network`` on ``hw``.

    It is the smallest ``fmm_bits`` with which no layer overflows the FMM (other problems,
    such as a mesh finer than a map, are not memory and are not considered here).
    """
    if hw.system.fusion == "depth_first":
        return depth_first_peak(network, hw)
    return peak_of(geometry(network, hw), hw.mesh.cols)


def _hardware(chip, system, energy, mesh: Mesh | None = None) -> Hardware:
    system = coerce(system, "system")
    require_tiled(system, "fit")
    return Hardware(coerce(chip, "chip"), system, coerce(energy, "energy"), mesh or system.mesh)


def _shaped(network, resolution) -> ShapedNetwork:
    from hyperdrive_sim.simulate import resolve_network

    res = (
        resolution if isinstance(resolution, Resolution) else Resolution.model_validate(resolution)
    )
    return resolve_network(network).at(res.height, res.width)


def smallest_fmm_bits(
    network: Network | NetworkRef | str,
    resolution: Resolution | str | tuple[int, int],
    chip: ChipSpec | SpecLike | None = None,
    system: SystemSpec | SpecLike | None = None,
    energy: EnergyTable | SpecLike | None = None,
    *,
    mesh: Mesh | str | None = None,
) -> FmmPeak:
    """The FMM size (bits per chip) the network needs on ``mesh`` (default: the system's).

    Raises MappingError when the mesh cannot host the network whatever its memory (a map
    with fewer rows or columns than the mesh, a halo from beyond a neighbour).
    """
    mesh = mesh if mesh is None or isinstance(mesh, Mesh) else Mesh.model_validate(mesh)
    hw = _hardware(chip, system, energy, mesh)
    geo = geometry(_shaped(network, resolution), hw)
    if geo.problems:
        raise MappingError(f"no FMM size helps on a {hw.mesh} mesh: {geo.problems[0]}")
    if hw.system.fusion == "depth_first":
        return depth_first_peak(_shaped(network, resolution), hw, geo)
    return peak_of(geo, hw.mesh.cols)


def mesh_family(shapes: Shapes, resolution: Resolution) -> list[Mesh]:
    """Candidate meshes in order of size: ``square`` n x n, or ``wide`` n rows x
    round(n * width / height) columns (the image's aspect ratio), n = 1 .. MAX_MESH_SIDE."""
    out, seen = [], set()
    for n in range(1, MAX_MESH_SIDE + 1):
        if shapes == "square":
            rows, cols = n, n
        else:
            rows, cols = n, max(1, round(n * resolution.width / resolution.height))
        rows, cols = min(rows, MAX_MESH_SIDE), min(cols, MAX_MESH_SIDE)
        if (rows, cols) not in seen:
            seen.add((rows, cols))
            out.append(Mesh(rows=rows, cols=cols))
    return out


def _one_chip(network, resolution, chip, system, energy):
    """What the mesh scans start from: the resolution, the shaped network, the hardware
    and geometry on one chip, and the peak bits of its live maps there (the lower bound:
    a mesh of k chips holds at most k * fmm_bits)."""
    res = (
        resolution if isinstance(resolution, Resolution) else Resolution.model_validate(resolution)
    )
    net = _shaped(network, res)
    hw1 = _hardware(chip, system, energy, Mesh(rows=1, cols=1))
    geo1 = geometry(net, hw1)
    return res, net, hw1, geo1, total_bits(net, hw1, geo1)


def total_bits(net: ShapedNetwork, hw1: Hardware, geo1: Geometry | None = None) -> int:
    """The most bits of live maps the network needs at once on one chip (``hw1`` has a
    1x1 mesh): a mesh of k chips needs at least this / k per chip. Depth first, for the
    best stack: the layers after it, or the image and the stack's output, which its last
    band holds whole (a stack's bands need less than its maps)."""
    geo1 = geometry(net, hw1) if geo1 is None else geo1
    if hw1.system.fusion == "depth_first" and geo1.layers:
        from hyperdrive_sim.mapping.bands import stack_cuts
        from hyperdrive_sim.mapping.depth_first import rest_peak_bits

        image = int(geo1.image_in_bits.sum())
        held = {
            k: image + net.infos[k - 1].out_shape.elements * geo1.bits[net.infos[k - 1].layer.name]
            for k in stack_cuts(net)
        }
        if held:
            return min(max(rest_peak_bits(geo1, k), bits) for k, bits in held.items())
    return peak_of(geo1, 1).bits


def _problems_on(net: ShapedNetwork, hw1: Hardware, geo1: Geometry, mesh: Mesh) -> tuple:
    """Why the network does not fit ``mesh`` (memory and geometry); empty when it fits."""
    hw = Hardware(hw1.chip, hw1.system, hw1.energy, mesh)
    geo = geo1 if mesh.chips == 1 else geometry(net, hw)
    if hw.system.fusion == "depth_first":
        from hyperdrive_sim.mapping.depth_first import memory_choice

        return memory_choice(net, hw, geo).problems
    return (*capacity_problems(geo, hw), *geo.problems)


def smallest_mesh(
    network: Network | NetworkRef | str,
    resolution: Resolution | str | tuple[int, int],
    chip: ChipSpec | SpecLike | None = None,
    system: SystemSpec | SpecLike | None = None,
    energy: EnergyTable | SpecLike | None = None,
    shapes: Shapes = "square",
) -> Mesh:
    """The smallest mesh of the ``shapes`` family on which the network fits (memory and
    geometry). Fitting is not monotone in the mesh side (finer meshes run out of rows or
    halo neighbours), so the family is scanned upwards from a lower bound: a mesh of k chips
    holds at most k * fmm_bits, and the live maps of some layer total the 1x1 peak.
    Raises MappingError when no mesh up to MAX_MESH_SIDE fits.
    """
    res, net, hw1, geo1, total = _one_chip(network, resolution, chip, system, energy)
    min_chips = max(1, math.ceil(total / hw1.chip.fmm_bits))
    last = (
        f" (its maps need {total:,} bits at the peak, at least {min_chips:,} chips of "
        f"{hw1.chip.fmm_bits:,} bits)"
    )
    for mesh in mesh_family(shapes, res):
        if mesh.chips < min_chips:
            continue
        problems = _problems_on(net, hw1, geo1, mesh)
        if not problems:
            return mesh
        last = f" (at {mesh}: {problems[0]})"
    raise MappingError(
        f"{net.name} at {res.width}x{res.height} fits no {shapes} mesh up to "
        f"{MAX_MESH_SIDE}x{MAX_MESH_SIDE}{last}"
    )


def _meshes_of(chips: int, max_rows: int, max_cols: int) -> list[Mesh]:
    """Every rows x cols = ``chips`` within the bounds, fewest rows first."""
    return [
        Mesh(rows=r, cols=chips // r)
        for r in range(1, min(chips, max_rows) + 1)
        if chips % r == 0 and chips // r <= max_cols
    ]


def fewest_chips(
    network: Network | NetworkRef | str,
    resolution: Resolution | str | tuple[int, int],
    chip: ChipSpec | SpecLike | None = None,
    system: SystemSpec | SpecLike | None = None,
    energy: EnergyTable | SpecLike | None = None,
    *,
    max_rows: int = MAX_MESH_SIDE,
    max_cols: int = MAX_MESH_SIDE,
) -> list[Mesh]:
    """Every mesh with the fewest chips on which the network fits (memory and geometry),
    of any shape rows x cols within the bounds, fewest rows first.

    Chip counts are tried upwards from the lower bound of ``smallest_mesh``; at each count
    every factorisation into rows x cols is planned (memory side only), so the answer is
    exact, not limited to a family. The caller breaks ties (e.g. by silicon area: a 1xN
    mesh needs fewer link ports than a 2D one of the same chips).
    Raises MappingError when no mesh within the bounds fits.
    """
    res, net, hw1, geo1, total = _one_chip(network, resolution, chip, system, energy)
    last = ""
    for chips in range(max(1, math.ceil(total / hw1.chip.fmm_bits)), max_rows * max_cols + 1):
        found = []
        for mesh in _meshes_of(chips, max_rows, max_cols):
            problems = _problems_on(net, hw1, geo1, mesh)
            if problems:
                last = f" (at {mesh}: {problems[0]})"
            else:
                found.append(mesh)
        if found:
            return found
    raise MappingError(
        f"{net.name} at {res.width}x{res.height} fits no mesh up to {max_rows}x{max_cols}{last}"
    )


def require_tiled(system, what: str, file: str | None = None) -> None:
    """The memory pass answers for the tiled organisation only (InputError naming ``file``,
    the file that sets the system, otherwise)."""
    if system.organisation != "tiled":
        raise InputError(
            f"{what} answers for organisation: tiled only; a pipeline's stages are chosen "
            "when the point is simulated (run it with `hyperdrive-sim run`)",
            file=file,
            key="system.organisation",
        )
