//! Fuzzes the knowledge-base loader (a pack's `knowledge:` section, a knowledge file): any text
//! is either refused with an error or loads into entries that pass their own checks, and every
//! loaded entry applies to a command line using its program without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(section) = cavra_policy::parse_knowledge(text, "fuzz.yaml") else {
        return;
    };
    for e in &section.programs {
        assert_eq!(e.check(), Ok(()), "{}", e.describe());
    }
    for e in &section.environment {
        assert_eq!(e.check(), Ok(()), "{}", e.describe());
    }
    let kb = section.compile("fuzz.yaml");
    let limits = cavra_shell::Limits::default();
    for e in section.environment.iter().take(8) {
        for name in e.names.iter().take(4) {
            let var = name.replace('*', "X");
            let line = format!("{var}='rm -rf x' git status; export {var}=\"$(id)\"; env {var}=v ls");
            let _ = cavra_shell::analyze_with_knowledge(&line, &limits, &kb);
        }
    }
    for e in kb.pack_entries().iter().take(8) {
        let sub = e.subcommands.first().map(|s| s.as_ref()).unwrap_or("");
        for opt in e.options.iter().take(4) {
            for name in opt.names.iter().take(2) {
                let line = format!("{} {sub} {name} 'rm -rf x' ; a b -- c", e.program);
                let _ = cavra_shell::analyze_with_knowledge(&line, &limits, &kb);
                let cut: String = name.chars().take(3).collect();
                let line = format!("{} {sub} {cut}=v -x y z", e.program);
                let _ = cavra_shell::analyze_with_knowledge(&line, &limits, &kb);
            }
        }
        let line = format!("{} {sub} a b c", e.program);
        let _ = cavra_shell::analyze_with_knowledge(&line, &limits, &kb);
    }
});
