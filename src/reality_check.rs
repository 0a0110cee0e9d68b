//! TODO(owner issue): reality_check
