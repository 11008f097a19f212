//! The IPVS sync v1 codec: `decode` of arbitrary bytes with syncid 0 (any) and 7 must not panic
//! and must leave nothing on error; what decodes re-encodes into one message that decodes to
//! the same connections.
#![no_main]

use dataplane::sync::wire::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut conns = Vec::new();
    let mut again = Vec::new();
    let mut back = Vec::new();
    for syncid in [0, 7] {
        if decode(data, syncid, &mut conns).is_err() {
            assert!(conns.is_empty(), "an error leaves nothing");
            continue;
        }
        let ours = if syncid == 0 { data[1] } else { syncid };
        let n = encode(ours, &conns, u16::MAX.into(), &mut again);
        if conns.is_empty() {
            assert_eq!(n, 0);
            continue;
        }
        assert_eq!(n, conns.len(), "what decoded fits one message again");
        decode(&again, syncid, &mut back).expect("an encoded message decodes");
        assert_eq!(back, conns, "round trip");
    }
});
