//! TODO(owner issue): evidence
