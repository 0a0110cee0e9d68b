//! TODO(owner issue): gating
