"""What a command writes: where (checked before any work, so a bad output path costs one line, not a run's time),
and the command line it records (its database URLs' passwords hidden)."""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path


def check_writable(option: str, path: str | os.PathLike[str], *, directory: bool) -> Path:
    """`path` as a Path when the command can write it (a file, or a folder when `directory`); otherwise a
    ValueError naming the option: a file where a folder is needed (or the other way), or a place that
    refuses writes.

    Writability is tested by creating (and removing) a temporary file in the nearest existing folder, so it
    also holds for root, whom permission bits do not stop, and for read-only file systems."""
    path = Path(path)
    where = f"{option} {str(path)!r}"
    if path.exists():
        if directory and not path.is_dir():
            raise ValueError(f"{where}: is a file, not a folder")
        if not directory and path.is_dir():
            raise ValueError(f"{where}: is a folder, not a file")
    folder = path if directory else path.parent
    existing = folder
    while not existing.exists():  # the nearest existing ancestor must be a folder that takes new files
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{where}: {str(existing)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{where}: cannot create a file in {str(existing)!r} ({reason})") from None
    if not directory and path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{where}: the file is read-only")
    return path


def command_line(argv: Sequence[str] | None) -> str | None:
    """The shell command `lrlab ARGV` as a report records it, every database URL in it shown by
    `lrlab.lab.store.display_name` (password hidden), also in the `--db=URL` form; None without argv.

    Args:
        argv: the command's arguments (what `lrlab.cli.main` was given).

    Examples:
        >>> from lrlab.cli.output import command_line
        >>> command_line(["compare", "or3", "cosine(0.5)", "--db", "postgresql://me:secret@db.example/runs"])
        "lrlab compare or3 'cosine(0.5)' --db 'postgresql://me:***@db.example/runs'"
        >>> command_line(["tune", "or3", "--storage=postgresql://me:secret@db.example/runs"])
        "lrlab tune or3 '--storage=postgresql://me:***@db.example/runs'"
    """
    if not argv:
        return None
    from ..lab.store import display_name

    def shown(arg: str) -> str:
        option, eq, value = arg.partition("=")
        if arg.startswith("-") and eq:
            return f"{option}={display_name(value)}"
        return display_name(arg)

    return "lrlab " + " ".join(shlex.quote(shown(a)) for a in argv)
