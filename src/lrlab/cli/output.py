"""Where a command writes: checked before any work, so a bad output path costs one line, not a run's time."""

from __future__ import annotations

import os
import tempfile
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
