//! The contract suite (`tests/support/contract.rs`) run against the fast backend.

mod support;

contract_suite!(|b: pool_core::Builder| b.fast().unwrap());
