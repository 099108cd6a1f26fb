//! The classic backend through the whole kit.

conformance::conformance_suite!(classic, pool_core::Builder::classic);
