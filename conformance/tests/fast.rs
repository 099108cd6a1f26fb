//! The fast backend through the whole kit.

conformance::conformance_suite!(fast, pool_core::Builder::fast);
