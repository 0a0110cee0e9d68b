"""``python -m crypto_analyzer_promotion``: the promotion CLI (see :mod:`crypto_analyzer_promotion.cli`)."""

from .cli import main

raise SystemExit(main())
