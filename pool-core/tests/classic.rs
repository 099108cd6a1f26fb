//! The contract suite (`tests/support/contract.rs`) run against the classic backend.

mod support;

contract_suite!(|b: pool_core::Builder| b.classic().unwrap());
