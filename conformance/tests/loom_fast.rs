//! The loom models on the fast backend (`RUSTFLAGS="--cfg loom"`, see `conformance/loom.sh`).
#![cfg(loom)]

conformance::loom_suite!(pool_core::Builder::fast);
