"""HTML report of an audit: one self-contained file with tables and embedded figures.

The report depends only on the result types of :mod:`miaudit.results` (and reads what a
defense is from its registered class); nothing in the pipeline is imported here.
"""

from miaudit.report._html import render_html, write_html
from miaudit.report.tradeoff import render_tradeoff_html, write_tradeoff_html

__all__ = ["render_html", "render_tradeoff_html", "write_html", "write_tradeoff_html"]
