//! TODO(owner issue): migrate
