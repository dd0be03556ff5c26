"""How result objects show themselves in a notebook and at the REPL.

``summary()`` returns a :class:`SummaryText`: a ``str`` that displays as its text (not as
a quoted string full of ``\\n``) and as a ``<pre>`` block in a notebook. Result objects
get ``_repr_html_`` from :class:`RichDisplay` (a heading line and their tidy tables), or
build the same HTML with :func:`result_html`.

Only the standard library is imported here, so that ``import ipdmeta`` stays fast and the
numerical packages stay free of templating; tables are rendered by pandas' ``to_html``
(escaped), pandas being imported by the caller already.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_ROWS",
    "ResultDisplay",
    "RichDisplay",
    "SummaryText",
    "format_float",
    "frame_html",
    "odds_ratio_text",
    "pre_html",
    "result_html",
]


def odds_ratio_text(value: float) -> str:
    """An odds ratio as summaries and sentences show it. Past 10,000 it is a factor under
    separation, whose estimate runs off towards infinity and stops where the fit did:
    shown as "more than 10,000", not as those digits."""
    if math.isnan(value) or value > _ODDS_RATIO_SHOWN:
        return "more than 10,000"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


_ODDS_RATIO_SHOWN = 1e4

# Rows shown per HTML table: a longer table (a batch of thousands of simulated
# meta-analyses, a bootstrap) shows its first and last rows with "..." between.
MAX_ROWS = 60

# A table is a caption (None for none) and a DataFrame.
Table = tuple[str | None, "pd.DataFrame"]


class SummaryText(str):
    """The text of a ``summary()``: a ``str`` in every way, shown as text.

    ``repr()`` is the text itself, so that the REPL and a notebook print the summary
    rather than a quoted string with ``\\n``; ``_repr_html_`` is the text in ``<pre>``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # IPython's plain-text display; without this it would use str's quoting printer.
        for i, line in enumerate(self.splitlines()):
            if i:
                p.break_()
            p.text(line)

    def _repr_html_(self) -> str:
        return pre_html(self)


def pre_html(text: str) -> str:
    """``text`` escaped, in a ``<pre>`` block."""
    return f'<pre class="ipdmeta-summary">{html.escape(str(text))}</pre>'


def format_float(x: float) -> str:
    """A float as the HTML tables show it: 4 decimals, scientific when tiny or huge."""
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return f"{x:.4f}"
    return f"{x:.3e}"


def frame_html(frame: pd.DataFrame, index: bool | None = None) -> str:
    """``frame`` as an escaped HTML table; the index is shown when it is not 0..n-1."""
    if index is None:
        import pandas as pd

        index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    return frame.to_html(
        index=index,
        float_format=format_float,
        na_rep="NA",
        max_rows=MAX_ROWS,
        escape=True,
    )


def result_html(
    title: str,
    tables: Sequence[Table] = (),
    notes: Sequence[str] = (),
    text: str | None = None,
) -> str:
    """A result as HTML: a heading line, note lines, tables, and optionally text in ``<pre>``.

    Everything is escaped: labels may hold any characters.
    """
    parts = ['<div class="ipdmeta-result">', f"<p><strong>{html.escape(title)}</strong></p>"]
    parts += [f"<p>{html.escape(note)}</p>" for note in notes]
    for caption, frame in tables:
        if caption:
            parts.append(f"<p>{html.escape(caption)}</p>")
        parts.append(frame_html(frame))
    if text is not None:
        parts.append(pre_html(text))
    parts.append("</div>")
    return "\n".join(parts)


class RichDisplay:
    """Mixin: ``_repr_html_`` for a result with ``summary()`` and usually ``to_frame()``.

    A class says what to show by overriding ``_display_title`` (default: the first line of
    ``summary()``), ``_display_tables`` (default: ``to_frame()``) and ``_display_notes``
    (default: none). Without tables the summary text is shown in ``<pre>``.
    """

    __slots__ = ()

    def _summary_text(self) -> str:
        summary = getattr(self, "summary", None)
        return str(summary()) if callable(summary) else type(self).__name__

    def _display_title(self) -> str:
        return self._summary_text().partition("\n")[0]

    def _display_tables(self) -> list[Table]:
        to_frame = getattr(self, "to_frame", None)
        return [(None, to_frame())] if callable(to_frame) else []

    def _display_notes(self) -> list[str]:
        return []

    def __repr__(self) -> str:
        # One line; a dataclass's own repr would print every array and table it holds.
        return f"<{type(self).__name__}: {self._display_title()}>"

    def _repr_html_(self) -> str:
        tables = self._display_tables()
        text = None if tables else self._summary_text()
        return result_html(self._display_title(), tables, self._display_notes(), text)


class ResultDisplay(RichDisplay):
    """Mixin for the review's composite results, which have no ``summary()``: their
    title is their own (declare them with ``repr=False`` for the one-line repr)."""

    __slots__ = ()

    def _summary_text(self) -> str:
        return self._display_title()
