//! The fast backend through the whole kit (feature `fast`: experimental, not yet conformant).
#![cfg(feature = "fast")]

conformance::conformance_suite!(fast, pool_core::Builder::fast);
