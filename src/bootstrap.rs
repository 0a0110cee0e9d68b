//! TODO(owner issue): bootstrap
