//! Fuzzes the hook server's wire format: the server decodes requests from a socket and the
//! client decodes replies; arbitrary bytes must decode or fail, never panic, and whatever
//! decodes must encode back to a frame that decodes to the same value.
#![no_main]

use cavra_hook_wire::wire::{read_frame, Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        let frame = request.encode();
        let body = read_frame(&mut &frame[..]).expect("own frame");
        assert_eq!(Request::decode(&body).ok(), Some(request));
    }
    if let Ok(reply) = Reply::decode(data) {
        let frame = reply.encode();
        let body = read_frame(&mut &frame[..]).expect("own frame");
        assert_eq!(Reply::decode(&body).ok(), Some(reply));
    }
    let _ = read_frame(&mut &data[..]);
});
