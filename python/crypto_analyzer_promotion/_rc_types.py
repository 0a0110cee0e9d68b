"""The names the Reality Check engine accepts, as ``Literal`` types (the Rust core parses them
once at the boundary and raises ``InvalidInputError`` for any other value)."""

from __future__ import annotations

from typing import Literal

MethodName = Literal["stationary", "block_fixed"]
RngName = Literal["default", "numpy_legacy", "numpy_pcg64"]
NullCenteringName = Literal["recentred", "recentered", "none"]
KernelName = Literal["prefix", "prefix_scalar", "gather"]
PrefixModeName = Literal["auto", "stored", "streamed"]
NullScaleName = Literal["variance_share", "none"]

__all__ = ["MethodName", "RngName", "NullCenteringName", "KernelName", "PrefixModeName", "NullScaleName"]
