//! A CycloneDX 1.5 SBOM (JSON) of what a binary links: the crates reachable by normal (not dev,
//! not build) dependencies from the released package, read from `cargo metadata` (resolved for
//! the target platform, `--locked`), with each registry crate's SHA-256 from `Cargo.lock`.
//!
//! It is deterministic: components sorted by reference, the serial number derived from the
//! content, and the timestamp taken from the caller (the release commit's time), never the
//! clock.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::ReleaseError;

/// The CycloneDX specification version written.
pub const SPEC_VERSION: &str = "1.5";

fn input(e: impl std::fmt::Display) -> ReleaseError {
    ReleaseError::Input(format!("cargo metadata: {e}"))
}

/// `name@version` → the registry checksum, from `Cargo.lock`'s `[[package]]` tables.
pub fn lock_checksums(lock: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (mut name, mut version, mut checksum) = (None, None, None);
    let mut flush =
        |name: &mut Option<String>, version: &mut Option<String>, checksum: &mut Option<String>| {
            if let (Some(n), Some(v), Some(c)) = (name.take(), version.take(), checksum.take()) {
                out.insert(format!("{n}@{v}"), c);
            }
            *name = None;
            *version = None;
            *checksum = None;
        };
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            flush(&mut name, &mut version, &mut checksum);
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        let value = value.trim_matches('"').to_string();
        match key {
            "name" => name = Some(value),
            "version" => version = Some(value),
            "checksum" => checksum = Some(value),
            _ => {}
        }
    }
    flush(&mut name, &mut version, &mut checksum);
    out
}

fn purl(name: &str, version: &str) -> String {
    format!("pkg:cargo/{name}@{version}")
}

