//! Prints the full `explain` output (record, normalisation, every rule considered) of a corpus
//! of requests as JSON lines, to show that a change to matching or compiling changes no
//! answer: run it on the trees before and after and compare the outputs byte for byte.
//!
//! ```sh
//! cargo run -p cavra-engine --example explain_corpus -- CORPUS.txt TESTFILE.yaml… > out.jsonl
//! ```
//!
//! - every line of `CORPUS.txt` is judged under the built-in packs, once as a command line and
//!   once as a file read and a file write;
//! - every case of each policy test file (the conformance format) is judged under its policy;
//! - every embedded test of each built-in pack is judged under that pack.

use cavra_engine::testing::case_request;
use cavra_engine::{ActionType, Env, NoSymlinks, Request, explain};
use cavra_policy::builtin::builtin_packs;
use cavra_policy::testfile::parse_test_file;
use cavra_policy::{CompiledPack, compile, load_pack};
use std::path::Path;

fn pack(reference: &str) -> CompiledPack {
    let resolved = load_pack(reference, Path::new(".")).expect("the pack loads");
    compile(&resolved).expect("the pack compiles")
}

fn print(label: &str, pack: &CompiledPack, request: &Request) {
    let env = Env {
        timestamp: "1970-01-01T00:00:00Z",
        decision_id: "corpus",
        resolver: &NoSymlinks,
    };
    let explanation = explain(pack, request, &env);
    let line = serde_json::json!({ "case": label, "explanation": explanation });
    println!("{line}");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let corpus = args
        .next()
        .expect("usage: explain_corpus CORPUS.txt TESTFILE.yaml…");
    let text = std::fs::read_to_string(&corpus).expect("the corpus reads");
    let packs: Vec<(String, CompiledPack)> = builtin_packs()
        .iter()
        .map(|p| (p.id.to_string(), pack(p.id)))
        .collect();
    for line in text.lines().filter(|l| !l.is_empty()) {
        for (id, pack) in &packs {
            for action in [
                ActionType::ExecuteCommand,
                ActionType::ReadFile,
                ActionType::WriteFile,
            ] {
                let mut request = Request::new(action, line);
                request.repo_root = Some("/home/dev/repo".into());
                print(&format!("{id} {action} {line:?}"), pack, &request);
            }
        }
    }
    for file in args {
        let text = std::fs::read_to_string(&file).expect("the test file reads");
        let tests = parse_test_file(&text, &file).expect("the test file parses");
        let base = Path::new(&file).parent().unwrap_or(Path::new("."));
        let pack = compile(&tests.resolve_policy(base).expect("its policy loads"))
            .expect("its policy compiles");
        for case in &tests.cases {
            match case_request(&tests.defaults, case) {
                Ok(request) => print(&format!("{file} {}", case.name), &pack, &request),
                Err(e) => println!("{file} {}: {e}", case.name),
            }
        }
    }
    for (id, pack) in &packs {
        for case in &pack.document.tests {
            match case_request(&serde_json::Map::new(), case) {
                Ok(request) => print(&format!("{id} {}", case.name), pack, &request),
                Err(e) => println!("{id} {}: {e}", case.name),
            }
        }
    }
}
