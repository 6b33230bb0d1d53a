"""Where a command writes, and keeping a figure folder to the figures of its results.

Layout (docs: README "Output folders"):

- ``run NAME`` writes ``results/NAME/`` (the spec's ``output_dir`` if it sets one);
  with ``--set`` and no ``--out`` the folder is named for the overrides,
  ``results/NAME+chip.fmm_bits=12800000/``, so a variation never replaces the baseline's
  results and a re-run of the same variation finds its own cache;
- ``sensitivity`` writes ``<that folder>/sensitivity/`` and ``explore`` writes
  ``<that folder>/explore/``: neither mixes its tables or figures with a run's;
- ``--out DIR`` is used as given.

A figure folder holds the figures of one set of results: after drawing, the figure files
that were not drawn this time (an earlier run's, a scenario since removed) are deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.readfile import digest_input

#: suffixes of the figure files a figure folder may hold
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
#: longest override part of a folder name before it is shortened with a hash
MAX_SLUG_CHARS = 80
#: overrides that choose the folder themselves, so they do not name it
FOLDER_KEYS = ("name", "output_dir")


def override_slug(overrides: Sequence[str]) -> str:
    """A folder-name part for ``--set`` overrides: ``chip.fmm_bits=12800000``, several
    joined by ``+``; brackets, braces, quotes and spaces dropped, commas as ``-``; longer
    than :data:`MAX_SLUG_CHARS` cut and ended with a hash of the whole (still unique)."""
    parts = []
    for text in overrides:
        key, _, value = text.partition("=")
        if key.strip() in FOLDER_KEYS:
            continue
        value = re.sub(r"[\[\]{}'\"\s]", "", value).replace(",", "-").replace(":", "-")
        part = re.sub(r"[^A-Za-z0-9._=+-]", "_", f"{key.strip()}={value}")
        parts.append(part)
    slug = "+".join(parts)
    if len(slug) > MAX_SLUG_CHARS:
        digest = hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:10]
        slug = f"{slug[: MAX_SLUG_CHARS - 11]}-{digest}"
    return slug


def output_folder(
    name: str,
    spec_output_dir: str | Path | None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    sub: str | None = None,
) -> Path:
    """The folder a command writes: ``out`` as given; else the spec's ``output_dir`` or
    ``results/<name>``, suffixed with the overrides (unless they set the folder or the
    name themselves), then ``sub`` (``sensitivity``, ``explore``) inside it."""
    if out is not None:
        return Path(out)
    folder = Path(spec_output_dir or Path("results") / name)
    sets_folder = any(o.partition("=")[0].strip() == "output_dir" for o in overrides)
    slug = "" if sets_folder else override_slug(overrides)
    if slug:
        folder = folder.with_name(f"{folder.name}+{slug}")
    return folder / sub if sub else folder


def figure_files(folder: Path) -> dict[Path, str]:
    """Figure files of ``folder`` with a digest of their bytes."""
    if not folder.is_dir():
        return {}
    digests = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in FIGURE_SUFFIXES and p.is_file():
            try:
                digests[p] = digest_input(p, limit=limits.MAX_RESULTS_BYTES, what="figure")
            except InputError:  # vanished or unreadable: not a figure to keep
                continue
    return digests


@dataclass(frozen=True)
class Drawn:
    """What drawing the figures of a folder did."""

    folder: Path
    files: tuple[Path, ...]  # every figure of the results, in drawing order
    changed: tuple[Path, ...]  # those whose bytes are new (written or rewritten)
    removed: tuple[Path, ...]  # figures of earlier results, deleted

    def summary(self) -> str:
        """One line for the terminal: what was written, what was already up to date."""
        from hyperdrive_sim.report.words import plural

        kept = len(self.files) - len(self.changed)
        if self.changed:
            line = f"wrote {plural(len(self.changed), 'figure')} to {self.folder}/"
            if kept:
                line += f" ({kept} up to date)"
        elif self.files:
            line = f"{plural(len(self.files), 'figure')} in {self.folder}/ up to date"
        else:
            line = f"no figures for these results in {self.folder}/"
        if self.removed:
            line += f"; removed {plural(len(self.removed), 'figure')} of earlier results"
        return line


def draw_into(folder: Path, draw: Callable[[], list[Path]], prune: bool = True) -> Drawn:
    """Run ``draw`` (which writes figures into ``folder`` and returns them); report which
    files changed and, with ``prune``, delete the figure files it did not draw."""
    before = figure_files(folder)
    files = tuple(draw())
    after = figure_files(folder)
    changed = tuple(p for p in files if p not in before or before[p] != after.get(p))
    removed = prune_figures(folder, keep=files) if prune else ()
    return Drawn(folder, files, changed, removed)


def prune_figures(folder: Path, keep: Sequence[Path] = ()) -> tuple[Path, ...]:
    """Delete the figure files of ``folder`` not in ``keep``; return them."""
    kept = {p.resolve() for p in keep}
    gone = tuple(p for p in figure_files(folder) if p.resolve() not in kept)
    for p in gone:
        p.unlink(missing_ok=True)
    return gone