/// A UUID (version 4 layout) derived from `bytes`, so the same content gets the same serial.
fn content_uuid(bytes: &[u8]) -> String {
    let h = crate::sha256_hex(bytes);
    let mut b: Vec<u8> = hex::decode(&h[..32]).unwrap_or_else(|_| vec![0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The SBOM of package `root` (as named in the workspace), from `cargo metadata` JSON and the
/// `Cargo.lock` text, dated `timestamp` (RFC 3339).
pub fn cyclonedx(
    metadata: &[u8],
    lock: &str,
    root: &str,
    timestamp: &str,
) -> Result<Value, ReleaseError> {
    let meta: Value = serde_json::from_slice(metadata).map_err(input)?;
    let packages = meta["packages"]
        .as_array()
        .ok_or_else(|| input("no packages"))?;
    let by_id: BTreeMap<&str, &Value> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let root_id = packages
        .iter()
        .find(|p| p["name"] == root && p["source"].is_null())
        .and_then(|p| p["id"].as_str())
        .ok_or_else(|| input(format!("no workspace package {root:?}")))?;
    let nodes = meta["resolve"]["nodes"]
        .as_array()
        .ok_or_else(|| input("no resolve graph (run it without --no-deps)"))?;
    // Normal dependencies only: what ends up linked into the binary.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for n in nodes {
        let Some(id) = n["id"].as_str() else { continue };
        let deps = n["deps"].as_array().map(Vec::as_slice).unwrap_or_default();
        let normal = deps.iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k["kind"].is_null()))
        });
        edges
            .entry(id)
            .or_default()
            .extend(normal.filter_map(|d| d["pkg"].as_str()));
    }
    let mut reached: BTreeSet<&str> = BTreeSet::new();
    let mut todo = vec![root_id];
    while let Some(id) = todo.pop() {
        if reached.insert(id) {
            todo.extend(edges.get(id).into_iter().flatten().copied());
        }
    }
    let sums = lock_checksums(lock);
    let reference = |id: &str| -> Result<String, ReleaseError> {
        let p = by_id
            .get(id)
            .ok_or_else(|| input(format!("the graph names an unknown package {id}")))?;
        Ok(purl(
            p["name"].as_str().unwrap_or_default(),
            p["version"].as_str().unwrap_or_default(),
        ))
    };
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    for id in &reached {
        let p = by_id[id];
        let (name, version) = (
            p["name"].as_str().unwrap_or_default(),
            p["version"].as_str().unwrap_or_default(),
        );
        let mut depends: Vec<String> = edges
            .get(id)
            .into_iter()
            .flatten()
            .map(|d| reference(d))
            .collect::<Result<_, _>>()?;
        depends.sort();
        depends.dedup();
        dependencies.push(json!({"ref": purl(name, version), "dependsOn": depends}));
        if *id == root_id {
            continue;
        }
        let mut c = json!({
            "type": "library",
            "bom-ref": purl(name, version),
            "name": name,
            "version": version,
            "purl": purl(name, version),
        });
        if let Some(l) = p["license"].as_str() {
            c["licenses"] = json!([{"expression": l}]);
        }
        if let Some(sum) = sums.get(&format!("{name}@{version}")) {
            c["hashes"] = json!([{"alg": "SHA-256", "content": sum}]);
        }
        components.push(c);
    }
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    dependencies.sort_by(|a, b| a["ref"].as_str().cmp(&b["ref"].as_str()));
    let root_pkg = by_id[root_id];
    let (name, version) = (
        root_pkg["name"].as_str().unwrap_or_default(),
        root_pkg["version"].as_str().unwrap_or_default(),
    );
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "cavra release archive"}]},
            "component": {
                "type": "application",
                "bom-ref": purl(name, version),
                "name": name,
                "version": version,
                "purl": purl(name, version),
                "licenses": root_pkg["license"].as_str().map(|l| json!([{"expression": l}])).unwrap_or(json!([])),
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    let serial = content_uuid(bom.to_string().as_bytes());
    bom["serialNumber"] = json!(format!("urn:uuid:{serial}"));
    Ok(bom)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["lib"]

[[package]]
name = "lib"
version = "1.2.3"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aaaa"

[[package]]
name = "testonly"
version = "0.9.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "bbbb"
"#;

    fn metadata() -> Vec<u8> {
        json!({
            "packages": [
                {"id": "app-id", "name": "app", "version": "0.1.0", "source": null, "license": "Apache-2.0"},
                {"id": "lib-id", "name": "lib", "version": "1.2.3", "source": "registry+x", "license": "MIT OR Apache-2.0"},
                {"id": "t-id", "name": "testonly", "version": "0.9.0", "source": "registry+x", "license": "MIT"},
            ],
            "resolve": {"nodes": [
                {"id": "app-id", "deps": [
                    {"pkg": "lib-id", "dep_kinds": [{"kind": null}]},
                    {"pkg": "t-id", "dep_kinds": [{"kind": "dev"}]},
                ]},
                {"id": "lib-id", "deps": []},
                {"id": "t-id", "deps": []},
            ]}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn normal_dependencies_with_their_lock_checksums() {
        let bom = cyclonedx(&metadata(), LOCK, "app", "2026-01-01T00:00:00Z").unwrap();
        let comps = bom["components"].as_array().unwrap();
        assert_eq!(comps.len(), 1, "{bom}");
        assert_eq!(comps[0]["purl"], "pkg:cargo/lib@1.2.3");
        assert_eq!(comps[0]["hashes"][0]["content"], "aaaa");
        assert_eq!(comps[0]["licenses"][0]["expression"], "MIT OR Apache-2.0");
        assert_eq!(bom["metadata"]["component"]["name"], "app");
        assert_eq!(
            bom["dependencies"][0]["dependsOn"],
            json!(["pkg:cargo/lib@1.2.3"])
        );
        let again = cyclonedx(&metadata(), LOCK, "app", "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(bom, again, "deterministic, serial number included");
        assert!(cyclonedx(&metadata(), LOCK, "nope", "t").is_err());
    }
}
