//! Fuzzes the network destination normaliser: it must never panic on any text, its output is
//! a fixed point (normalising a normal host gives the same host), and fetcher option parsing
//! never panics on any argument list.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(host) = cavra_shell::destination_host(&text) {
        assert!(!host.is_empty());
        assert!(!host.ends_with('.'), "{host:?}");
        // A host in normal form names itself (IPv6 needs its brackets back to be a host).
        let again = if host.contains(':') {
            cavra_shell::destination_host(&format!("[{host}]"))
        } else {
            cavra_shell::destination_host(&host)
        };
        if let Some(again) = again {
            assert_eq!(again, host);
        }
    }
    let args: Vec<&str> = text.split(' ').collect();
    for program in ["curl", "wget"] {
        for host in cavra_shell::fetcher_destinations(program, &args) {
            assert!(!host.is_empty());
        }
    }
});
