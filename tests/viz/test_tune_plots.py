"""The tune pictures (rates.png, best_curves.png) stay legible where the tune report shows them: a 700 px window."""

import pytest

optuna = pytest.importorskip("optuna")

from lrlab.viz import tune_plots  # noqa: E402

COLUMN_AT_700 = 668  # CSS px: the report's body at a 700 px window (700 less its 1em padding each side)


def _study():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name="or3")
    specs = ["cosine(0.05)", "one_cycle(0.3, pct_start=0.25)", "warmup(cosine(0.02), steps=15)", "constant(0.1)",
             "cosine(0.5)", "wsd(0.2)"]
    for i, spec in enumerate(specs):
        trial = study.ask()
        trial.set_user_attr("spec", spec)
        for epoch in range(1, 6):
            trial.report(0.5 + 0.05 * epoch + 0.01 * i, epoch)
        if i == 5:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, 0.75 + 0.01 * i)
    return study


@pytest.mark.parametrize("plot", ["plot_rates", "plot_best_curves"])
def test_the_smallest_text_stays_9px_in_a_700px_window(tmp_path, monkeypatch, plot):
    from matplotlib.text import Text

    drawn = []

    def keep(fig, path, dpi=None):
        drawn.append((fig, dpi or fig.dpi))
        return path

    monkeypatch.setattr(tune_plots, "save", keep)
    getattr(tune_plots, plot)(_study(), tmp_path / "x.png")
    ((fig, dpi),) = drawn
    fig.canvas.draw()
    width = fig.get_size_inches()[0] * dpi
    smallest = min(t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip())
    shown = smallest * dpi / 72 * min(1.0, COLUMN_AT_700 / width)  # an image wider than the column is shrunk to it
    assert shown >= 9.0, f"{plot}: {smallest} pt text shown at {shown:.1f} px"
    assert fig.legends or any(ax.get_legend() for ax in fig.axes)
