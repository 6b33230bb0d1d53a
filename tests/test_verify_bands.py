"""Depth-first verification: a fused stack computed band by band on every chip
(hyperdrive_sim.verify.bands / banded, docs/verify.md "Depth-first stacks")."""

from __future__ import annotations

import itertools
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.mapping.tiling import DIRECTIONS, Tiling
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify import VerifyGeometryError, bands, verify
from hyperdrive_sim.verify.bands import stack_rows, window
from hyperdrive_sim.verify.crosscheck import differences, model_bands
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


def _rows(net: Network, count: int, chip_rows: int, band_rows: int, recompute: bool):
    """stack_rows of the first ``count`` layers of ``net`` at 12x12 over ``chip_rows``."""
    infos = net.at(12, 12).infos[:count]
    shapes = [infos[0].in_shapes[0], *(i.out_shape for i in infos)]
    names = {"input": 0, **{i.layer.name: k + 1 for k, i in enumerate(infos)}}
    sources = [tuple(names[x] for x in i.layer.inputs) for i in infos]
    shares = []
    for s in shapes:
        b = Tiling.of(s, Mesh(rows=chip_rows, cols=1)).row_bounds
        shares.append([(int(b[r]), int(b[r + 1])) for r in range(chip_rows)])
    layers = [i.layer for i in infos]
    heights = [s.height for s in shapes]
    return stack_rows(layers, sources, heights, shares, band_rows, recompute)


def _computed(rows, k: int, r: int = 0) -> list[tuple[int, int]]:
    return [band[k][r].computed for band in rows]


# ------------------------------------------------------------------------------------------
# band geometry, by hand


def test_band_rows_by_hand_on_one_chip() -> None:
    # 12x12 image -> c1 (3x3, pad 1) 12 rows -> c2 (3x3, pad 1) 12 rows -> pool (2x2/2) 6 rows.
    # band_rows 2: ceil(6 / 2) = 3 bands, pool rows [0,2) [2,4) [4,6). Going back up, pool
    # rows [a,b) read c2 rows [2a, 2b); c2 rows [a,b) read c1 rows [a-1, b+1) clipped:
    #   band 0: pool [0,2) <- c2 [0,4)  <- c1 [0,5)
    #   band 1: pool [2,4) <- c2 [4,8)  <- c1 [3,9)   (c1 rows 3-4 shared with band 0)
    #   band 2: pool [4,6) <- c2 [8,12) <- c1 [7,12)  (c1 rows 7-8 shared with band 1)
    # cache computes c1 [0,5) [5,9) [9,12); recompute all of each band's rows
    net = _hand_stack()
    cache, again = _rows(net, 3, 1, 2, False), _rows(net, 3, 1, 2, True)
    assert _computed(cache, 2) == _computed(again, 2) == [(0, 2), (2, 4), (4, 6)]
    assert _computed(cache, 1) == _computed(again, 1) == [(0, 4), (4, 8), (8, 12)]
    assert [band[0][0].held for band in cache] == [(0, 5), (3, 9), (7, 12)]
    assert _computed(cache, 0) == [(0, 5), (5, 9), (9, 12)]
    assert _computed(again, 0) == [(0, 5), (3, 9), (7, 12)]
    assert [band[0][0].overlap for band in again] == [(0, 0), (3, 5), (7, 9)]
    # band heights that do not divide: 6 pool rows in bands of at most 4 -> 2 bands, [0,3)
    # and [3,6) (as even as possible)
    assert _computed(_rows(net, 3, 1, 4, False), 2) == [(0, 3), (3, 6)]


