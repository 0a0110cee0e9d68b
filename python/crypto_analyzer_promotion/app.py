"""Stand-alone Promotion page: ``streamlit run python/crypto_analyzer_promotion/app.py``.

The database defaults to ``$CRYPTO_ANALYZER_DB_PATH`` (else ``reports/crypto_analyzer.db``) and
can be changed in the sidebar.
"""

from __future__ import annotations

import streamlit as st

from crypto_analyzer_promotion.ui import render_promotion_page

st.set_page_config(page_title="Promotion · crypto analyzer", page_icon="🧪", layout="wide")
render_promotion_page()
