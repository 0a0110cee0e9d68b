"""Streamlit Promotion page for the analyzer's app.

``render_promotion_page(db_path=None)`` draws the page; ``streamlit run`` on
``crypto_analyzer_promotion/app.py`` shows it alone. Streamlit is imported only when the page is
drawn. What the page shares with the CLI lives in :mod:`crypto_analyzer_promotion._views`.
"""

from __future__ import annotations


def render_promotion_page(db_path: str | None = None) -> None:
    """Draw the Promotion page (see :mod:`crypto_analyzer_promotion.ui.page`)."""
    from .page import render_promotion_page as _render

    _render(db_path)


__all__ = ["render_promotion_page"]