def test_band_rows_by_hand_on_two_chip_rows() -> None:
    # 2 chip rows: pool rows [0,3) / [3,6), c2 and c1 rows [0,6) / [6,12); 2 bands of at
    # most 2 pool rows: [0,2) [2,3) and [3,5) [5,6). The upper chip row runs top to bottom,
    # the lower one bottom to top, so both reach their shared edge in the last band:
    #   band 0: upper pool [0,2) <- c2 [0,4) <- c1 [0,5);  lower pool [5,6) <- c2 [10,12)
    #           <- c1 [9,12)
    #   band 1: upper pool [2,3) <- c2 [4,6) <- c1 [3,7), of which its own [3,6) (row 6 is
    #           the lower row's); lower pool [3,5) <- c2 [6,10) <- c1 [5,11): its own [6,11)
    #           and row 5 from the upper row, which computes it in this band (cache: new rows
    #           [5,6) above, [6,9) below)
    rows = _rows(_hand_stack(), 3, 2, 2, False)
    assert _computed(rows, 2, 0) == [(0, 2), (2, 3)]
    assert _computed(rows, 2, 1) == [(5, 6), (3, 5)]
    assert _computed(rows, 1, 0) == [(0, 4), (4, 6)]
    assert _computed(rows, 1, 1) == [(10, 12), (6, 10)]
    assert _computed(rows, 0, 0) == [(0, 5), (5, 6)]
    assert _computed(rows, 0, 1) == [(9, 12), (6, 9)]
    assert [band[0][1].overlap for band in rows] == [(0, 0), (9, 11)]
    # the halo of c2 per band (12 columns, one mesh column): band 0 none; band 1 one c1 row
    # each way, row 5 down to the lower chip (from north) and row 6 up (from south)
    report = verify(_hand_stack(), "12x12", mesh="2x1", **DF, fused_layers=3, band_rows=2)
    assert report.ok
    north, south = DIRECTIONS.index((-1, 0)), DIRECTIONS.index((1, 0))
    by = {(cb.band, cb.chip): cb.halo_pixels[1] for cb in report.depth_first.chip_bands}
    assert sum(by[(0, 0)]) == sum(by[(0, 1)]) == 0
    assert by[(1, 0)][south] == by[(1, 1)][north] == 12
    assert sum(by[(1, 0)]) == sum(by[(1, 1)]) == 12


# ------------------------------------------------------------------------------------------
# exact equality with the monolithic reference


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
    # on 3x2 the last map's 8 rows split 3/3/2 and its columns 2/2, so bands of at most 2
    # rows do not divide the chip rows' shares
    report = verify(
        _strided_stack(), "29x61", mesh=mesh, precision=precision, **DF,
        fused_layers=5, band_rows=2, band_overlap=overlap,
    )  # fmt: skip
    assert report.ok, report.table()
    df = report.depth_first
    assert df is not None and df.max_abs_err == 0 and df.missing == 0
    assert [c.placement for c in report.layers] == ["band"] * 5 + ["root"]
    assert all(c.max_abs_err == 0 for c in report.layers[:5])
    # bands: ceil(largest share of the 8 rows / 2)
    assert df.band_count == {"1x1": 4, "1x2": 4, "2x2": 2, "3x2": 2}[mesh]


def _residual() -> Network:
    """A stride-2 stem, two convs and an add reading the stem: the stem's map has two
    readers inside the stack."""
    b = NetBuilder("residual", 3)
    b.conv(4, 3, stride=2, name="stem")
    b.conv(4, 3, name="a")
    b.conv(4, 3, name="b")
    b.add("b", "stem", name="sum")
    b.conv(5, 3, name="after")
    return b.build()


@pytest.mark.parametrize("mesh", ["2x2", "3x2"])
@pytest.mark.parametrize("overlap", ["cache", "recompute"])
def test_a_stack_with_a_residual_add_matches(mesh, overlap) -> None:
    report = verify(
        _residual(), "30x26", mesh=mesh, precision="fp16", **DF, fused_layers=4, band_rows=3,
        band_overlap=overlap, corner_routing="diagonal",
    )  # fmt: skip
    assert report.ok, report.table()
    assert [c.placement for c in report.layers] == ["band"] * 4 + ["tiled"]


