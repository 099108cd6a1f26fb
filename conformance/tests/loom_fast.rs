//! The loom models on the fast backend (`RUSTFLAGS="--cfg loom"`, see `conformance/loom.sh`).
#![cfg(all(loom, feature = "fast"))]

conformance::loom_suite!(pool_core::Builder::fast);
