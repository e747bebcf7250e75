import numpy as np
import pytest

from lrlab.viz.boundary import boundaries_figure, plot_boundary, probabilities


def ring(points):
    """P(y=1) rising with the distance from the origin: the quantiles task's true shape."""
    r = np.hypot(points[:, 0], points[:, 1])
    return 1 / (1 + np.exp(-20 * (r - 0.4)))


def data(n=200):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.35, size=(n, 2))
    return x, (np.hypot(x[:, 0], x[:, 1]) > 0.4).astype(float)


def test_probabilities_of_torch_logits():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    pts = np.array([[0.0, 0.0], [1.0, -1.0], [0.3, 0.2]])
    with torch.no_grad():
        logits = model(torch.tensor(pts, dtype=torch.float32)).numpy().ravel()
    assert np.allclose(probabilities(model, pts), 1 / (1 + np.exp(-logits)), atol=1e-6)
    two = torch.nn.Linear(2, 2)
    with torch.no_grad():
        z = two(torch.tensor(pts, dtype=torch.float32)).numpy()
    assert np.allclose(probabilities(two, pts, loss="ce"), np.exp(z[:, 1]) / np.exp(z).sum(1), atol=1e-6)
    assert model.training  # the mode is restored


def test_boundary_picture(tmp_path, picture):
    x, y = data()
    out = plot_boundary(ring, x, y, tmp_path / "b.png", title="ring", resolution=60)
    picture(out, min_size=(300, 300))
    from PIL import Image

    im = Image.open(out).convert("RGB")
    w, h = im.size
    # the centre of the data is red-ish (P(y=1) low), a corner of the plot area blue (P high)
    centre = im.getpixel((int(w * 0.42), h // 2))
    assert centre[0] > centre[2]


def test_panels_share_a_colourbar():
    x, y = data()
    fig = boundaries_figure([("a", ring), ("b", lambda p: 1 - ring(p)), ("c", ring)], x, y, columns=2, resolution=30)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible[:3]] == ["a", "b", "c"]
    assert len(visible) == 4  # three panels and the colourbar; the empty fourth cell is hidden
    assert visible[-1].get_ylabel() == "$P(y = 1)$"


def test_bad_inputs(tmp_path):
    x, y = data()
    with pytest.raises(ValueError, match="shape"):
        plot_boundary(ring, np.zeros((5, 3)), np.zeros(5), tmp_path / "b.png")
    with pytest.raises(ValueError, match="label"):
        plot_boundary(ring, x, y[:-1], tmp_path / "b.png")
    with pytest.raises(ValueError, match="loss"):
        probabilities(ring, x, loss="mse")


def test_width_sets_the_figure_and_its_panels():
    x, y = data(50)
    fig = boundaries_figure([("a", ring), ("b", ring), ("c", ring), ("d", ring)], x, y, columns=2, resolution=20,
                            width=10.5)
    assert fig.get_size_inches()[0] == pytest.approx(10.5)
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    # saved at 192 dpi for a 1015 px page column at 2x: each of the two panels a row gets well over 600 pixels
    assert all(ax.get_window_extent().width * 192 / fig.dpi > 600 for ax in panels)
    with pytest.raises(ValueError, match="width"):
        boundaries_figure([("a", ring)], x, y, width=1.0)
