"""The model's band geometry against what the band-by-band run did.

The planner's depth-first geometry (``mapping.depth_first.stack_bands``: per band, fused
layer and chip the rows computed, new and recomputed, the halo pixels per direction, the
FMM and halo bits held) is compared with the counts ``verify.banded`` measured while it
computed the stack with real numbers. Where the model's geometry is not available (an
installation without depth-first planning) there is nothing to compare.
"""

from __future__ import annotations

from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.verify.banded import BandedRun
from hyperdrive_sim.workload.network import ShapedNetwork


def model_bands(net: ShapedNetwork, hw: Hardware):
    """The planner's band geometry of ``hw``'s stack and the image bits it holds per chip,
    or None where the model has no band geometry."""
    try:
        from hyperdrive_sim.mapping.depth_first import stack_bands
        from hyperdrive_sim.mapping.plan import geometry
    except ImportError:
        return None
    geo = geometry(net, hw, switch=None)
    bands = stack_bands(net, hw, geo, hw.system.fused_layers, hw.system.band_rows)
    return bands, geo.image_in_bits


def differences(run: BandedRun, model, halo_in_fmm: bool, image_bits=None) -> list[str]:
    """Every disagreement between the run and the model's ``Bands`` (empty: they agree).

    ``model`` has ``count``, ``layers[band][k]`` with per-chip arrays ``out_h``,
    ``new_rows``, ``recomputed_rows`` and ``halo_pixels[chip, direction]``, and
    ``fmm_bits[band, chip]``, ``halo_bits[band, chip]``. ``halo_in_fmm``: the chip has no
    border buffer, so the model's FMM includes the held halo.

    ``image_bits[chip]``: the image bits the model's FMM holds. The model holds the image
    tile with its halo (as layer by layer), the run only the window its first layer reads,
    which is smaller where a stride skips rows or columns of the tile; with ``image_bits``
    the FMM is compared without each side's image, and the model's image must hold at
    least the run's. Without it the FMM bits must be equal.
    """
    out = []
    if model.count != run.band_count:
        return [f"the model has {model.count} bands, the run {run.band_count}"]
    names = run.layers
    for cb in run.chip_bands:
        where = f"band {cb.band}, chip {cb.chip}"
        for k, name in enumerate(names):
            bl = model.layers[cb.band][k]
            pairs = (
                ("rows computed", cb.computed[k], int(bl.out_h[cb.chip])),
                ("new rows", cb.new[k], int(bl.new_rows[cb.chip])),
                ("recomputed rows", cb.recomputed[k], int(bl.recomputed_rows[cb.chip])),
                (
                    "halo pixels per direction",
                    tuple(cb.halo_pixels[k]),
                    tuple(int(v) for v in bl.halo_pixels[cb.chip]),
                ),
            )
            out += [
                f"{where}, layer {name!r}: {what} {got} in the run, {want} in the model"
                for what, got, want in pairs
                if got != want
            ]
        fmm = cb.fmm_peak_bits + (cb.halo_held_bits if halo_in_fmm else 0)
        want = int(model.fmm_bits[cb.band, cb.chip])
        what = "FMM bits"
        if image_bits is not None:
            model_image, run_image = int(image_bits[cb.chip]), run.image_bits[cb.chip]
            if model_image < run_image:
                out.append(
                    f"{where}: the model holds {model_image} image bits, the run reads {run_image}"
                )
            fmm, want, what = fmm - run_image, want - model_image, "FMM bits besides the image"
        held = (
            (what, fmm, want),
            ("halo bits held", cb.halo_held_bits, int(model.halo_bits[cb.band, cb.chip])),
        )
        out += [
            f"{where}: {what} {got} in the run, {want} in the model"
            for what, got, want in held
            if got != want
        ]
    return out
