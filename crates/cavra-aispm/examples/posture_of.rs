//! The posture of a bundle folder's entries, timed: `cargo run --release -p cavra-aispm
//! --example posture_of -- DIR` prints the entries read, the score and the time the fold took
//! (reading `DIR/entries.jsonl` included). With `synthetic_log` it is the benchmark of
//! docs/benchmarks.md.

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: posture_of DIR");
        std::process::exit(2);
    };
    let started = std::time::Instant::now();
    match cavra_aispm::posture_from_bundle(std::path::Path::new(&dir)) {
        Ok(p) => println!(
            "{} entries, score {:?}, {:.3} s",
            p.covers.entries,
            p.score,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
