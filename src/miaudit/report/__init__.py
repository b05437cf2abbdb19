"""HTML report of an audit: one self-contained file with tables and embedded figures."""

from miaudit.report._html import render_html

__all__ = ["render_html"]
