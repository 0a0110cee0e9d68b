//! TODO(owner issue): cache
