"""Claims validation: fits recover known parameters, competitor sets respect publication
dates, every claim has a kind, and the sensitivity tables contain the main value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hyperdrive_sim.baselines import baseline_rows
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.simulate import resolve_network, simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.accelerator import AcceleratorSpec
from hyperdrive_sim.spec.models import EnergyTable
from hyperdrive_sim.validation import (
    POLICIES,
    Claim,
    competitor_set,
    fit_binary_mac_pj,
    fit_competitor,
    hyperdrive_tops_per_w,
    load_claims,
    validate,
)

ROOT = Path(__file__).resolve().parent.parent
ACCS = ROOT / "configs" / "accelerators"


def preset(name: str) -> AcceleratorSpec:
    return loader.validate(AcceleratorSpec, loader.load(ACCS / f"{name}.yaml"))


def claim(**kw) -> Claim:
    base = dict(
        id="t", experiment="e", quantity="ratio_vs_best", accelerator="hyperdrive",
        network="resnet34", input="224x224", value=2.0, published="2018-03-05",
        kind="consistency", source="test", versus="binary",
    )  # fmt: skip
    return Claim.model_validate({**base, **kw})


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    got, _ = validate(ROOT, None, results_root=tmp_path_factory.mktemp("v"), plots=False)
    return {ch.claim.id: ch for ch in got}


def test_fit_recovers_a_known_binary_mac_pj():
    # Synthetic case: price a small ResNet-18 frame with binary_mac_pj (and the tied adder)
    # = 0.37 pJ, read its efficiency, then fit back from a table holding another value.
    table = loader.validate(
        EnergyTable, loader.load(ROOT / "configs/energy/hyperdrive_journal.yaml")
    )
    frame = simulate("resnet18", "64x64", energy=table)
    known = table.model_copy(update={"binary_mac_pj": 0.37, "fp16_add_pj": 0.37})
    target = hyperdrive_tops_per_w(frame, known)
    assert fit_binary_mac_pj(frame, table, target) == pytest.approx(0.37, rel=1e-6)


def test_fit_recovers_a_competitors_overhead_and_throughput():
    net = resolve_network("resnet18").at(64, 64)
    truth = preset("xne").model_copy(update={"overhead_pj_per_op": 0.5, "peak_gops": 40.0})
    row, _ = baseline_rows(net, truth, 21.0)
    start = truth.model_copy(update={"overhead_pj_per_op": 0.0, "peak_gops": 1.0})
    energy_mj = row["total_energy_j"] * 1e3
    assert fit_competitor(net, start, "overhead_pj_per_op", energy_mj, 21.0) == pytest.approx(
        0.5, rel=1e-6
    )
    assert fit_competitor(net, start, "peak_gops", row["fps"], 21.0) == pytest.approx(
        40.0, rel=1e-6
    )


def test_competitor_set_excludes_work_published_after_the_claim():
    everyone = [preset(n) for n in ("yodann", "unpu", "xnorbin", "xne")]
    # Conference claim, 5 March 2018: XNE (9 July 2018) is later, XNORBIN's preprint is
    # listed the same day (not before), so no fully binary accelerator qualifies.
    included, excluded = competitor_set(everyone, claim())
    assert included == []
    assert {n for n, _ in excluded} == {"yodann", "unpu", "xnorbin", "xne"}
    assert "not before" in dict(excluded)["xne"]
    # A claim made after both: both fully binary presets are competitors.
    later, _ = competitor_set(everyone, claim(published="2019-03-14"))
    assert [a.name for a in later] == ["xnorbin", "xne"]
    # The BWN reading of the same claim: YodaNN (2016) and UNPU (Feb 2018) precede it.
    bwn, _ = competitor_set(everyone, claim(versus="fm_streaming"))
    assert [a.name for a in bwn] == ["yodann", "unpu"]
    assert all(a.published < date(2018, 3, 5) for a in bwn)


def test_a_competitor_without_a_date_is_refused():
    undated = preset("xne").model_copy(update={"published": None})
    with pytest.raises(InputError, match="published"):
        competitor_set([undated], claim())


def test_every_claim_has_a_kind_and_fitted_ones_name_their_parameter(checks):
    claims = load_claims(ROOT).claims
    assert {c.kind for c in claims} <= {"fitted", "predicted", "consistency", "input"}
    assert all(c.fits for c in claims if c.kind == "fitted")
    assert set(checks) == {c.id for c in claims}
    with pytest.raises(ValueError, match="fits"):
        claim(kind="fitted")


def test_sensitivity_middle_column_is_the_main_value(checks):
    ratios = [ch for ch in checks.values() if ch.sensitivity is not None]
    assert ratios
    for ch in ratios:
        main = ch.sensitivity[next(iter(POLICIES))]
        assert main[len(main) // 2].ratio == ch.simulated, ch.claim.id


def test_journal_ratio_by_hand_at_every_off_chip_energy(checks):
    # Second method: Hyperdrive is held at its fitted efficiency; UNPU's energy is its core
    # (ops / 50.6 TOp/s/W) plus its modelled traffic at each pJ/bit.
    ch = checks["journal_ratio_vs_bwn"]
    hyper = checks["journal_system_efficiency"].simulated
    net = resolve_network("resnet34").at(224, 224)
    unpu = preset("unpu")
    bits = baseline_rows(net, unpu, 21.0)[0]["offchip_bits"]
    ops = 2 * net.macs
    for pj, cell in zip((10, 21, 40), ch.sensitivity["as modelled"], strict=True):
        eff = ops / (ops / 50.6e12 + bits * pj * 1e-12) * 1e-12
        assert cell.ratio == pytest.approx(hyper / eff, rel=1e-9)
        assert cell.best == "unpu"
    assert ch.included == ("yodann", "unpu")


def test_bnn_reading_of_the_conference_claim_is_not_evaluable(checks):
    ch = checks["conference_ratio_vs_bnn"]
    assert ch.simulated is None and ch.error is None and ch.included == ()
    assert checks["conference_ratio_vs_bnn_read_as_bwn"].included == ("yodann", "unpu")


def test_xne_reproduces_its_own_published_figures(checks):
    # 7,327,522,816 Op (2 x ResNet-34's MACs) in 2.2 mJ at 8.9 frames/s: the fitted preset
    # (rounded to 4 digits) lands within 0.1% of both.
    assert checks["xne_resnet34_energy"].simulated == pytest.approx(2.2, rel=1e-3)
    assert checks["xne_resnet34_fps"].simulated == pytest.approx(8.9, rel=1e-3)


def test_each_hyperdrive_fit_is_shown_against_its_physical_prior(checks):
    prior_table = loader.validate(
        EnergyTable, loader.load(ROOT / "configs/energy/hyperdrive_22fdx.yaml")
    )
    for cid, target in (("journal_system_efficiency", 4.3), ("conference_system_efficiency", 5.9)):
        r = checks[cid].residual
        assert r is not None, cid
        # the prior is the physical table's binary_mac_pj with its source and range
        assert r.prior == prior_table.binary_mac_pj
        assert r.prior_source == prior_table.sources["binary_mac_pj"]
        assert r.prior_high == prior_table.ranges["binary_mac_pj"].high
        assert r.ratio == pytest.approx(r.fitted / r.prior)
        assert r.within == (0.5 <= r.ratio <= 2.0)
        # second method for the excess: frame energy is ops / efficiency at the fit, and at
        # 0.5 V (the table's reference voltage) each FP16 MAC and tied FP16 add costs
        # binary_mac_pj, so the excess is (fit - prior) x (MACs + adds) per frame
        frame = simulate("resnet34", "224x224", energy=prior_table, mesh="2x2")
        c = frame.counts
        actions = int((c.macs - c.skipped_macs - c.xnor_macs).sum() + c.fp16_adds.sum())
        assert r.frame_j == pytest.approx(frame.ops / (target * 1e12), rel=1e-3)
        assert r.surplus_j == pytest.approx((r.fitted - r.prior) * actions * 1e-12, rel=1e-9)
    # competitor fits have no physical prior
    assert checks["xne_resnet34_energy"].residual is None


def test_a_prior_is_given_once_and_only_for_a_fit():
    with pytest.raises(ValueError, match="either `table` or both"):
        claim(kind="fitted", fits="binary_mac_pj", quantity="system_tops_per_w", versus=None,
              prior={"value": 0.05})  # fmt: skip
    with pytest.raises(ValueError, match="only a fitted claim"):
        claim(prior={"table": "energy/hyperdrive_22fdx.yaml"})
