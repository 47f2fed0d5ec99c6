//! Fuzzes the shell analysis: it must never panic, hang or blow up on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let analysis = cavra_shell::analyze(&text);
    // Indices handed to the engine must point into `commands`.
    for f in &analysis.file_accesses {
        assert!(f.command_index < analysis.commands.len());
    }
    for p in &analysis.git_pushes {
        assert!(p.command_index < analysis.commands.len());
    }
    for c in &analysis.commands {
        assert_eq!(c.variants.first(), Some(&c.canonical));
    }
});
