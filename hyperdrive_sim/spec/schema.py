"""JSON Schemas of the YAML formats, describing what users actually write.

Pydantic's ``model_json_schema`` describes the validated objects. The files users write
differ in three ways, which :func:`spec_schema` adds by post-processing that schema:

* shorthand strings: a mesh ``"4x2"``, an input ``"1920x1080"`` (or ``[w, h]`` lists), a
  network ``"resnet34"`` / ``"net.yaml"`` / ``"model.onnx"``;
* ``include: FILE`` wherever a mapping is allowed: with an include the other keys are
  overrides, so nothing else is required, at any depth below it;
* sections with bundled defaults (``ExperimentSpec.section_defaults``) may be omitted, and a
  section given without ``include:`` only overrides the preset's keys.

``hyperdrive-sim schema`` writes :func:`all_schemas` to files; the repository keeps them in
``schemas/`` and every bundled YAML names its schema on its first line.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from hyperdrive_sim.spec.loader import INCLUDE

DRAFT = "https://json-schema.org/draft/2020-12/schema"
PARTIAL = "__partial"  # suffix of the definition where no key is required
_DIMS = r"^\s*[0-9]+\s*[xX×]\s*[0-9]+\s*$"
_PAIR = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2}
#: strings (and lists) accepted in place of a mapping, by model name
SHORTHANDS: dict[str, list[dict[str, Any]]] = {
    "Mesh": [
        {"type": "string", "pattern": _DIMS, "description": "ROWSxCOLS, e.g. '4x2'"},
        {**_PAIR, "description": "[rows, cols]"},
    ],
    "Resolution": [
        {"type": "string", "pattern": _DIMS, "description": "WIDTHxHEIGHT, e.g. '1920x1080'"},
        {**_PAIR, "description": "[width, height]"},
    ],
    "Constraint": [
        {
            "type": "string",
            "pattern": r"^\s*[A-Za-z_][A-Za-z0-9_.]*\s*(<=|>=|<|>|==)\s*[-+0-9.eE]+\s*$",
            "description": "COLUMN OP NUMBER, e.g. 'fps >= 30'",
        }
    ],
    "NetworkRef": [
        {
            "type": "string",
            "minLength": 1,
            "description": "a zoo name, a YAML network file (.yaml) or an ONNX model (.onnx)",
        }
    ],
}
_INCLUDE_PROPERTY = {
    "type": "string",
    "minLength": 1,
    "description": "file whose mapping this one extends; the other keys override its keys",
}


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and "properties" in schema


def _to_partial(node: Any, objects: set[str]) -> Any:
    """A copy of ``node`` whose references to object definitions point at their partial form."""
    if isinstance(node, dict):
        out = {k: _to_partial(v, objects) for k, v in node.items()}
        ref = node.get("$ref", "")
        name = ref.removeprefix("#/$defs/")
        if ref.startswith("#/$defs/") and name in objects:
            out["$ref"] = f"#/$defs/{name}{PARTIAL}"
        return out
    if isinstance(node, list):
        return [_to_partial(v, objects) for v in node]
    return node


def _object(schema: dict[str, Any], properties: dict[str, Any], required: list[str]):
    out = {k: v for k, v in schema.items() if k not in ("properties", "required", "title")}
    out["properties"] = {**properties, INCLUDE: _INCLUDE_PROPERTY}
    if required:
        out["required"] = required
    return out


def _with_shorthand(name: str, branches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*copy.deepcopy(SHORTHANDS.get(name, [])), *branches]


def spec_schema(model: type[BaseModel], *, includes: bool = True) -> dict[str, Any]:
    """The JSON Schema of YAML files describing ``model`` (see the module docstring).

    ``includes=False`` is for formats read without ``include:`` (network files): pydantic's
    schema as it is, with the draft named.
    """
    raw = model.model_json_schema(ref_template="#/$defs/{model}")
    title = raw.get("title", model.__name__)
    if not includes:
        return {"$schema": DRAFT, **raw}
    defs: dict[str, Any] = raw.pop("$defs", {})
    root = model.__name__
    defs[root] = raw
    objects = {name for name, schema in defs.items() if _is_object(schema)}
    defaulted = set(getattr(model, "section_defaults", {}) or {})
    out_defs: dict[str, Any] = {}
    for name, schema in defs.items():
        if name not in objects:
            out_defs[name] = schema
            continue
        properties = schema["properties"]
        partial = _to_partial(properties, objects)
        required = list(schema.get("required", []))
        if name == root and defaulted:  # omitted sections default; given ones only override
            properties = dict(properties)
            for key in defaulted:
                if key in properties:
                    properties[key] = _to_partial(properties[key], objects)
            required = [key for key in required if key not in defaulted]
        strict = _object(schema, properties, required)
        included = _object(schema, partial, [INCLUDE])
        header = {k: schema[k] for k in ("title", "description") if k in schema}
        out_defs[name] = {**header, "anyOf": _with_shorthand(name, [strict, included])}
        out_defs[name + PARTIAL] = {
            **header,
            "anyOf": _with_shorthand(name, [_object(schema, partial, [])]),
        }
    return {"$schema": DRAFT, "title": title, "$ref": f"#/$defs/{root}", "$defs": out_defs}


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every YAML format by name: experiment, chip, system, energy, area, accelerator,
    claims, network, memory (written as ``<name>.schema.json``)."""
    from hyperdrive_sim.spec.accelerator import AcceleratorSpec
    from hyperdrive_sim.spec.area import AreaTable
    from hyperdrive_sim.spec.experiment import ExperimentSpec
    from hyperdrive_sim.spec.memory import MemoryTable
    from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, SystemSpec
    from hyperdrive_sim.validation import ClaimFile
    from hyperdrive_sim.workload.yaml_network import NetworkSpec

    return {
        "experiment": spec_schema(ExperimentSpec),
        "chip": spec_schema(ChipSpec),
        "system": spec_schema(SystemSpec),
        "energy": spec_schema(EnergyTable),
        "area": spec_schema(AreaTable),
        "accelerator": spec_schema(AcceleratorSpec),
        "claims": spec_schema(ClaimFile),
        "network": spec_schema(NetworkSpec, includes=False),
        "memory": spec_schema(MemoryTable, includes=False),
    }
