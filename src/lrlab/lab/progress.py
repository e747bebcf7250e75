"""Progress of a study's runs: rich bars on stderr (one per run, one per stack), or none, or the user's own object
with the same `bar`/`stack` methods."""

from __future__ import annotations

import sys
from typing import Any


class _NoBar:
    def update(self, **_: Any) -> None:
        pass

    def done(self, status: str) -> None:
        pass


class _NoBars:
    def __enter__(self) -> _NoBars:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def bar(self, label: str, seed: int, epochs: int) -> _NoBar:
        return _NoBar()

    def stack(self, label: str, members: int, epochs: int) -> _NoBar:
        return _NoBar()


class RichBars:
    """Rich progress bars on stderr: one per run, with epoch, loss and lr.

    What `compare(progress=True)` shows; usable as a context manager (the display starts and stops with the block).
    Any object with the same `bar`/`stack` methods can be passed as `progress=` instead.

    Examples:
        >>> from lrlab.lab.progress import RichBars
        >>> bars = RichBars()
        >>> bar = bars.bar("cosine(0.1)", seed=0, epochs=3)
        >>> bar.update(epoch=1, loss=0.5, lr=0.1)
        >>> task = bars.progress.tasks[0]
        >>> task.description, task.completed, task.total
        ('cosine(0.1) seed 0', 1, 3)
    """

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[lr]}"),  # "lr 0.1" on a run's bar; none on a stack's (its runs' rates differ)
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True, width=None if sys.stderr.isatty() else 200),
        )
        self.stacks = 0  # the stacks shown so far: the second and later are numbered, "or3: stack of 8 (#2)"

    def __enter__(self) -> RichBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def bar(self, label: str, seed: int, epochs: int) -> _RichBar:
        """Add one run's bar and return it: `update(epoch, loss, lr)` moves it, `done(status)` ends it.

        The bar counts epochs; `done("stored")` (a run reused from the store) fills it at once.

        Args:
            label: the run's schedule label.
            seed: the run's seed (shown after the label).
            epochs: the run's epochs (the bar's length).

        Examples:
            >>> from lrlab.lab.progress import RichBars
            >>> bars = RichBars()
            >>> bar = bars.bar("constant(0.5)", seed=1, epochs=4)
            >>> bar.done("stored")
            >>> bars.progress.tasks[0].completed
            4
        """
        tid = self.progress.add_task(f"{label} seed {seed}", total=epochs, loss="-", lr="lr -", status="")
        return _RichBar(self.progress, tid, epochs)

    def stack(self, label: str, members: int, epochs: int) -> _RichStackBar:
        """One bar for a stack of runs: epoch, members done (of them diverged), best loss so far (no rate: the
        members' rates differ); the second and later stacks of a display are numbered.

        The stacked engine trains several runs as one model, so they share a bar; `update(epoch, done, diverged, best)`
        moves it, `done(status)` ends it.

        Args:
            label: what the bar is named by (the task's name).
            members: runs in the stack.
            epochs: the longest run's epochs (the bar's length).

        Examples:
            >>> from lrlab.lab.progress import RichBars
            >>> bars = RichBars()
            >>> bar = bars.stack("or3", members=4, epochs=3)
            >>> bars.progress.tasks[0].description
            'or3: stack of 4'
            >>> _ = bars.stack("or3", members=2, epochs=3)
            >>> bars.progress.tasks[1].description
            'or3: stack of 2 (#2)'
        """
        self.stacks += 1
        name = f"{label}: stack of {members}" + (f" (#{self.stacks})" if self.stacks > 1 else "")
        tid = self.progress.add_task(name, total=epochs, loss="-", lr="", status="")
        return _RichStackBar(self.progress, tid, members)


class _RichBar:
    def __init__(self, progress: Any, tid: Any, epochs: int) -> None:
        self.progress, self.tid, self.epochs = progress, tid, epochs

    def update(self, epoch: int, loss: float, lr: float) -> None:
        self.progress.update(self.tid, completed=epoch, loss=f"{loss:.4g}", lr=f"lr {lr:.3g}")

    def done(self, status: str) -> None:
        fields = {"status": status}
        if status == "stored":
            fields.update(completed=self.epochs)
        self.progress.update(self.tid, **fields)


class _RichStackBar:
    def __init__(self, progress: Any, tid: Any, members: int) -> None:
        self.progress, self.tid, self.members = progress, tid, members

    def update(self, epoch: int, done: int, diverged: int, best: float) -> None:
        self.progress.update(self.tid, completed=epoch, loss=f"best {best:.4g}", lr="",
                             status=f"{done}/{self.members} done, {diverged} diverged")

    def done(self, status: str) -> None:
        self.progress.update(self.tid, status=status)


def stack_bar(progress: Any, label: str, members: int, epochs: int) -> Any:
    """The progress object's bar for a stack (a progress object without `stack` shows none)."""
    make = getattr(progress, "stack", None)
    return _NoBar() if make is None else make(label, members, epochs)


def bars(progress: Any) -> Any:
    """The progress object for a study's `progress=` option: True (rich bars, when rich is there), False/None
    (none), or the object given (anything with `bar` and `stack` methods, used as a context manager)."""
    if progress is True:
        try:
            return RichBars()
        except ImportError:
            return _NoBars()
    if progress is None or progress is False:
        return _NoBars()
    return progress
