"""``python -m crypto_analyzer_promotion``: the promotion CLI (see :mod:`crypto_analyzer_promotion.cli`)."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
