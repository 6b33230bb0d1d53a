"""One simulated point from specs: plan, evaluate, price."""

from __future__ import annotations

from pathlib import Path

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.evaluators import evaluate, evaluate_timeline
from hyperdrive_sim.evaluators.des import write_trace
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.pricing import price, weight_buffer_bits
from hyperdrive_sim.result import Result
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.defaults import coerce
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import (
    ChipSpec,
    EnergyTable,
    Mesh,
    NetworkRef,
    Resolution,
    SystemSpec,
    check_sram_area,
)
from hyperdrive_sim.workload.network import Network
from hyperdrive_sim.workload.yaml_network import load_network_yaml
from hyperdrive_sim.workload.zoo import get_network


def resolve_network(ref: NetworkRef | Network | str, base: Path | None = None) -> Network:
    """A zoo name, a YAML or ONNX network path (relative to ``base``), or a Network as is."""
    if isinstance(ref, Network):
        return ref
    if isinstance(ref, str):
        ref = NetworkRef.model_validate(ref)
    if ref.zoo is not None:
        return get_network(ref.zoo)
    path = Path(ref.file or ref.onnx)
    if base is not None and not path.is_absolute():
        path = base / path
    if ref.onnx is not None:
        from hyperdrive_sim.workload.onnx_import import load_onnx  # optional extra

        return load_onnx(path, allow_unsupported=ref.allow_unsupported)
    return load_network_yaml(path)


def simulate(
    network: Network | NetworkRef | str,
    resolution: Resolution | str | tuple[int, int],
    chip: ChipSpec | str | Path | dict | None = None,
    system: SystemSpec | str | Path | dict | None = None,
    energy: EnergyTable | str | Path | dict | None = None,
    *,
    area: AreaTable | str | Path | dict | None = None,
    mesh: Mesh | str | None = None,
    evaluator: str = "analytic",
    trace: str | Path | None = None,
) -> Result:
    """Simulate one frame of ``network`` at ``resolution`` (WIDTHxHEIGHT) on the system.

    Specs may be objects, dicts or YAML paths; an omitted one is the bundled Hyperdrive
    preset, as in an experiment. ``mesh`` overrides the system's mesh. A point that does not
    fit returns a Result with ``fits == False`` and the reason. ``trace`` writes a
    Perfetto/Chrome trace of the frame to that path.
    """
    chip, system, energy, area = (
        coerce(chip, "chip"),
        coerce(system, "system"),
        coerce(energy, "energy"),
        coerce(area, "area"),
    )
    try:
        check_sram_area(energy, area)
    except ValueError as exc:
        raise InputError(str(exc), key="area") from None
    res = (
        resolution if isinstance(resolution, Resolution) else Resolution.model_validate(resolution)
    )
    mesh = (
        system.mesh
        if mesh is None
        else (mesh if isinstance(mesh, Mesh) else Mesh.model_validate(mesh))
    )
    hw = Hardware(chip, system, energy, mesh, area)
    net = resolve_network(network).at(res.height, res.width)
    plan = build_plan(net, hw)
    if not plan.fits:
        return Result(plan, None, None)
    if trace is not None:
        counts, timeline = evaluate_timeline(plan, evaluator)
        write_trace(timeline, trace, hw.frequency_hz)
    else:
        counts = evaluate(plan, evaluator)
    return Result(plan, counts, price(counts, hw, weight_buffer_bits(plan)))
