"""The gallery's demos with tiny epoch counts (the pictures and the printed lines), and the CLI commands."""

import numpy as np
import pytest

from lrlab.viz.gallery import DEMOS, run_demo


def test_descent_trace_is_the_trainers_and_the_seeds():
    from lrlab.viz.animate import trace
    from lrlab.viz.gallery import DESCENT_SEED, DESCENT_SPECS

    tr = trace(DESCENT_SPECS[1], 20)
    assert len(tr.weights) == 21 and np.isnan(tr.lrs[0])
    assert list(tr.lrs[1:6]) == [0.025] * 5 and tr.lrs[6] == 0.0125 and tr.lrs[20] == 0.00625
    # gradient descent written out by hand gives the same weights as the trainer's callback
    a = tr.weights[0]
    for k in range(20):
        a = a - tr.lrs[k + 1] * tr.gradient(a)
        assert a == pytest.approx(tr.weights[k + 1], abs=1e-12)
    for k, (loss, weight) in DESCENT_SEED[DESCENT_SPECS[1]].items():
        assert tr.weights[k] == pytest.approx(weight, abs=1e-9)
        assert tr.losses[k] == pytest.approx(loss, abs=1e-9)


@pytest.mark.parametrize("name,epochs,files", [
    ("descent", 3, {"descent.gif": 4}),
    ("keras-schedules", 6, {"keras-schedules.png": None}),
    ("decay-formulas", None, {"decay-formulas.png": None}),
    ("lr-too-big-small", 2, {"lr-too-big-small-boundaries.png": None, "lr-too-big-small-curves.png": None}),
])
def test_demo_pictures(tmp_path, picture, name, epochs, files):
    lines = []
    paths = run_demo(name, tmp_path, say=lines.append, epochs=epochs)
    assert sorted(p.name for p in paths) == sorted(files)
    for path in paths:
        picture(path, min_size=(500, 300), frames=files[path.name])
    assert lines and lines[0].startswith(name)


def test_mnist_stand_in(tmp_path, picture):
    from lrlab.viz.gallery import mnist

    lines = []
    paths = mnist(tmp_path, lines.append, 1, stand_in=True)
    assert [p.name for p in paths] == ["digits-exponential-decay.png"]
    picture(paths[0], min_size=(600, 250))
    assert "stand-in" in lines[0] and "test accuracy" in lines[1]


def test_unknown_demo(tmp_path):
    with pytest.raises(ValueError, match="unknown demo"):
        run_demo("mnist2", tmp_path)
    assert set(DEMOS) == {"descent", "keras-schedules", "decay-formulas", "lr-too-big-small", "mnist"}


def test_cli_animate(tmp_path, capsys, picture, monkeypatch):
    from lrlab.cli import main

    out = tmp_path / "d.gif"
    assert main(["animate", "line", "constant(0.025)", "cosine(0.03)", "--epochs", "3", "-o", str(out)]) == 0
    picture(out, min_size=(500, 300), frames=4)
    printed = capsys.readouterr().out
    assert "constant(0.025): 3 updates" in printed and "wrote" in printed
    assert main(["animate", "quantiles", "constant(0.1)", "-o", str(tmp_path / "q.gif")]) == 2
    assert "line" in capsys.readouterr().err
    assert main(["animate", "line", "constant(0.1)", "-o", str(tmp_path / "q.png")]) == 2
    assert main(["animate", "line", "nonsense(1)", "-o", str(tmp_path / "q.gif")]) == 2
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["animate", "line", "constant(0.1)", "-o", str(tmp_path / "q.mp4")]) == 2
    assert "ffmpeg" in capsys.readouterr().err


def test_cli_demo(tmp_path, capsys, picture):
    from lrlab.cli import main

    assert main(["demo", "decay-formulas", "--out", str(tmp_path)]) == 0
    picture(tmp_path / "decay-formulas.png")
    assert str(tmp_path / "decay-formulas.png") in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["demo", "bogus"])
    assert exc.value.code == 2


def test_cli_stays_light():
    import subprocess
    import sys

    code = ("import sys, lrlab.cli as c; c.build_parser(); c.main(['list']); "
            "heavy = [m for m in ('matplotlib', 'torch', 'PIL', 'pandas') if m in sys.modules]; "
            "sys.exit(1 if heavy else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
