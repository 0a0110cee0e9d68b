//! TODO(owner issue): json
