"""Type stubs for the Rust extension ``crypto_analyzer_promotion._core``.

Each part of the engine keeps its stubs in its own section below.
"""

from typing import Any, Callable, Optional, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

# ---------------------------------------------------------------------------
# section: store and migrations (issue 3)
# ---------------------------------------------------------------------------

# end section: store

# ---------------------------------------------------------------------------
# section: gating, evidence, service (issue 4)
# ---------------------------------------------------------------------------

# end section: gating

# ---------------------------------------------------------------------------
# section: reality check and cache (issue 5)
# ---------------------------------------------------------------------------

# end section: rc

# ---------------------------------------------------------------------------
# section: reliability test hooks (issue 7) — hidden, for tests only
# ---------------------------------------------------------------------------

def _debug_raise(kind: str) -> None: ...
def _debug_kinds() -> list[str]: ...

# end section: reliability
