"""Figure creation and saving: PNG (and SVG / PDF on request), written atomically (temp
file, then rename)."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib as mpl
from matplotlib.figure import Figure

from hyperdrive_sim.report.writers import write_atomic
from hyperdrive_sim.viz import style

P = ParamSpec("P")
R = TypeVar("R")

#: no timestamps in the files, so the same results give the same bytes
_METADATA: dict[str, dict[str, None]] = {
    "svg": {"Date": None},
    "png": {"Software": None},
    "pdf": {"CreationDate": None},
}


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` under the package's matplotlib settings (restored on return)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with mpl.rc_context(style.RC):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A figure detached from pyplot: no global figure registry, no GUI backend; laid out
    by ``layout`` (a matplotlib layout engine name, or None when laid out by hand)."""
    return Figure(figsize=(width, height), layout=layout)


def save_figure(
    fig: Figure, out_dir: Path, name: str, formats: Sequence[str] = style.FORMATS
) -> list[Path]:
    """Save ``fig`` as ``out_dir/name.<format>`` for each of ``formats`` (default PNG only);
    return the written paths."""
    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        with mpl.rc_context(style.RC):
            fig.savefig(buf, format=fmt, dpi=style.DPI, metadata=_METADATA.get(fmt))
        fig.set_layout_engine("none")  # keep the layout of the first format: saves time
        path = Path(out_dir) / f"{name}.{fmt}"
        write_atomic(path, buf.getvalue())
        paths.append(path)
    return paths
