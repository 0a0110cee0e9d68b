//! TODO(owner issue): store
