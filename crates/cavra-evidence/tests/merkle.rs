//! Merkle tree tests against the RFC 6962 definition, with property tests for proofs.

use cavra_evidence::merkle::{
    Hash, MerkleError, consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root,
    root_of_entries, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// MTH straight from RFC 6962 §2.1, written independently of the library.
fn reference_mth(entries: &[Vec<u8>]) -> Hash {
    let n = entries.len();
    if n == 0 {
        return Sha256::digest([]).into();
    }
    if n == 1 {
        let mut v = vec![0u8];
        v.extend_from_slice(&entries[0]);
        return Sha256::digest(&v).into();
    }
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    let mut v = vec![1u8];
    v.extend_from_slice(&reference_mth(&entries[..k]));
    v.extend_from_slice(&reference_mth(&entries[k..]));
    Sha256::digest(&v).into()
}

fn entries(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry-{i}").into_bytes()).collect()
}

fn leaves(n: usize) -> Vec<Hash> {
    entries(n).iter().map(|e| leaf_hash(e)).collect()
}

#[test]
fn empty_tree_root_is_sha256_of_empty_string() {
    assert_eq!(
        hex::encode(empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(root(&[]), empty_root());
}

#[test]
fn single_leaf_known_vector() {
    // SHA-256(0x00) — the leaf hash of the empty entry.
    assert_eq!(
        hex::encode(leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    assert_eq!(root(&[leaf_hash(b"")]), leaf_hash(b""));
}

#[test]
fn small_trees_match_definition() {
    for n in 0..=70 {
        let e = entries(n);
        assert_eq!(root_of_entries(&e), reference_mth(&e), "n = {n}");
    }
}

#[test]
fn three_leaf_tree_by_hand() {
    let l = leaves(3);
    let expected = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
    assert_eq!(root(&l), expected);
    assert_eq!(
        inclusion_proof(&l, 2).expect("proof"),
        vec![node_hash(&l[0], &l[1])]
    );
    assert_eq!(inclusion_proof(&l, 0).expect("proof"), vec![l[1], l[2]]);
}

#[test]
fn rfc6962_example_consistency_proofs() {
    // RFC 6962 §2.1.3 example tree of 7 leaves d0..d6.
    let l = leaves(7);
    let h = |a: usize, b: usize| root(&l[a..b]);
    assert_eq!(
        consistency_proof(&l, 3).expect("p"),
        vec![l[2], l[3], h(0, 2), h(4, 7)]
    );
    assert_eq!(consistency_proof(&l, 4).expect("p"), vec![h(4, 7)]);
    assert_eq!(
        consistency_proof(&l, 6).expect("p"),
        vec![h(4, 6), l[6], h(0, 4)]
    );
    assert_eq!(consistency_proof(&l, 7).expect("p"), Vec::<Hash>::new());
}

#[test]
fn rejects_bad_sizes() {
    let l = leaves(4);
    assert!(matches!(
        inclusion_proof(&l, 4),
        Err(MerkleError::IndexOutOfRange { .. })
    ));
    assert!(consistency_proof(&l, 0).is_err());
    assert!(consistency_proof(&l, 5).is_err());
    let r = root(&l);
    assert!(verify_inclusion(&l[0], 4, 4, &[], &r).is_err());
    assert!(verify_consistency(0, 4, &r, &r, &[]).is_err());
    assert!(verify_consistency(5, 4, &r, &r, &[]).is_err());
    assert!(verify_consistency(4, 4, &r, &r, &[]).is_ok());
    assert!(verify_consistency(4, 4, &r, &l[0], &[]).is_err());
    assert!(verify_consistency(4, 4, &r, &r, &[l[0]]).is_err());
}

fn flip(h: &Hash) -> Hash {
    let mut x = *h;
    x[0] ^= 1;
    x
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn inclusion_proofs_verify_and_detect_tampering(n in 1usize..=200) {
        let l = leaves(n);
        let r = root(&l);
        for i in 0..n {
            let proof = inclusion_proof(&l, i).expect("proof");
            let (iu, nu) = (i as u64, n as u64);
            prop_assert!(verify_inclusion(&l[i], iu, nu, &proof, &r).is_ok());
            for j in 0..proof.len() {
                let mut bad = proof.clone();
                bad[j] = flip(&bad[j]);
                prop_assert!(verify_inclusion(&l[i], iu, nu, &bad, &r).is_err());
            }
            prop_assert!(verify_inclusion(&flip(&l[i]), iu, nu, &proof, &r).is_err());
            prop_assert!(verify_inclusion(&l[i], iu, nu, &proof, &flip(&r)).is_err());
            for other in [i.wrapping_sub(1), i + 1] {
                if other < n {
                    prop_assert!(verify_inclusion(&l[i], other as u64, nu, &proof, &r).is_err());
                }
            }
            if !proof.is_empty() {
                prop_assert!(verify_inclusion(&l[i], iu, nu, &proof[..proof.len() - 1], &r).is_err());
            }
            let mut longer = proof.clone();
            longer.push(r);
            prop_assert!(verify_inclusion(&l[i], iu, nu, &longer, &r).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_detect_tampering(
        (m, n) in (1usize..=200).prop_flat_map(|n| (1..=n, Just(n)))
    ) {
        let l = leaves(n);
        let new_root = root(&l);
        let old_root = root(&l[..m]);
        let proof = consistency_proof(&l, m).expect("proof");
        let (mu, nu) = (m as u64, n as u64);
        prop_assert!(verify_consistency(mu, nu, &old_root, &new_root, &proof).is_ok());
        for j in 0..proof.len() {
            let mut bad = proof.clone();
            bad[j] = flip(&bad[j]);
            prop_assert!(verify_consistency(mu, nu, &old_root, &new_root, &bad).is_err());
        }
        prop_assert!(verify_consistency(mu, nu, &flip(&old_root), &new_root, &proof).is_err());
        prop_assert!(verify_consistency(mu, nu, &old_root, &flip(&new_root), &proof).is_err());
        if !proof.is_empty() {
            prop_assert!(verify_consistency(mu, nu, &old_root, &new_root, &proof[..proof.len() - 1]).is_err());
        }
        let mut longer = proof.clone();
        longer.push(new_root);
        prop_assert!(verify_consistency(mu, nu, &old_root, &new_root, &longer).is_err());
        if m < n {
            // A tree whose prefix differs is not consistent with the old head.
            let mut other = l.clone();
            other[m - 1] = flip(&other[m - 1]);
            prop_assert!(verify_consistency(mu, nu, &old_root, &root(&other), &proof).is_err());
        }
    }

    #[test]
    fn verifiers_never_panic(
        index in any::<u64>(), size in any::<u64>(), old in any::<u64>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..70),
        a in any::<[u8; 32]>(), b in any::<[u8; 32]>(),
    ) {
        let _ = verify_inclusion(&a, index, size, &proof, &b);
        let _ = verify_consistency(old, size, &a, &b, &proof);
    }
}
