//! Every spelling a resolver accepts of a blocked address is blocked: number forms of IPv4
//! (decimal, octal, hex, short forms), IPv4-mapped IPv6, trailing dots, userinfo,
//! percent-encoding, and scheme-less fetcher operands, proxies and address overrides.

use cavra_engine::{ActionType, CompiledPack, Decision, Env, NoSymlinks, Request, evaluate};
use cavra_policy::{compile, load_pack_str};
use proptest::prelude::*;
use std::net::Ipv4Addr;
use std::path::Path;

fn pack(blocked: Ipv4Addr) -> CompiledPack {
    let yaml = format!(
        "metadata: {{id: net, version: '1'}}\ncommands: {{allow: ['curl *', 'wget *']}}\nnetwork: {{blocked_domains: ['{blocked}']}}\n"
    );
    let resolved = load_pack_str(&yaml, "<test>", Path::new(".")).expect("pack loads");
    compile(&resolved).expect("pack compiles")
}

fn decision(pack: &CompiledPack, action: ActionType, target: &str) -> Decision {
    let mut r = Request::new(action, target);
    r.repo_root = Some("/home/dev/repo".into());
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "d-1",
        resolver: &NoSymlinks,
    };
    evaluate(pack, &r, &env).decision
}

/// One number in the base a resolver reads from its prefix.
fn number(n: u64, base: u8) -> String {
    match base {
        0 => format!("{n}"),
        1 => format!("0x{n:x}"),
        2 => format!("0X{n:X}"),
        _ => format!("0{n:o}"),
    }
}

/// A spelling of `a` in `parts` numbers (1–4), each in the base chosen by `bases`.
fn ipv4_spelling(a: Ipv4Addr, parts: u8, bases: [u8; 4]) -> String {
    let o = a.octets().map(u64::from);
    let nums: Vec<u64> = match parts {
        1 => vec![(o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]],
        2 => vec![o[0], (o[1] << 16) | (o[2] << 8) | o[3]],
        3 => vec![o[0], o[1], (o[2] << 8) | o[3]],
        _ => o.to_vec(),
    };
    nums.iter()
        .zip(bases)
        .map(|(n, b)| number(*n, b))
        .collect::<Vec<_>>()
        .join(".")
}

fn percent_encode_first_digit(host: &str) -> String {
    match host.char_indices().find(|(_, c)| c.is_ascii_digit()) {
        Some((i, c)) => format!("{}%{:02X}{}", &host[..i], c as u32, &host[i + 1..]),
        None => host.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_spelling_of_a_blocked_address_is_blocked(
        raw in any::<u32>(),
        parts in 1u8..=4,
        bases in proptest::array::uniform4(0u8..4),
        form in 0u8..9,
        trailing_dot in any::<bool>(),
        userinfo in any::<bool>(),
        scheme in prop::sample::select(vec!["http://", "https://", "ftp://", ""]),
        via in 0u8..5,
    ) {
        let addr = Ipv4Addr::from(raw);
        let pack = pack(addr);
        let mut host = match form {
            0 => {
                let o = addr.octets();
                format!("[::ffff:{:x}{:02x}:{:x}{:02x}]", o[0], o[1], o[2], o[3])
            }
            1 => format!("[::ffff:{addr}]"),
            // NAT64's well-known prefix (RFC 6052): a gateway forwards it to the address.
            6 => {
                let o = addr.octets();
                format!("[64:ff9b::{:x}{:02x}:{:x}{:02x}]", o[0], o[1], o[2], o[3])
            }
            7 => format!("[64:ff9b::{addr}]"),
            // IPv4-compatible (`::a.b.c.d`); `::` and `::1` are themselves, not 0.0.0.0/0.0.0.1.
            8 if raw > 1 => format!("[::{addr}]"),
            2 => percent_encode_first_digit(&ipv4_spelling(addr, parts, bases)),
            _ => ipv4_spelling(addr, parts, bases),
        };
        if trailing_dot && !host.starts_with('[') {
            host.push('.');
        }
        let authority = if userinfo { format!("user:pw@{host}") } else { host.clone() };
        let url = format!("{scheme}{authority}/latest/meta-data");
        let (action, target) = match via {
            0 => (ActionType::NetworkRequest, url.clone()),
            1 => (ActionType::ExecuteCommand, format!("curl -sS '{url}'")),
            2 => (ActionType::ExecuteCommand, format!("wget -qO- '{url}'")),
            3 => (ActionType::ExecuteCommand, format!("curl -x '{authority}:80' http://example.com/")),
            _ => (
                ActionType::ExecuteCommand,
                format!("curl --resolve 'example.com:80:{host}' http://example.com/"),
            ),
        };
        // A percent-encoded host and userinfo are URL syntax: only meaningful inside a URL.
        prop_assume!(!(via == 4 && (form == 2 || trailing_dot)));
        let got = decision(&pack, action, &target);
        prop_assert_eq!(got, Decision::Block, "{} was not blocked", target);
    }

    #[test]
    fn other_addresses_stay_allowed(raw in any::<u32>(), other in any::<u32>()) {
        prop_assume!(raw != other);
        let pack = pack(Ipv4Addr::from(raw));
        let target = format!("curl http://{}/", Ipv4Addr::from(other));
        prop_assert_eq!(decision(&pack, ActionType::ExecuteCommand, &target), Decision::Allow);
    }
}

#[test]
fn ordinary_fetches_stay_allowed() {
    let pack = pack(Ipv4Addr::new(169, 254, 169, 254));
    for t in [
        "curl -fsSL https://example.com/install.txt -o install.txt",
        "wget https://example.com/x.tar.gz",
        "curl -H 'Accept: application/json' api.github.com/repos/x/y",
    ] {
        assert_eq!(
            decision(&pack, ActionType::ExecuteCommand, t),
            Decision::Allow,
            "{t}"
        );
    }
}
