"""Small helpers the benchmark scripts share (they run as scripts, so this folder is on
their path)."""

from __future__ import annotations


def available(module: str) -> bool:
    """Whether ``module`` can be imported (a peer that is not installed gets no column)."""
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def fmt(seconds: float | None) -> str:
    """Seconds as the tables print them: milliseconds below 1 s."""
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"
