//! `identity.accept_claimed_actor`: read strictly, off by default, inherited unless the
//! inheriting pack says otherwise, and left out of packs that do not set it (their digests
//! do not change).

use cavra_policy::{canonical_document, load_pack, load_pack_str};
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn the_setting_is_read_strictly_and_inherited_unless_overridden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let off = load_pack_str("metadata: {id: p}\n", "<p>", dir.path()).expect("pack");
    assert!(!off.document.identity.accepts_claimed_actor());
    let canonical = canonical_document(&off.document).expect("canonical");
    assert!(
        !canonical.contains("identity"),
        "digest unchanged: {canonical}"
    );

    let e = load_pack_str(
        "metadata: {id: p}\nidentity:\n  accept_claimed_actors: true\n",
        "<p>",
        dir.path(),
    )
    .expect_err("a misspelt key is an error");
    let text = e.to_string();
    assert!(
        text.contains("accept_claimed_actors") && text.contains("3:"),
        "{text}"
    );

    write(
        dir.path(),
        "parent.yaml",
        "metadata: {id: parent}\nidentity: {accept_claimed_actor: true}\n",
    );
    write(
        dir.path(),
        "child.yaml",
        "metadata: {id: child, inherits: [parent.yaml]}\n",
    );
    write(
        dir.path(),
        "strict.yaml",
        "metadata: {id: strict, inherits: [parent.yaml]}\nidentity: {accept_claimed_actor: false}\n",
    );
    let child = load_pack("child.yaml", dir.path()).expect("child");
    assert!(child.document.identity.accepts_claimed_actor());
    let strict = load_pack("strict.yaml", dir.path()).expect("strict");
    assert!(!strict.document.identity.accepts_claimed_actor());
}
