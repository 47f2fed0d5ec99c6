//! Compresses the OpenAPI document the service embeds (`openapi.json`, 0.1 MB of JSON) into
//! `OUT_DIR`: the static binary carries 14 KB instead (src/openapi.rs).

use std::io::Write;

fn main() {
    println!("cargo:rerun-if-changed=openapi.json");
    let text = std::fs::read("openapi.json").expect("openapi.json beside Cargo.toml");
    // The gzip header's time is 0: the same document gives the same bytes (reproducible builds).
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&text).expect("compressing in memory");
    let bytes = gz.finish().expect("compressing in memory");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("openapi.json.gz"), bytes).expect("writing into OUT_DIR");
}
