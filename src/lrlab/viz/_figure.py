"""Shared figure plumbing for lrlab.viz: Agg-only figures, line styles, legend labels, and deterministic saving.

Figures are built with `matplotlib.figure.Figure` directly (never pyplot), so no display or global
backend state is involved and pictures are byte-for-byte reproducible for the same inputs.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUFFIXES = (".png", ".svg", ".pdf")
COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)  # fmt: skip


DASHES = ("-", (0, (6, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2)))  # solid, dashed, dotted, dash-dot
LABEL_WIDTH = 44  # characters per legend line
LABEL_LINES = 3


def color(i: int) -> str:
    """The i-th colour of the lrlab cycle (wraps around; `style` tells lines apart past the tenth)."""
    return COLORS[i % len(COLORS)]


def style(i: int) -> dict[str, Any]:
    """Colour and line style of the i-th line: ten colours, then the same ten dashed, dotted, dash-dotted,
    so 40 lines never share a look."""
    return {"color": color(i), "linestyle": DASHES[(i // len(COLORS)) % len(DASHES)]}


_LONG_FLOAT = re.compile(r"(?<![\w.])(\d+\.\d{6,}(?:e[-+]?\d+)?)")


def _tidy(name: str) -> str:
    """A spec in its canonical form (default values dropped) with long floats to 5 significant digits."""
    from ..schedules import parse

    spec, at, rest = name.partition("@")
    try:
        spec = repr(parse(spec))
    except Exception:  # not a spec (a title, a run label): keep the text as it is
        pass
    text = spec + at + rest
    return _LONG_FLOAT.sub(lambda m: f"{float(m.group(1)):.5g}", text)


def _wrap(text: str, width: int) -> str:
    """Wrapped at spaces and commas, never mid-word; past LABEL_LINES lines the last one ends in "…"."""
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [text]
    if len(lines) > LABEL_LINES:
        lines = [*lines[: LABEL_LINES - 1], lines[LABEL_LINES - 1] + " …"]
    return "\n".join(lines)


def labels(names: Sequence[Any], width: int = LABEL_WIDTH) -> list[str]:
    """Legend labels for `names`: specs in canonical form, long floats shortened, wrapped (not cut), unique.

    Where tidying makes two labels equal, those two keep their full text; still equal, they get "#1", "#2"."""
    full = [str(n) for n in names]
    tidy = [_tidy(n) for n in full]
    tidy = [t if tidy.count(t) == 1 else f for t, f in zip(tidy, full)]
    seen: dict[str, int] = {}
    out = []
    for t in tidy:
        if tidy.count(t) > 1:
            seen[t] = seen.get(t, 0) + 1
            t = f"{t} #{seen[t]}"
        out.append(_wrap(t, width))
    return out


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


def frame_image(fig: Any) -> Any:
    """What the Agg canvas holds now, as a Pillow RGB image (no redraw: for blitted animations)."""
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy(), "RGB")
