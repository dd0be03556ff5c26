"""The report: figures, results.json, tables and the self-contained HTML page."""

from ipdmeta.report.build import run, write_report

__all__ = ["run", "write_report"]
