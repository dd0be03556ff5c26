"""Render the self-contained HTML report (inline CSS and SVG figures, no network)."""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from ipdmeta._display import odds_ratio_text

__all__ = ["render_report"]


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isinf(value):  # an odds ratio under separation, or its interval's limit
            return "∞" if value > 0 else "-∞"
        return f"{value:,.{digits}f}"
    return str(value)


def pvalue(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def p_equals(value: Any) -> str:
    """ "p = 0.030" or "p < 0.001", for running text."""
    text = pvalue(value)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def percent(value: Any, digits: int = 1) -> str:
    return fmt(100 * value, digits) + " %" if isinstance(value, float) else fmt(value)


def table(frame: pd.DataFrame, digits: int = 2, pcols: tuple[str, ...] = ("pvalue",)) -> Markup:
    """A DataFrame as an HTML table: p-values as p, numbers rounded, text escaped."""
    head = "".join(f"<th>{jinja2.filters.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            text = (
                pvalue(value)
                if column in pcols or column.startswith("pvalue")
                else fmt(value, digits)
            )
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(f"<td{' class=num' if numeric else ''}>{jinja2.filters.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The compiled template, kept between runs in the user's cache folder: compiling it
    takes about 0.15 s of every run otherwise. Jinja checks each entry against the
    template's source and its own version, and writes entries atomically; without a
    writable cache folder, the template is compiled each time."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "ipdmeta", "report-templates")  # this environment's only
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(folder) if os.access(folder, os.W_OK) else None


@functools.cache
def report_template() -> jinja2.Template:
    """The report's template, loaded once per process (from its compiled cache)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ipdmeta.report", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        fmt=fmt,
        pvalue=pvalue,
        p_equals=p_equals,
        percent=percent,
        table=table,
        odds_ratio=odds_ratio_text,
    )
    return environment.get_template("report.html.j2")


def render_report(context: dict[str, Any]) -> str:
    return report_template().render(**context)
