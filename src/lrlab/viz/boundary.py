"""Decision boundary of a trained 2-D binary classifier (the `quantiles` task), as in the fourth seed:
filled contours of P(y = 1) over a grid, a colourbar, and the data points on top."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _figure

LEVELS = np.linspace(0.0, 1.0, 26)  # 25 bands, as in the seed


def probabilities(model: Any, points: np.ndarray, loss: str = "bce") -> np.ndarray:
    """P(y = 1) at each 2-D point: sigmoid of the logit for "bce", softmax's class 1 for "ce".

    `model` is a torch module (logits out) or any callable mapping an (n, 2) float array to P(y = 1).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    if loss not in ("bce", "ce"):
        raise ValueError(f"loss must be 'bce' or 'ce' for a decision boundary, got {loss!r}")
    try:
        import torch
    except ImportError:  # pragma: no cover - only plain callables then
        torch = None
    if torch is not None and isinstance(model, torch.nn.Module):
        dtype = next(iter(model.parameters())).dtype
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(torch.as_tensor(points, dtype=dtype))
        model.train(was_training)
        if loss == "bce":
            probs = torch.sigmoid(out.reshape(len(points), -1)[:, 0])
        else:
            probs = torch.softmax(out, dim=1)[:, 1]
        return probs.double().numpy()
    probs = np.asarray(model(points), dtype=np.float64).reshape(len(points), -1)[:, 0]
    return probs


def _extent(x: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = 0.08 * (hi - lo)
    return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])


def draw_boundary(
    ax: Any,
    model: Any | Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    loss: str = "bce",
    extent: tuple[float, float, float, float] | None = None,
    resolution: int = 200,
    point_size: float = 14,
) -> Any:
    """Contours of P(y=1) over a resolution x resolution grid, the points (x, y) on top; returns the contour set."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got {x.shape}")
    if len(y) != len(x):
        raise ValueError(f"y must have one label per point: {len(y)} labels for {len(x)} points")
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution!r}")
    x0, x1, y0, y1 = extent or _extent(x)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    probs = probabilities(model, np.c_[gx.ravel(), gy.ravel()], loss).reshape(gx.shape)
    contour = ax.contourf(gx, gy, probs, levels=LEVELS, cmap="RdBu", vmin=0, vmax=1)
    ax.scatter(x[:, 0], x[:, 1], c=y, s=point_size, cmap="RdBu", vmin=-0.2, vmax=1.2, edgecolor="white",
               linewidth=0.3 if point_size < 10 else 0.6)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    return contour


def boundaries_figure(
    panels: Sequence[tuple[str, Any]],
    x: np.ndarray,
    y: np.ndarray,
    *,
    loss: str = "bce",
    columns: int | None = None,
    resolution: int = 200,
    title: str | None = None,
    panel_size: float = 3.8,
    width: float | None = None,
) -> Any:
    """One decision-boundary panel per (title, model), on the same points and extent, one shared colourbar.

    `panel_size`: a panel's side in inches; or `width`: the figure's width in inches (the panels fill it beside the
    colourbar), e.g. 10.5 for a 1015 px page column at 96 px an inch, saved at 192 dpi for 2 pixels a px."""
    if not panels:
        raise ValueError("panels: give at least one (title, model) pair")
    columns = columns or min(len(panels), 4)
    if width is not None:
        if width <= 2.0:
            raise ValueError(f"width must be > 2 inches, got {width!r}")
        panel_size = (width - 1.0) / columns
    rows = -(-len(panels) // columns)
    fig = _figure.new_figure(panel_size * columns + 1.0, panel_size * rows + (0.5 if title else 0.2))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    extent = _extent(np.asarray(x, dtype=np.float64))
    contour = None
    for ax, (name, model) in zip(axes, panels):
        contour = draw_boundary(ax, model, x, y, loss=loss, extent=extent, resolution=resolution,
                                point_size=8 if len(x) > 500 else 14)
        ax.set_title(name, fontsize=10)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    bar = fig.colorbar(contour, ax=list(axes[: len(panels)]), shrink=0.85)
    bar.set_label("$P(y = 1)$")
    bar.set_ticks([0, 0.25, 0.5, 0.75, 1])
    if title:
        fig.suptitle(title)
    return fig


def plot_boundary(
    model: Any, x: np.ndarray, y: np.ndarray, path: str | Path, *, loss: str = "bce", title: str | None = None,
    resolution: int = 200,
) -> Path:
    """Write one decision-boundary picture (png/svg/pdf) of `model` on points (x, y); returns the path."""
    path = _figure.check_suffix(path)
    fig = boundaries_figure([(title or "", model)], x, y, loss=loss, resolution=resolution)
    return _figure.save(fig, path)
