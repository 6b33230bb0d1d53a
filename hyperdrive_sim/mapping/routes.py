"""Which directed links each transfer uses: halos, forwarded weights and reductions.

Links join mesh neighbours, one per direction. Corner halo pixels either travel on a
diagonal link (``corner_routing: diagonal``) or are relayed through the receiver's west or
east neighbour (``relay``: first along the column, then along the row), costing two hops.
``chain`` weight distribution forwards every block along a snake path that starts at the
root chip (0, 0): row 0 left to right, row 1 right to left, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.mapping.tiling import DIRECTIONS
from hyperdrive_sim.spec.models import Mesh

Link = tuple[int, int]


@dataclass(frozen=True)
class Transfer:
    """A message of ``bits`` from chip ``src`` to chip ``dst`` over ``links`` in order."""

    src: int
    dst: int
    bits: int
    links: tuple[Link, ...]


def halo_transfers(halo_bits: np.ndarray, mesh: Mesh, corner_routing: str) -> list[Transfer]:
    """One transfer per (receiver, neighbour) pair with halo bits, in a fixed order."""
    cols = mesh.cols
    out = []
    chips, dirs = np.nonzero(halo_bits)
    for c, d in zip(chips.tolist(), dirs.tolist(), strict=True):
        r, col = divmod(c, cols)
        dr, dc = DIRECTIONS[d]
        src = (r + dr) * cols + (col + dc)
        if dr and dc and corner_routing == "relay":
            via = r * cols + (col + dc)
            links = ((src, via), (via, c))
        else:
            links = ((src, c),)
        out.append(Transfer(src, c, int(halo_bits[c, d]), links))
    return out


def halo_sources(mesh: Mesh) -> np.ndarray:
    """``src[c, d]``: the chip that sends chip c its halo from direction d (-1 off the mesh)."""
    r, c = np.divmod(np.arange(mesh.chips), mesh.cols)
    src = np.full((mesh.chips, len(DIRECTIONS)), -1, dtype=np.int64)
    for d, (dr, dc) in enumerate(DIRECTIONS):
        rr, cc = r + dr, c + dc
        ok = (rr >= 0) & (rr < mesh.rows) & (cc >= 0) & (cc < mesh.cols)
        src[ok, d] = rr[ok] * mesh.cols + cc[ok]
    return src


def halo_hops(corner_routing: str) -> np.ndarray:
    """Links each direction's halo crosses: corners take two under ``relay``."""
    corner = 2 if corner_routing == "relay" else 1
    return np.array([1 if not (dr and dc) else corner for dr, dc in DIRECTIONS], dtype=np.int64)


def snake_order(mesh: Mesh) -> list[int]:
    """Chips in chain-forwarding order, starting at the root (0, 0)."""
    order = []
    for r in range(mesh.rows):
        cols = range(mesh.cols) if r % 2 == 0 else range(mesh.cols - 1, -1, -1)
        order.extend(r * mesh.cols + c for c in cols)
    return order


def chain_hops(mesh: Mesh) -> np.ndarray:
    """Hops from the root along the snake path to each chip."""
    hops = np.zeros(mesh.chips, dtype=np.int64)
    hops[snake_order(mesh)] = np.arange(mesh.chips)
    return hops


def reduction_depth(mesh: Mesh) -> int:
    """Sequential hops of the row-then-column reduction into the root."""
    return (mesh.cols - 1) + (mesh.rows - 1)


def link_loads(transfers: list[Transfer]) -> dict[Link, int]:
    loads: dict[Link, int] = {}
    for t in transfers:
        for link in t.links:
            loads[link] = loads.get(link, 0) + t.bits
    return loads


def inbound_link_bits(
    halo_bits: np.ndarray, mesh: Mesh, corner_routing: str, forwarded: np.ndarray | None = None
) -> np.ndarray:
    """``bits[c, d]``: the bits that cross the directed link into chip c from direction d
    in one frame, from ``halo_bits[c, d]`` (summed over layers) and, with ``chain``
    distribution, the weight bits ``forwarded[p]`` sent from snake position p to p + 1.

    A relayed corner crosses two links: vertically into the edge neighbour beside the
    receiver, then sideways into the receiver. Every bit a link carries must pass it, so
    the busiest link's bits over its rate bound how often frames can follow each other.
    """
    index = {step: d for d, step in enumerate(DIRECTIONS)}
    cols = mesh.cols
    out = np.zeros((mesh.chips, len(DIRECTIONS)), dtype=np.int64)
    for d, (dr, dc) in enumerate(DIRECTIONS):
        bits = halo_bits[:, d]
        if not bits.any():
            continue
        if dr and dc and corner_routing == "relay":
            receivers = np.nonzero(bits)[0]
            via = receivers + dc  # the edge neighbour in the receiver's row
            np.add.at(out[:, index[(dr, 0)]], via, bits[receivers])
            out[:, index[(0, dc)]] += bits
        else:
            out[:, d] += bits
    if forwarded is not None and mesh.chips > 1:
        order = snake_order(mesh)
        for p, bits in enumerate(forwarded[: mesh.chips - 1].tolist()):
            a, b = order[p], order[p + 1]
            (ra, ca), (rb, cb) = divmod(a, cols), divmod(b, cols)
            out[b, index[(ra - rb, ca - cb)]] += bits
    return out
