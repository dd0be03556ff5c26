"""Writing files whole or not at all: write to a temporary file beside, then rename.

Files and folders get the permissions the user's umask gives (``tempfile`` alone would
make them private to the owner, 0600 and 0700, whatever the umask says).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["current_umask", "temporary_folder", "write_bytes", "write_csv", "write_text"]


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        status = Path("/proc/self/status").read_text()
        found = re.search(r"^Umask:\s*([0-7]+)", status, re.M)
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it and set it back
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as UTF-8 CSV (no index, LF line ends) atomically."""
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def temporary_folder(parent: Path, prefix: str) -> Path:
    """A new folder in ``parent`` with the permissions the umask gives a folder."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(folder, 0o777 & ~current_umask())
    return folder