@pytest.mark.parametrize("overlap", ["cache", "recompute"])
def test_a_map_narrower_than_the_mesh_inside_the_stack(overlap) -> None:
    # 9 columns: pool 5, conv 5, conv (5x5, no padding) 1 column, so chip column 1 holds
    # none of c2 and computes nothing of it; c3 (padding 2) is 1 column wide again
    b = NetBuilder("narrow", 2)
    b.pool(3, stride=2, pad=1, mode="avg", name="p")
    b.conv(1, 3, name="c1")
    b.conv(1, 5, pad=0, name="c2")
    b.conv(1, 5, stride=2, name="c3")
    report = verify(
        b.build(), "9x15", mesh="1x2", **DF, fused_layers=4, band_rows=4, band_overlap=overlap
    )
    assert report.ok, report.table()
    assert report.layers[2].out_shape.width == 1


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

    # 1x2: columns split [0,6) [6,12). Only c2 receives a halo: one c1 column from the
    # other chip (the pool's 2x2 windows do not cross col 6; c1's image halo is off-chip).
    # Per band: c1 rows received x 1 column x 4 channels x 2 chips x 16 bits = rows * 128.
    # cache: c2's windows [0,5) [3,9) [7,12) less the rows received before: 5, 4, 3 rows
    # (12 in all, as layer by layer); recompute: 5, 6, 5.
    assert [t.halo_bits for t in run("1x2", "cache").bands] == [640, 512, 384]
    assert [t.halo_bits for t in run("1x2", "recompute").bands] == [640, 768, 640]
    # recompute on 1x1: c1 rows [3,5) in band 1 and [7,9) in band 2 are computed again
    one = run("1x1", "recompute")
    assert [t.recomputed_rows for t in one.bands] == [0, 2, 2]
    assert [t.computed_rows for t in one.bands] == [5 + 4 + 2, 6 + 4 + 2, 5 + 4 + 2]
    assert [t.recomputed_rows for t in run("1x1", "cache").bands] == [0, 0, 0]
    # FMM peak on 1x1 in 16-bit values: the image tile 3x12x12 = 432, held whole; band 0
    # ends holding c1 rows [0,5) 5x4x12 = 240, c2 rows [0,4) 4x5x12 = 240 and pool rows
    # [0,2) 2x5x6 = 60: 972 values = 15552 bits. Band 1 (cache) holds c1 [3,9) 288 (rows
    # 3-4 kept), c2 [4,8) 240 and pool [0,4) 120: 1080 values = 17280 bits.
    assert [t.fmm_peak_bits for t in run("1x1", "cache").bands][:2] == [972 * 16, 1080 * 16]
    # rows held at the peak (image, c1, c2, pool so far), from the band table above
    cache = run("1x1", "cache")
    assert [cb.live_rows for cb in cache.chip_bands] == [
        (12, 5, 4, 2),
        (12, 6, 4, 4),
        (12, 5, 4, 6),
    ]
    # recompute holds the same rows in the band (it computes the kept ones again)
    assert [t.fmm_peak_bits for t in one.bands][:2] == [972 * 16, 1080 * 16]


# ------------------------------------------------------------------------------------------
# the check can fail


def _fails(mesh="1x2", **kw) -> bool:
    report = verify(_hand_stack(), "12x12", mesh=mesh, **DF, fused_layers=3, band_rows=2, **kw)
    return not report.ok and report.depth_first.max_abs_err > 0


def _mutated(change):
    """stack_rows with ``change(band, layer_rows)`` applied to every band after the first
    whose rows overlap an earlier band's."""
    original = bands.stack_rows

    def mutated(*args):
        rows = original(*args)
        for b, band in enumerate(rows[1:], 1):
            for per_row in band:
                for r, lr in enumerate(per_row):
                    if lr.overlap[1] > lr.overlap[0]:
                        per_row[r] = change(b, lr)
        return rows

    return mutated


