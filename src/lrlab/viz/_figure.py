"""Shared figure plumbing for lrlab.viz: Agg-only figures, the colour cycle, and deterministic saving.

Figures are built with `matplotlib.figure.Figure` directly (never pyplot), so no display or global
backend state is involved and pictures are byte-for-byte reproducible for the same inputs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

SUFFIXES = (".png", ".svg", ".pdf")
COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)  # fmt: skip


def color(i: int) -> str:
    """The i-th colour of the lrlab cycle (wraps around)."""
    return COLORS[i % len(COLORS)]


def check_suffix(path: str | Path, allowed: tuple[str, ...] = SUFFIXES) -> Path:
    """`path` as a Path when its suffix is one of `allowed`; ValueError naming the path otherwise."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise ValueError(f"output {str(path)!r} must end in {', '.join(allowed)} (got suffix {path.suffix!r})")
    return path


def new_figure(width: float, height: float, dpi: int = 100) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _metadata(suffix: str) -> dict[str, Any]:
    # No dates or version strings: the same inputs give the same bytes.
    if suffix == ".svg":
        return {"Date": None, "Creator": None}
    if suffix == ".pdf":
        return {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
    return {"Software": None}


def save(fig: Any, path: str | Path, dpi: int | None = None) -> Path:
    """Write `fig` to `path` (png, svg or pdf by the suffix), creating the folder; returns the path."""
    import matplotlib

    path = check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    with matplotlib.rc_context({"svg.hashsalt": "lrlab", "pdf.compression": 6}):
        fig.savefig(path, format=suffix[1:], dpi=dpi or fig.dpi, metadata=_metadata(suffix))
    return path


def to_bytes(fig: Any, fmt: str = "png", dpi: int | None = None) -> bytes:
    """The figure encoded as png or svg bytes (for embedding in the HTML report)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "lrlab"}):
        fig.savefig(buf, format=fmt, dpi=dpi or fig.dpi, metadata=_metadata("." + fmt))
    return buf.getvalue()


def rgb_frame(fig: Any) -> Any:
    """The figure rendered on its Agg canvas as a Pillow RGB image (one animation frame)."""
    fig.canvas.draw()
    return frame_image(fig)


def frame_image(fig: Any) -> Any:
    """What the Agg canvas holds now, as a Pillow RGB image (no redraw: for blitted animations)."""
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy(), "RGB")
