"""Depth-first verification: a fused stack computed band by band on every chip
(hyperdrive_sim.verify.bands / banded, docs/verify.md "Depth-first stacks")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.verify import VerifyGeometryError, bands, verify
from hyperdrive_sim.verify.bands import Band, chip_bands, kept_rows, new_rows, window
from hyperdrive_sim.workload.builder import NetBuilder
from hyperdrive_sim.workload.layers import Conv, Pool
from hyperdrive_sim.workload.network import Network

DF = {"fusion": "depth_first"}


def _hand_stack() -> Network:
    """Two 3x3 stride-1 convs (padding 1) and a 2x2 max pool, then a conv run layer by layer."""
    b = NetBuilder("hand_stack", 3)
    b.conv(4, 3, name="c1")
    b.conv(5, 3, name="c2")
    b.pool(2, name="pool")
    b.conv(6, 3, name="c3")
    return b.build()


def _strided_stack() -> Network:
    """Strides, dilation, padding (asymmetric too) and max and average pooling in the stack."""
    b = NetBuilder("strided_stack", 3)
    b.conv(4, 5, stride=2, name="c1")  # padding 2
    b.pool(3, stride=2, pad=1, name="maxpool")  # padded with -inf
    b.conv(5, 3, dilation=2, name="c2")  # padding 2
    b.pool(3, stride=1, pad=1, mode="avg", name="avgpool")  # padding counted
    b.conv(4, 3, stride=2, pad=(0, 1, 1, 0), name="c3")  # top, left, bottom, right
    b.global_pool(name="gap")
    return b.build()


def _stack_layers(net: Network, count: int):
    shaped = net.at(12, 12)
    infos = shaped.infos[:count]
    heights = [infos[0].in_shapes[0].height] + [i.out_shape.height for i in infos]
    return [i.layer for i in infos], heights


# ------------------------------------------------------------------------------------------
# band geometry, by hand


def test_band_rows_by_hand_on_one_chip() -> None:
    # 12x12 image -> c1 (3x3, pad 1) 12 rows -> c2 (3x3, pad 1) 12 rows -> pool (2x2/2) 6 rows.
    # band_rows 2 cuts the pool's 6 rows into [0,2) [2,4) [4,6). Going back up, pool rows
    # [a,b) read c2 rows [2a, 2b); c2 rows [a,b) read c1 rows [a-1, b+1) clipped to [0,12);
    # c1 rows [a,b) read image rows [a-1, b+1) clipped:
    #   band 0: pool [0,2) <- c2 [0,4) <- c1 [0,5)  <- image [0,6)
    #   band 1: pool [2,4) <- c2 [4,8) <- c1 [3,9)  <- image [2,10)
    #   band 2: pool [4,6) <- c2 [8,12) <- c1 [7,12) <- image [6,12)
    layers, heights = _stack_layers(_hand_stack(), 3)
    assert heights == [12, 12, 12, 6]
    got = chip_bands(layers, heights, (0, 6), 2)
    assert got == (
        Band(0, ((0, 6), (0, 5), (0, 4), (0, 2))),
        Band(1, ((2, 10), (3, 9), (4, 8), (2, 4))),
        Band(2, ((6, 12), (7, 12), (8, 12), (4, 6))),
    )
    # cache: band 1 keeps c1 rows [3,5) and computes [5,9); band 2 keeps [7,9), computes
    # [9,12); c2's bands do not overlap (the pool's stride equals its kernel)
    assert kept_rows((0, 5), (3, 9)) == (3, 5) and new_rows((0, 5), (3, 9)) == (5, 9)
    assert kept_rows((3, 9), (7, 12)) == (7, 9) and new_rows((3, 9), (7, 12)) == (9, 12)
    assert kept_rows((0, 4), (4, 8)) == (4, 4) and new_rows((0, 4), (4, 8)) == (4, 8)
    # rows that do not divide: 6 pool rows in bands of 4 -> [0,4) and [4,6)
    assert [b.maps[-1] for b in chip_bands(layers, heights, (0, 6), 4)] == [(0, 4), (4, 6)]


def test_band_rows_by_hand_on_the_lower_chip_row() -> None:
    # 2 chip rows: the pool's 6 rows split [0,3) [3,6). The lower chip row's band 0 is pool
    # rows [3,5) <- c2 [6,10) <- c1 [5,11) <- image [4,12): c1 row 5 lies in the upper chip
    # row's tile (c1 rows [0,6)); band 1 is pool [5,6) <- c2 [10,12) <- c1 [9,12) <- [8,12).
    layers, heights = _stack_layers(_hand_stack(), 3)
    got = chip_bands(layers, heights, (3, 6), 2)
    assert [b.maps for b in got] == [
        ((4, 12), (5, 11), (6, 10), (3, 5)),
        ((8, 12), (9, 12), (10, 12), (5, 6)),
    ]


@pytest.mark.parametrize("k, s, d, pad", [(3, 1, 1, 1), (5, 2, 1, 2), (3, 2, 2, 0), (2, 2, 1, 0)])
def test_band_window_agrees_with_the_layers_own_input_rows(k, s, d, pad) -> None:
    # second method: the workload layer's input_rows (used by the layer-by-layer halos)
    for layer in (
        Conv("c", ("input",), kernel=k, stride=s, dilation=d, padding=pad, out_channels=2),
        Pool("p", ("input",), kernel=k, stride=s, dilation=d, padding=pad),
    ):
        size = 17
        out = (size + 2 * pad - d * (k - 1) - 1) // s + 1
        for lo, hi in itertools.combinations(range(out + 1), 2):
            w = window(layer, (lo, hi), size)
            assert (w.lo, w.hi) == tuple(int(v) for v in layer.input_rows(lo, hi, size, out))
            # the padded window yields exactly hi - lo outputs
            assert (w.pad_lo + w.hi - w.lo + w.pad_hi - d * (k - 1) - 1) // s + 1 == hi - lo


# ------------------------------------------------------------------------------------------
# exact equality with the monolithic reference


@pytest.mark.parametrize("mesh", ["1x1", "1x2", "2x2", "3x2"])
@pytest.mark.parametrize("overlap", ["cache", "recompute"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_strided_stack_matches_the_reference_bit_for_bit(mesh, overlap, precision) -> None:
    # 29x61 (W x H): c1 31x15, maxpool 16x8, c2 16x8, avgpool 16x8, c3 8x4 (rows x cols);
    # on 3x2 the last map's 8 rows split 3/3/2 and its columns 2/2, so bands of 2 rows do
    # not divide the upper chip rows' tiles (2 bands of 2 and 1 row)
    report = verify(
        _strided_stack(), "29x61", mesh=mesh, precision=precision, **DF,
        fused_layers=5, band_rows=2, band_overlap=overlap,
    )  # fmt: skip
    assert report.ok, report.table()
    df = report.depth_first
    assert df is not None and df.max_abs_err == 0
    assert [c.placement for c in report.layers] == ["band"] * 5 + ["root"]
    assert all(c.max_abs_err == 0 for c in report.layers[:5])
    assert df.bands[0].chips == int(mesh[0]) * int(mesh[2])
    # bands per chip row: ceil(tile rows / 2) of the 8 rows split over the mesh rows
    assert df.band_count == {"1x1": 4, "1x2": 4, "2x2": 2, "3x2": 2}[mesh]


def test_a_whole_network_fused_gives_the_layer_by_layer_outputs() -> None:
    # second method: the same network run layer by layer on the same mesh
    b = NetBuilder("all_fused", 3)
    b.conv(4, 3, stride=2, name="c1")
    b.pool(3, stride=2, pad=1, name="p")
    b.conv(5, 3, name="c2")
    net = b.build()
    kw = {"mesh": "2x2", "precision": "fp16", "seed": 4}
    plain = verify(net, "33x27", **kw)
    for overlap in ("cache", "recompute"):
        df = verify(net, "33x27", **kw, **DF, fused_layers=3, band_rows=3, band_overlap=overlap)
        assert df.ok
        np.testing.assert_array_equal(df.outputs["c2"], plain.outputs["c2"])


# ------------------------------------------------------------------------------------------
# the counts, by hand


def test_band_counts_by_hand() -> None:
    net = _hand_stack()
    args = dict(resolution="12x12", **DF, fused_layers=3, band_rows=2)

    def run(mesh, overlap):
        return verify(net, mesh=mesh, band_overlap=overlap, **args).depth_first

    # 1x2: columns split [0,6) [6,12). Only c2 needs a halo: one c1 column from the other
    # chip (the pool's 2x2 windows do not cross col 6; c1's image halo is read off-chip).
    # Per band: c1 rows exchanged x 1 column x 4 channels x 2 chips x 16 bits = rows * 128.
    # cache: new c1 rows per band 5, 4, 3 (12 in all, as layer by layer);
    # recompute: the band's c1 rows 5, 6, 5.
    assert [t.halo_bits for t in run("1x2", "cache").bands] == [640, 512, 384]
    assert [t.halo_bits for t in run("1x2", "recompute").bands] == [640, 768, 640]
    # recompute on 1x1: c1 rows [3,5) in band 1 and [7,9) in band 2 are computed again
    one = run("1x1", "recompute")
    assert [t.recomputed_rows for t in one.bands] == [0, 2, 2]
    assert [t.computed_rows for t in one.bands] == [5 + 4 + 2, 6 + 4 + 2, 5 + 4 + 2]
    assert [t.recomputed_rows for t in run("1x1", "cache").bands] == [0, 0, 0]
    # FMM peak, 1x1, band 0, in 16-bit values (width 12 for image, c1 and c2; 6 for pool):
    # cache, after c2: image rows kept for band 1 [2,6) 4x3x12 = 144, c1 rows [0,5)
    # 5x4x12 = 240, c2 rows [0,4) 4x5x12 = 240: 624 values = 9984 bits (after c1: 216 +
    # 240 = 456; after the pool: 144 + 96 (c1 [3,5)) + 240 + 2x5x6 = 540).
    # recompute keeps nothing: the peak is after c2, c1 240 + c2 240 = 480 -> 7680 bits.
    assert run("1x1", "cache").bands[0].fmm_peak_bits == 624 * 16
    assert run("1x1", "recompute").bands[0].fmm_peak_bits == 480 * 16
    # 2x2: pool rows split [0,3) [3,6); the lower chip row's band 0 computes c1 row 5 and
    # the upper row's band 1 (pool [2,3) <- c2 [4,6) <- c1 [3,7)) c1 row 6: one foreign row
    # per chip of that row, 2 chips each
    assert [t.foreign_rows for t in run("2x2", "cache").bands] == [2, 2]


# ------------------------------------------------------------------------------------------
# the check can fail


def _fails(**kw) -> bool:
    report = verify(_hand_stack(), "12x12", mesh="1x2", **DF, fused_layers=3, band_rows=2, **kw)
    return not report.ok and report.depth_first.max_abs_err > 0


def test_a_cache_keeping_one_overlap_row_fewer_is_caught(monkeypatch) -> None:
    assert not _fails(band_overlap="cache")

    original = bands.kept_rows

    def one_fewer(held, wanted):
        lo, hi = original(held, wanted)
        return (lo, hi - 1) if hi > lo else (lo, hi)

    monkeypatch.setattr(bands, "kept_rows", one_fewer)
    assert _fails(band_overlap="cache")


def test_a_band_computing_one_row_fewer_is_caught(monkeypatch) -> None:
    original = bands.new_rows

    def one_fewer(held, wanted):
        lo, hi = original(held, wanted)
        return (lo + 1, hi) if held is not None and lo > wanted[0] else (lo, hi)

    monkeypatch.setattr(bands, "new_rows", one_fewer)
    assert _fails(band_overlap="cache")


@pytest.mark.parametrize("overlap", ["cache", "recompute"])
def test_broken_overlap_and_band_halos_are_caught(overlap) -> None:
    assert _fails(band_overlap=overlap, break_halo="overlap")
    assert _fails(band_overlap=overlap, break_halo="edges")


# ------------------------------------------------------------------------------------------
# what verify refuses


def test_stacks_verify_cannot_run_are_refused() -> None:
    net = _hand_stack()
    with pytest.raises(InputError, match="fused_layers of 1 or more"):
        verify(net, "12x12", **DF, band_rows=2)  # fused_layers 0: the planner's choice
    with pytest.raises(InputError, match="band_rows of 1 or more"):
        verify(net, "12x12", **DF, fused_layers=2)
    with pytest.raises(InputError, match="exceeds"):
        verify(net, "12x12", **DF, fused_layers=9, band_rows=2)
    with pytest.raises(InputError, match="partitioning: spatial"):
        verify(net, "12x12", **DF, fused_layers=2, band_rows=2, partitioning="channel")
    b = NetBuilder("res", 3)
    b.conv(4, 3, name="a")
    b.conv(4, 3, name="b")
    b.add("a", "b", name="sum")
    with pytest.raises(VerifyGeometryError, match="never exists whole"):
        verify(b.build(), "12x12", **DF, fused_layers=2, band_rows=2)
    with pytest.raises(VerifyGeometryError, match="cannot join the fused stack"):
        verify(b.build(), "12x12", **DF, fused_layers=3, band_rows=2)


# ------------------------------------------------------------------------------------------
# command line


NET_YAML = """name: cli_stack
layers:
  - {name: c1, type: conv, out: 4, kernel: 3}
  - {name: c2, type: conv, out: 5, kernel: 3}
  - {name: pool, type: pool, kernel: 2}
  - {name: c3, type: conv, out: 6, kernel: 3}
"""


def test_cli_prints_bands_and_exits_by_verdict(tmp_path, capsys) -> None:
    from hyperdrive_sim.cli import main

    path = tmp_path / "net.yaml"
    path.write_text(NET_YAML)
    base = ["verify", "--network", str(path), "--input", "12x12", "--mesh", "1x2"]
    base += ["--no-progress", "--fusion", "depth_first", "--fused-layers", "3"]
    assert main([*base, "--band-rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "band_rows 2, overlap cache: 3 bands" in out
    # per band: chips, halo bits (as test_band_counts_by_hand), ..., max|err| 0
    rows = [line.split() for line in out.splitlines() if line[:4].strip() in ("0", "1", "2")]
    assert [(r[0], r[2], r[-1]) for r in rows[-3:]] == [
        ("0", "640", "0"),
        ("1", "512", "0"),
        ("2", "384", "0"),
    ]
    assert "OK: all 4 layers" in out and "depth first: 3 fused layers in 3 bands" in out
    assert main([*base, "--band-rows", "2", "--break-halo", "overlap"]) == 3
    assert "MISMATCH" in capsys.readouterr().out
    assert main([*base, "--band-rows", "0"]) == 2
    assert "--band-rows" in capsys.readouterr().err
