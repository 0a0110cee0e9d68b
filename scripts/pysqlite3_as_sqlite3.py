"""Test support: make `import sqlite3` return pysqlite3 (its own SQLite copy) in this process.

`make test-wheel` / `make test-pip-pysqlite3` copy this file into a test virtualenv's
site-packages with a `.pth` line importing it, so every interpreter of that venv (pytest and the
worker processes it starts) runs it at startup. It acts only when the environment variable
CRYPTO_ANALYZER_TEST_SQLITE3=pysqlite3 is set, and fails loudly when pysqlite3 is missing.
"""

import os
import sys

if os.environ.get("CRYPTO_ANALYZER_TEST_SQLITE3") == "pysqlite3":
    import pysqlite3
    import pysqlite3.dbapi2

    sys.modules["sqlite3"] = pysqlite3
    sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2
