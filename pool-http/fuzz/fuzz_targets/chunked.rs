//! Fuzzes the chunked decoder: no panic, and decoding in two pieces through a tiny output
//! buffer gives exactly what decoding in one piece gives (the same data, or an error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pool_http::ChunkedDecoder;

/// Feeds `input` in pieces of `step` bytes through an output buffer of `out` bytes.
fn decode(input: &[u8], step: usize, out: usize) -> Result<(Vec<u8>, usize, bool), ()> {
    let mut d = ChunkedDecoder::new(1 << 16);
    let mut data = Vec::new();
    let mut buf = vec![0u8; out];
    let mut at = 0;
    while at < input.len() && !d.is_done() {
        let end = (at + step).min(input.len());
        let (used, produced) = d.decode(&input[at..end], &mut buf).map_err(|_| ())?;
        data.extend_from_slice(&buf[..produced]);
        at += used;
        if used == 0 && produced == 0 && end == input.len() {
            break;
        }
    }
    // `total` counts each chunk from its size line on; what came out never exceeds it, and
    // equals it once the body is done.
    assert!(data.len() as u64 <= d.total());
    if d.is_done() {
        assert_eq!(d.total(), data.len() as u64);
    }
    Ok((data, at, d.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let whole = decode(input, input.len().max(1), 1 << 16);
    let pieces = decode(input, usize::from(first % 7) + 1, usize::from(first % 5) + 1);
    assert_eq!(whole, pieces);
});
