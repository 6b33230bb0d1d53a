"""The JSON Schemas describe the YAML users write, and the tracked copies are current.

Every bundled YAML must validate against the schema its first line names, and a few files
that the loader refuses must fail the schema too (so these checks can fail).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from hyperdrive_sim.cli import main
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.schema import all_schemas

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "schemas"
BUNDLED = sorted([*(REPO / "configs").glob("*/*.yaml"), *(REPO / "experiments").glob("*.yaml")])
FIRST_LINE = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict]:
    return all_schemas()


def validator(schema: dict) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def named_schema(path: Path) -> Path:
    match = FIRST_LINE.match(path.read_text(encoding="utf-8"))
    assert match, f"{path} does not name its schema on the first line"
    return (path.parent / match.group(1)).resolve()


def test_every_bundled_yaml_is_covered():
    folders = {p.parent.name for p in BUNDLED}
    # every config kind, networks included, plus the experiments
    assert {"chips", "systems", "energy", "accelerators", "networks", "claims"} <= folders
    assert "experiments" in folders


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bundled_yaml_validates_against_the_schema_it_names(path, schemas):
    target = named_schema(path)
    assert target.parent == SCHEMAS
    kind = target.name.removesuffix(".schema.json")
    errors = [e.message for e in validator(schemas[kind]).iter_errors(loader.read_yaml(path))]
    assert errors == []


def test_tracked_schemas_equal_what_the_cli_writes(tmp_path, capsys):
    assert main(["schema", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.schema.json"))
    assert written == sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    for name in written:
        fresh = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        tracked = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        assert fresh == tracked, f"schemas/{name} is stale: run `hyperdrive-sim schema`"


WRONG = [
    # (schema, YAML text the loader refuses, why)
    ("chip", "include: hyperdrive.yaml\ntile_rows: '7'\n", "a string where an integer belongs"),
    ("chip", "name: c\ntile_cols: 7\n", "no include, so every key is required"),
    ("chip", "include: hyperdrive.yaml\noperating_points: {fast: {volts: 1}}\n", "unknown key"),
    ("system", "include: hyperdrive_mesh.yaml\nmesh: 4by2\n", "not ROWSxCOLS"),
    ("system", "include: hyperdrive_mesh.yaml\noffchip_bandwidth_gbps: 1.0e-300\n", "range"),
    ("energy", "include: hyperdrive_22fdx.yaml\noffchip_pj_per_bit: true\n", "a boolean"),
    ("experiment", "name: t\nnetworks: [resnet18]\ninputs: [64x64]\nmesh: [1x1]\n", "typo"),
    ("experiment", "name: t\nnetworks: [resnet18]\ninputs: [64]\n", "an input is WxH"),
    ("experiment", "name: t\nnetworks: [resnet18]\ninputs: [64x64]\nchip: {tile_rows: 0}\n", "0"),
    ("network", "name: n\nlayers: [{type: convolution, out: 8}]\n", "unknown layer type"),
    ("network", "name: n\nlayers: [{type: conv, out: 8, kernel: 2000}]\n", "kernel limit"),
]


@pytest.mark.parametrize(("kind", "text", "why"), WRONG, ids=[w[2] for w in WRONG])
def test_wrong_files_fail_the_schema(kind, text, why, schemas):
    data = loader.parse_yaml(text, "wrong.yaml")
    assert not validator(schemas[kind]).is_valid(data), why


def test_shorthands_and_defaults_pass_the_schema(schemas):
    # what the loader accepts: shorthand strings, list forms, omitted sections, a section
    # that only overrides its preset, include with overrides in a list
    text = (
        "name: t\nnetworks: [resnet18, {zoo: vgg16}, net.yaml]\ninputs: [64x64, [32, 16]]\n"
        "meshes: [2x2, [1, 3]]\nchip: {fmm_bits: 12800000}\n"
        "baselines: [{include: accelerators/yodann, peak_gops: 100}]\n"
        "sweep: {grid: {energy.offchip_pj_per_bit: [1, 2]}}\n"
    )
    assert validator(schemas["experiment"]).is_valid(loader.parse_yaml(text, "ok.yaml"))