def test_a_band_computing_one_overlap_row_fewer_is_caught(monkeypatch) -> None:
    # cache: a band whose new rows start one row late (the first of them is never computed)
    assert not _fails(band_overlap="cache")
    late = _mutated(lambda b, lr: replace(lr, computed=(lr.computed[0] + 1, lr.computed[1])))
    monkeypatch.setattr(bands, "stack_rows", late)
    assert _fails(band_overlap="cache")


@pytest.mark.parametrize("mesh", ["1x2", "2x2"])
def test_a_cache_keeping_one_overlap_row_fewer_is_caught(monkeypatch, mesh) -> None:
    # a later band said to need one row fewer: the cache releases a row it still needs
    assert not _fails(mesh, band_overlap="cache")
    short = _mutated(lambda b, lr: replace(lr, need=(lr.need[0] + 1, lr.need[1])))
    monkeypatch.setattr(bands, "stack_rows", short)
    assert _fails(mesh, band_overlap="cache")


@pytest.mark.parametrize("overlap", ["cache", "recompute"])
def test_broken_overlap_and_band_halos_are_caught(overlap) -> None:
    assert _fails(band_overlap=overlap, break_halo="overlap")
    assert _fails(band_overlap=overlap, break_halo="edges")
    assert _fails("2x2", band_overlap=overlap, break_halo="edges")


# ------------------------------------------------------------------------------------------
# against the model's band geometry


def _counts_as_model(run, halo_in_fmm: bool = False):
    """The run's own counts in the form of the model's ``Bands`` (a second reading)."""
    chips = 1 + max(cb.chip for cb in run.chip_bands)
    layers = []
    for b in range(run.band_count):
        cbs = sorted((cb for cb in run.chip_bands if cb.band == b), key=lambda cb: cb.chip)
        layers.append(
            [
                SimpleNamespace(
                    out_h=np.array([cb.computed[k] for cb in cbs]),
                    new_rows=np.array([cb.new[k] for cb in cbs]),
                    recomputed_rows=np.array([cb.recomputed[k] for cb in cbs]),
                    halo_pixels=np.array([cb.halo_pixels[k] for cb in cbs]),
                )
                for k in range(len(run.layers))
            ]
        )
    fmm = np.zeros((run.band_count, chips), dtype=np.int64)
    halo = np.zeros_like(fmm)
    for cb in run.chip_bands:
        fmm[cb.band, cb.chip] = cb.fmm_peak_bits + (cb.halo_held_bits if halo_in_fmm else 0)
        halo[cb.band, cb.chip] = cb.halo_held_bits
    return SimpleNamespace(count=run.band_count, layers=layers, fmm_bits=fmm, halo_bits=halo)


def test_the_model_comparison_finds_a_difference() -> None:
    run = verify(_hand_stack(), "12x12", mesh="2x2", **DF, fused_layers=3, band_rows=2)
    model = _counts_as_model(run.depth_first)
    assert differences(run.depth_first, model, halo_in_fmm=False) == []
    model.layers[1][0].halo_pixels[3, 0] += 1  # one halo pixel more on chip 3 in band 1
    model.fmm_bits[0, 2] -= 16
    found = differences(run.depth_first, model, halo_in_fmm=False)
    assert len(found) == 2
    assert any("band 1, chip 3, layer 'c1': halo pixels per direction" in f for f in found)
    assert any(f.startswith("band 0, chip 2: FMM bits") for f in found)


