//! TODO(owner issue): service
