"""The package as installed from a wheel: its license, its changelog, and the JSON Schemas
the bundled YAML files point at.

A wheel installs ``configs/`` and ``experiments/`` under ``hyperdrive_sim/_data/`` (the
``force-include`` table of pyproject.toml); each bundled YAML names its schema on its first
line by a path relative to itself, so ``schemas/`` must land beside them there. Checked here
from the mapping itself, without building (building needs the network); a built wheel was
checked by hand: ``pip wheel . --no-deps -w /tmp/x``, installed with ``pip install
--target``, every one of the 30 pointers resolves.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath

import hyperdrive_sim

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SCHEMA = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def _wheel_paths() -> dict[PurePosixPath, Path]:
    """Path inside the wheel -> file in the repository, for the force-included folders."""
    mapping = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    out = {}
    for source, target in mapping.items():
        for path in (REPO / source).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                out[PurePosixPath(target) / path.relative_to(REPO / source).as_posix()] = path
    return out


def _resolve(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def test_every_bundled_yaml_finds_its_schema_in_the_wheel():
    files = _wheel_paths()
    yamls = [p for p in files if p.suffix == ".yaml"]
    assert len(yamls) >= 20  # configs and experiments are in the wheel
    for inside in yamls:
        first = files[inside].read_text(encoding="utf-8").splitlines()[0]
        match = SCHEMA.match(first)
        assert match, f"{files[inside]}: first line does not name its schema"
        target = _resolve(inside.parent / match.group(1))
        assert target in files, f"{files[inside]}: {match.group(1)} is not in the wheel"
        # and the same relative path works in the repository
        assert (files[inside].parent / match.group(1)).resolve().is_file()


def test_license_is_the_apache_text_the_metadata_names():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:5] == ["Apache", "License", "Version", "2.0,", "January"]
    # the 9 sections of the terms, and the appendix: the whole standard text, not a notice
    for n, title in enumerate(
        ["Definitions", "Grant of Copyright License", "Grant of Patent License",
         "Redistribution", "Submission of Contributions", "Trademarks",
         "Disclaimer of Warranty", "Limitation of Liability",
         "Accepting Warranty or Additional Liability"], start=1,
    ):  # fmt: skip
        assert f"{n}. {title}." in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text


def test_changelog_covers_the_current_version():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog")
    assert hyperdrive_sim.__version__ in text
