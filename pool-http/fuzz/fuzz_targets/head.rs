//! Fuzzes the request-head parser: no panic on any input, every range inside the input, and a
//! parsed head needs no byte after its end (the same head comes from exactly its own bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pool_http::{Limits, parse_head};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_request_line: 512,
        max_header_bytes: 2048,
        max_headers: 32,
        max_body_bytes: 1 << 20,
    };
    let mut buf = data.to_vec();
    let mut spans = Vec::new();
    match parse_head(&mut buf, &limits, &mut spans) {
        Ok(Some(head)) => {
            assert!(head.len <= data.len());
            assert!(head.len - head.method.start <= limits.max_header_bytes + 2 * 512);
            assert!(head.method.end <= head.len && head.target.end <= head.len);
            assert!(!head.method.is_empty() && !head.target.is_empty());
            for (n, v) in &spans {
                assert!(n.end <= head.len && v.end <= head.len && !n.is_empty());
            }
            let mut own = buf[..head.len].to_vec();
            let again = parse_head(&mut own, &limits, &mut Vec::new());
            assert_eq!(again, Ok(Some(head)));
        }
        Ok(None) => assert!(data.len() <= limits.max_header_bytes + 2 * 512 + 4),
        Err(r) => assert!(r.status.is_client_error() || r.status.is_server_error()),
    }
});