def test_a_model_that_disagrees_fails_verify(monkeypatch, capsys) -> None:
    # the model's geometry stood in by the run's own counts, one FMM value changed
    from hyperdrive_sim.cli import main
    from hyperdrive_sim.verify import run as run_module

    args = dict(mesh="1x2", **DF, fused_layers=3, band_rows=2)
    first = verify(_hand_stack(), "12x12", **args)
    chip = run_module._hardware(None, None, None, None, None, None, None).chip
    model = _counts_as_model(first.depth_first, halo_in_fmm=chip.border_buffer_bits == 0)
    image = np.array(first.depth_first.image_bits)
    monkeypatch.setattr(run_module, "model_bands", lambda net, hw: (model, image))
    same = verify(_hand_stack(), "12x12", **args)
    assert same.ok and same.model_check == ()
    assert "the model's band geometry agrees" in same.notes[-1]
    model.fmm_bits[2, 1] += 16
    report = verify(_hand_stack(), "12x12", **args)
    assert not report.ok and all(c.ok for c in report.layers)
    besides = model.fmm_bits[2, 1] - image[1]
    assert report.model_check == (
        f"band 2, chip 1: FMM bits besides the image {besides - 16} in the run, "
        f"{besides} in the model",
    )
    # a model holding less of the image than the first layer reads
    model.fmm_bits[2, 1] -= 16
    image[0] -= 16
    found = verify(_hand_stack(), "12x12", **args).model_check
    assert found[0] == f"band 0, chip 0: the model holds {image[0]} image bits, the run reads " + (
        f"{image[0] + 16}"
    )
    assert report.summary().startswith("MISMATCH: hand_stack at 12x12")
    assert "disagrees with the model's band geometry in 1 places" in report.summary()
    cli = ["verify", "--network", "resnet18", "--input", "32x32", "--mesh", "1x2"]
    cli += ["--no-progress", "--fusion", "depth_first", "--fused-layers", "2", "--band-rows", "8"]
    fake = (SimpleNamespace(count=9), None)
    monkeypatch.setattr(run_module, "model_bands", lambda net, hw: fake)
    assert main(cli) == 3
    assert "the model has 9 bands, the run 1" in capsys.readouterr().out


@pytest.mark.parametrize("overlap", ["cache", "recompute"])
def test_the_model_band_geometry_agrees_with_the_run(overlap) -> None:
    from hyperdrive_sim.verify.run import _hardware

    net = _strided_stack()
    kw = dict(**DF, fused_layers=5, band_rows=2, band_overlap=overlap)
    hw = _hardware(None, None, None, None, "3x2", None, None, None, kw)
    found = model_bands(net.at(61, 29), hw)
    if found is None:
        pytest.skip("this installation has no depth-first band geometry in the model")
    report = verify(net, "29x61", mesh="3x2", **kw)
    assert report.model_check == ()
    assert report.ok


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
    with pytest.raises(VerifyGeometryError, match="never exists whole"):
        verify(_residual(), "30x26", **DF, fused_layers=2, band_rows=2)  # the add reads stem
    far = NetBuilder("far", 3)
    far.conv(4, 3, name="c1")
    far.conv(4, 7, name="c2")  # 3 rows beyond a 2-row share: past the neighbour
    for mesh, what in (("6x1", "halo rows"), ("1x6", "column halo")):
        with pytest.raises(VerifyGeometryError, match=f"{what} reach"):
            verify(far.build(), "12x12", mesh=mesh, **DF, fused_layers=2, band_rows=1)
    with pytest.raises(VerifyGeometryError, match="cannot join the fused stack"):
        verify(_strided_stack(), "29x61", **DF, fused_layers=6, band_rows=2)  # global pool


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
    # per band: halo bits (as test_band_counts_by_hand), ..., max|err| 0
    rows = [line.split() for line in out.splitlines() if line[:4].strip() in ("0", "1", "2")]
    assert [(r[0], r[1], r[-1]) for r in rows[-3:]] == [
        ("0", "640", "0"),
        ("1", "512", "0"),
        ("2", "384", "0"),
    ]
    assert "OK: all 4 layers" in out and "depth first: 3 fused layers in 3 bands" in out
    assert main([*base, "--band-rows", "2", "--break-halo", "overlap"]) == 3
    assert "MISMATCH" in capsys.readouterr().out
    assert main([*base, "--band-rows", "0"]) == 2
    assert "--band-rows" in capsys.readouterr().err
