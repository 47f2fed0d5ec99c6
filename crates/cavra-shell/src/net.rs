//! Network destinations, brought to one spelling before network rules see them.
//!
//! A resolver accepts many spellings of one address: `http://2852039166/`, `0xa9.0xfe.0xa9.0xfe`,
//! `0251.0376.0251.0376`, `169.254.43518`, `[::ffff:a9fe:a9fe]`, `169.254.169.254.`,
//! `x@169.254.169.254`, `%31%36%39.254.169.254`. Every one of them is the host `169.254.169.254`
//! here, so a pack that blocks the address blocks all of them. The host parsing is the WHATWG
//! URL standard's (the `url` crate): percent-decoding, IDNA mapping of names and the IPv4
//! number forms, which are what `inet_aton` — and so curl, wget and browsers — accept.

use std::net::Ipv6Addr;
use url::{Host, Url};

/// Longest target looked at; longer text is not a host anyone resolves.
const MAX_TARGET: usize = 4096;

/// The host a URL (any scheme) or a scheme-less `host[:port][/path]` names, in normal form:
/// names lower-cased, IDNA-mapped and without a trailing dot; IPv4 addresses in dotted
/// decimal whatever number forms they were written in; IPv4-mapped IPv6 addresses as their
/// IPv4 address; other IPv6 addresses in their shortest form, without brackets. `None` when
/// the text names no host.
pub fn destination_host(target: &str) -> Option<String> {
    let t = target.trim();
    if t.is_empty() || t.len() > MAX_TARGET {
        return None;
    }
    let rest = match t.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            rest
        }
        Some(_) => return None,
        None => t,
    };
    // `scheme:///path` and a bare `/path` name no host (the URL standard would skip the
    // slashes and read the path's first segment as one).
    if rest.starts_with(['/', '\\']) {
        return None;
    }
    // The host is parsed as in an `http` URL whatever the scheme: curl and wget resolve the
    // host of `gopher://`, `dict://` or `ftp://` the same way.
    let mut text = String::with_capacity(rest.len() + 7);
    text.push_str("http://");
    text.push_str(rest);
    match Url::parse(&text) {
        Ok(url) => match url.host()? {
            Host::Domain(d) => domain(d),
            Host::Ipv4(a) => Some(a.to_string()),
            Host::Ipv6(a) => Some(ipv6(a)),
        },
        // Text the URL standard rejects (an out-of-range number, a forbidden character) is
        // still handed to a resolver by some tools: keep its host as written, lower-cased.
        Err(_) => literal_host(rest),
    }
}

fn domain(d: &str) -> Option<String> {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    if let Some(address) = wildcard_dns_address(&d) {
        return Some(address);
    }
    (!d.is_empty()).then_some(d)
}

/// Public wildcard DNS services answer every name under them with the IPv4 address written
/// in the name: `169.254.169.254.nip.io`, `x.169-254-169-254.sslip.io` and `a9fea9fe.nip.io`
/// resolve to 169.254.169.254 (https://nip.io, https://sslip.io). Such a name is that address.
fn wildcard_dns_address(d: &str) -> Option<String> {
    const SERVICES: [&str; 5] = [
        ".nip.io",
        ".sslip.io",
        ".xip.io",
        ".traefik.me",
        ".nip.direct",
    ];
    let name = SERVICES.iter().find_map(|s| d.strip_suffix(s))?;
    let labels: Vec<&str> = name.split('.').collect();
    // Dotted: the last four labels.
    if labels.len() >= 4
        && let Some(tail) = labels.get(labels.len() - 4..)
        && let Ok(a) = tail.join(".").parse::<std::net::Ipv4Addr>()
    {
        return Some(a.to_string());
    }
    let last = labels.last()?;
    // Dashed: the last four dash-separated parts of the last label.
    let parts: Vec<&str> = last.split('-').collect();
    if parts.len() >= 4
        && let Some(tail) = parts.get(parts.len() - 4..)
        && let Ok(a) = tail.join(".").parse::<std::net::Ipv4Addr>()
    {
        return Some(a.to_string());
    }
    // Hexadecimal: eight hex digits, alone or after a dash.
    let hex = parts.last()?;
    if hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let n = u32::from_str_radix(hex, 16).ok()?;
        return Some(std::net::Ipv4Addr::from(n).to_string());
    }
    None
}

/// An IPv6 address in normal form; one that carries an IPv4 address a packet can end up at is
/// that IPv4 address: IPv4-mapped (`::ffff:a.b.c.d`, the socket API's spelling of IPv4),
/// NAT64's well-known and local-use prefixes (`64:ff9b::/96`, `64:ff9b:1::/48`, RFC 6052 and
/// RFC 8215: a NAT64 gateway forwards them to the embedded address) and the deprecated
/// IPv4-compatible form (`::a.b.c.d`, RFC 4291 §2.5.5.1), which some stacks and tunnels still
/// route as IPv4. Only the prefix decides, so no spelling of a blocked IPv4 address hides in
/// IPv6; `::` and `::1` stay themselves.
fn ipv6(a: Ipv6Addr) -> String {
    if let Some(v4) = a.to_ipv4_mapped() {
        return v4.to_string();
    }
    let s = a.segments();
    let embedded = || std::net::Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let nat64_well_known = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    // RFC 8215's local-use prefix `64:ff9b:1::/48`: the operator picks a longer prefix inside
    // it; the /96 form (IPv4 in the last 32 bits) is the usual one.
    let nat64_local = s[..3] == [0x64, 0xff9b, 1] && s[3..6] == [0, 0, 0];
    let compatible = s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1);
    if nat64_well_known || nat64_local || compatible {
        return embedded().to_string();
    }
    a.to_string()
}

/// The authority's host as written (userinfo and port dropped), for text the URL parser rejects
/// as a whole (a bad port, say); the host alone is still normalised when it can be.
fn literal_host(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let host = if let Some(inner) = host_port.strip_prefix('[') {
        let inner = inner.split(']').next().unwrap_or("");
        return match inner.parse::<Ipv6Addr>() {
            Ok(a) => Some(ipv6(a)),
            Err(_) => domain(inner),
        };
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    match Url::parse(&format!("http://{host}/"))
        .ok()
        .as_ref()
        .and_then(Url::host)
    {
        Some(Host::Domain(d)) => domain(d),
        Some(Host::Ipv4(a)) => Some(a.to_string()),
        Some(Host::Ipv6(a)) => Some(ipv6(a)),
        None => domain(host),
    }
}

/// Splits `a:b:c` on colons outside `[…]` (an IPv6 address keeps its colons).
fn colon_fields(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// curl options that take the next word as their value (short letters, long names).
const CURL_SHORT_VAL: &str = "AbcCdDeEFHKmoPQrtTuUwxXyYz";
const CURL_LONG_VAL: &[&str] = &[
    "url",
    "proxy",
    "preproxy",
    "resolve",
    "connect-to",
    "output",
    "user-agent",
    "cookie",
    "cookie-jar",
    "continue-at",
    "data",
    "data-raw",
    "data-binary",
    "data-urlencode",
    "data-ascii",
    "json",
    "dump-header",
    "referer",
    "cert",
    "key",
    "cacert",
    "capath",
    "form",
    "form-string",
    "header",
    "config",
    "max-time",
    "connect-timeout",
    "ftp-port",
    "quote",
    "range",
    "telnet-option",
    "upload-file",
    "user",
    "proxy-user",
    "write-out",
    "request",
    "speed-limit",
    "speed-time",
    "time-cond",
    "interface",
    "dns-servers",
    "doh-url",
    "output-dir",
    "retry",
    "max-filesize",
    "limit-rate",
    "socks4",
    "socks4a",
    "socks5",
    "socks5-hostname",
    "noproxy",
    "proxy-header",
    "unix-socket",
    "abstract-unix-socket",
    "variable",
    "expand-url",
    "trace",
    "trace-ascii",
    "stderr",
    "local-port",
    "retry-delay",
    "retry-max-time",
];

/// wget options that take the next word as their value.
const WGET_SHORT_VAL: &str = "oaOeiBtTwQPUlARDIX";
const WGET_LONG_VAL: &[&str] = &[
    "output-document",
    "output-file",
    "append-output",
    "execute",
    "input-file",
    "base",
    "tries",
    "timeout",
    "wait",
    "quota",
    "directory-prefix",
    "user-agent",
    "level",
    "accept",
    "reject",
    "domains",
    "include-directories",
    "exclude-directories",
    "header",
    "post-data",
    "post-file",
    "body-data",
    "body-file",
    "method",
    "user",
    "password",
    "http-user",
    "http-password",
    "referer",
    "load-cookies",
    "save-cookies",
    "certificate",
    "private-key",
    "ca-certificate",
    "bind-address",
    "limit-rate",
];

/// The hosts a fetcher will contact, in normal form: `curl`'s and `wget`'s URL operands (with or
/// without a scheme), `--url`, proxies (`-x`, `--proxy`, `--preproxy`, `--socks5…`, wget's
/// `-e http_proxy=…`), and the addresses `--resolve HOST:PORT:ADDR` and
/// `--connect-to H1:P1:HOST:PORT` send the connection to. `args` are the words after the
/// program name; words that are not literals (hold `$`, `` ` ``) are skipped by the caller.
pub fn fetcher_destinations(program: &str, args: &[&str]) -> Vec<String> {
    let (short_val, long_val) = match program {
        "curl" => (CURL_SHORT_VAL, CURL_LONG_VAL),
        "wget" | "wget2" => (WGET_SHORT_VAL, WGET_LONG_VAL),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut push = |text: &str| {
        if let Some(h) = destination_host(text)
            && !out.contains(&h)
        {
            out.push(h);
        }
    };
    let mut i = 0;
    let mut only_operands = false;
    while let Some(&a) = args.get(i) {
        i += 1;
        if only_operands || a == "-" || !a.starts_with('-') {
            push(a);
            continue;
        }
        if a == "--" {
            only_operands = true;
            continue;
        }
        let (name, value) = if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None if long_val.contains(&long) => {
                    let v = args.get(i).copied();
                    i += 1;
                    (long, v)
                }
                None => (long, None),
            }
        } else {
            // A short cluster: the first letter that takes a value ends it.
            let mut found = None;
            for (pos, c) in a.char_indices().skip(1) {
                if short_val.contains(c) {
                    let rest = &a[pos + c.len_utf8()..];
                    let v = if rest.is_empty() {
                        let v = args.get(i).copied();
                        i += 1;
                        v
                    } else {
                        Some(rest)
                    };
                    found = Some((&a[pos..pos + c.len_utf8()], v));
                    break;
                }
            }
            match found {
                Some(f) => f,
                None => continue,
            }
        };
        let Some(value) = value else { continue };
        match (program, name) {
            ("curl", "url" | "x" | "proxy" | "preproxy")
            | ("curl", "socks4" | "socks4a" | "socks5" | "socks5-hostname") => push(value),
            ("curl", "resolve") => {
                // HOST:PORT:ADDR[,ADDR]… (a leading `+` marks a timeout entry).
                let fields = colon_fields(value.trim_start_matches('+'));
                if let Some(addrs) = fields.get(2..) {
                    for addr in addrs.join(":").split(',') {
                        push(addr);
                    }
                }
            }
            ("curl", "connect-to") => {
                if let Some(host) = colon_fields(value).get(2)
                    && !host.is_empty()
                {
                    push(host);
                }
            }
            (_, "e" | "execute") => {
                let setting = value.replace('-', "_").to_ascii_lowercase();
                for key in ["http_proxy=", "https_proxy=", "ftp_proxy="] {
                    if let Some(v) = setting.strip_prefix(key) {
                        push(&value[value.len() - v.len()..]);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The git subcommands that contact the remote repository their operands name.
const GIT_REMOTE_SUBCOMMANDS: &[&str] = &["fetch", "pull", "push", "clone", "ls-remote", "archive"];

/// The hosts a program contacts because an operand names them, beside the URLs of fetchers:
/// git's remotes (`git fetch URL`, `git push user@host:path`, `git archive --remote=URL`)
/// and the hosts of programs that open a connection (`nc`, `telnet`, `ping`, `ssh`, `scp`,
/// `rsync`, `socat`, `openssl s_client -connect`, `dig @server`). `args` are the literal
/// words after the program name.
pub fn remote_destinations(program: &str, args: &[&str]) -> Vec<String> {
    if !names_remotes(program) {
        return Vec::new();
    }
    match program {
        "git" => git_remotes(args),
        _ => connection_hosts(program, args),
    }
}

/// The programs that open a connection to a host their operands name (the one table
/// [`connection_hosts`] and [`names_remotes`] read): the letters of the short options whose
/// value is the next word when not attached, and whether only the first operand is a host.
fn connection(program: &str) -> Option<(&'static str, bool)> {
    Some(match program {
        "nc" | "ncat" | "netcat" => ("psiwqIOTgGmxX", true),
        "telnet" | "ftp" | "tftp" => ("bellnS", true),
        "ping" | "ping6" | "traceroute" | "traceroute6" | "tracepath" | "mtr" => {
            ("cfgiImlpQsStTwWMz", true)
        }
        "ssh" => ("BbcDEeFIiJLlmOopQRSWw", true),
        "scp" | "sftp" | "rsync" => ("cFiJloPSe", false),
        "socat" | "openssl" | "dig" => ("", false),
        // HTTPie and xh: `[METHOD] URL [ITEM…]`, the URL often without a scheme; text
        // browsers: the URL.
        "http" | "https" | "xh" | "xhs" => ("", true),
        "lynx" | "w3m" | "links" | "elinks" | "browsh" => ("", true),
        _ => return None,
    })
}

/// The hosts of programs that open a connection to a host their operands name: `nc HOST
/// PORT`, `telnet HOST`, `ping HOST`, `ssh [USER@]HOST`, `scp`/`rsync` `HOST:PATH`, socat's
/// `TCP:HOST:PORT`, `openssl s_client -connect HOST:PORT`, `dig @SERVER`.
fn connection_hosts(program: &str, args: &[&str]) -> Vec<String> {
    let Some((value_letters, first_only)) = connection(program) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let push = |out: &mut Vec<String>, h: Option<String>| {
        if let Some(h) = h
            && !out.contains(&h)
        {
            out.push(h);
        }
    };
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        i += 1;
        match program {
            "socat" => {
                // ADDRESS-TYPE:HOST:PORT (tcp, tcp4, tcp6, udp…, openssl, socks4, proxy).
                let lower = a.to_ascii_lowercase();
                let kind = lower.split([':', ',']).next().unwrap_or("");
                if [
                    "tcp",
                    "tcp4",
                    "tcp6",
                    "tcp-connect",
                    "udp",
                    "udp4",
                    "udp6",
                    "udp-connect",
                    "openssl",
                    "ssl",
                    "socks4",
                    "socks4a",
                    "proxy",
                    "sctp-connect",
                ]
                .contains(&kind)
                    && let Some(rest) = a.split_once(':').map(|(_, r)| r)
                {
                    push(&mut out, host_and_port(rest));
                }
                continue;
            }
            "openssl" => {
                if a == "-connect" {
                    push(&mut out, args.get(i).and_then(|v| host_and_port(v)));
                    i += 1;
                }
                continue;
            }
            "dig" => {
                if let Some(server) = a.strip_prefix('@') {
                    push(&mut out, destination_host(server));
                }
                continue;
            }
            _ => {}
        }
        if a == "--" {
            continue;
        }
        if let Some(flags) = a.strip_prefix('-') {
            // `-p 22` (or `-p22`): the last letter of a cluster takes the next word.
            if flags.len() == 1 && value_letters.contains(flags) {
                i += 1;
            }
            continue;
        }
        let host = match program {
            "http" | "https" | "xh" | "xhs"
                if a.len() <= 7 && a.bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                continue;
            }
            "scp" | "sftp" | "rsync" => scp_like_host(a),
            "ssh" => {
                let h = a.rsplit_once('@').map_or(a, |(_, h)| h);
                destination_host(h)
            }
            // A listening nc's operand is its port; otherwise the first operand is the host,
            // a number too (`2852039166` is 169.254.169.254).
            "nc" | "ncat" | "netcat" if args.iter().any(|w| *w == "-l" || *w == "--listen") => None,
            _ => destination_host(a),
        };
        push(&mut out, host);
        if first_only && !out.is_empty() {
            break;
        }
    }
    out
}

/// Whether [`remote_destinations`] reads the operands of `program` at all: a check before
/// the words are gathered, since most commands name no host.
pub fn names_remotes(program: &str) -> bool {
    program == "git" || connection(program).is_some()
}

/// The host of `HOST:PORT` (`[V6]:PORT` too), or of a bare host.
fn host_and_port(text: &str) -> Option<String> {
    let head = text.split(',').next().unwrap_or(text);
    if let Some(inner) = head.strip_prefix('[') {
        let (addr, _) = inner.split_once(']')?;
        return destination_host(&format!("[{addr}]"));
    }
    let host = head.split(':').next().unwrap_or(head);
    destination_host(host)
}

/// `git fetch|pull|push|clone|ls-remote|archive` remotes named by URL or scp-like form.
fn git_remotes(args: &[&str]) -> Vec<String> {
    let Some(sub) = crate::canon::git_subcommand_index(args) else {
        return Vec::new();
    };
    if !args
        .get(sub)
        .is_some_and(|s| GIT_REMOTE_SUBCOMMANDS.contains(s))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    // git's own `-c key=value` settings that say where it connects: a proxy
    // (`http.proxy`, `http.<url>.proxy`, `remote.<name>.proxy`), a remote's address
    // (`remote.<name>.url`, `.pushurl`) or a rewrite of addresses (`url.<base>.insteadOf`:
    // the base is where git goes). git-config(1), git 2.47.0.
    let mut i = 0;
    while i < sub {
        let word = args.get(i).copied().unwrap_or("");
        i += 1;
        let setting = if word == "-c" {
            i += 1;
            args.get(i - 1).copied()
        } else {
            word.strip_prefix("-c").filter(|r| !r.is_empty())
        };
        let Some((key, value)) = setting.and_then(|s| s.split_once('=')) else {
            continue;
        };
        let lower = key.to_ascii_lowercase();
        let target = if lower.starts_with("url.")
            && (lower.ends_with(".insteadof") || lower.ends_with(".pushinsteadof"))
        {
            key.get(4..key.rfind('.').unwrap_or(4))
        } else if (lower.starts_with("http.") || lower.starts_with("https."))
            && lower.ends_with(".proxy")
            || lower.starts_with("remote.")
                && (lower.ends_with(".url")
                    || lower.ends_with(".pushurl")
                    || lower.ends_with(".proxy"))
        {
            Some(value)
        } else {
            None
        };
        let host = target.and_then(|t| {
            if t.contains("://") || !t.contains(':') || t.contains('[') {
                destination_host(t)
            } else {
                scp_like_host(t).or_else(|| destination_host(t))
            }
        });
        if let Some(h) = host
            && !out.contains(&h)
        {
            out.push(h);
        }
    }
    let mut first_operand = true;
    for word in args.iter().skip(sub + 1) {
        let option_value = ["--remote=", "--repo="]
            .iter()
            .find_map(|p| word.strip_prefix(p));
        let operand = !word.starts_with('-');
        // The repository is the first operand (or an option's value); later operands are
        // refspecs (`HEAD:main`), which only an `@` makes look like `user@host:path`.
        let repository = option_value.is_some() || (operand && first_operand);
        first_operand &= !operand;
        let word = option_value.unwrap_or(word);
        let host = if word.contains("://") {
            destination_host(word)
        } else if repository || word.split_once(':').is_some_and(|(h, _)| h.contains('@')) {
            scp_like_host(word)
        } else {
            None
        };
        if let Some(h) = host
            && !out.contains(&h)
        {
            out.push(h);
        }
    }
    out
}

/// The host of git's scp-like remote `[user@]host:path` (git-clone(1), "GIT URLS"): a colon
/// before any slash, and not a single drive letter or an option.
fn scp_like_host(word: &str) -> Option<String> {
    if word.starts_with('-') {
        return None;
    }
    let (user, rest) = match word.split_once('@') {
        Some((u, r)) if !u.contains(['/', ':']) => (Some(u), r),
        _ => (None, word),
    };
    // `[::1]:path` and `user@[addr]:path`: the brackets hold colons of their own.
    let host = match rest.strip_prefix('[') {
        Some(inner) => {
            let (addr, after) = inner.split_once(']')?;
            after.starts_with(':').then_some(addr)?
        }
        None => rest.split_once(':')?.0,
    };
    if host.contains('/') || (host.len() < 2 && user.is_none()) || host.is_empty() {
        return None;
    }
    destination_host(&format!("[{host}]"))
        .filter(|_| host.contains(':'))
        .or_else(|| destination_host(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(t: &str) -> Option<String> {
        destination_host(t)
    }

    #[test]
    fn spellings_of_one_address() {
        for t in [
            "http://169.254.169.254/latest",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0xA9.0xFE.0xA9.0xFE/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://169.16689662/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[::ffff:169.254.169.254]/",
            "http://169.254.169.254./",
            "http://x@169.254.169.254/",
            "http://user:pw@169.254.169.254:80/",
            "http://%31%36%39.254.169.254/",
            "169.254.169.254/latest/meta-data",
            "169.254.169.254",
            "2852039166",
            "gopher://169.254.169.254:80/_x",
            "HTTP://169.254.169.254",
            "http://[::169.254.169.254]/",
            "http://[::a9fe:a9fe]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[64:ff9b::169.254.169.254]/",
            "http://[64:ff9b:1::a9fe:a9fe]/",
            "http://[0064:FF9B:0000:0000:0000:0000:A9FE:A9FE]/",
        ] {
            assert_eq!(host(t).as_deref(), Some("169.254.169.254"), "{t}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            host("https://API.Example.com:443/x?y").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(
            host("http://metadata.google.internal./").as_deref(),
            Some("metadata.google.internal")
        );
        assert_eq!(host("example.com/path").as_deref(), Some("example.com"));
        // Wildcard DNS names are the address they spell.
        for name in [
            "http://169.254.169.254.nip.io/",
            "http://x.169.254.169.254.nip.io./",
            "http://169-254-169-254.sslip.io/",
            "http://app-169-254-169-254.sslip.io/",
            "http://a9fea9fe.nip.io/",
            "http://x-a9fea9fe.nip.io/",
            "http://169.254.169.254.XIP.IO/",
        ] {
            assert_eq!(host(name).as_deref(), Some("169.254.169.254"), "{name}");
        }
        assert_eq!(host("http://nip.io/").as_deref(), Some("nip.io"));
        assert_eq!(host("http://app.nip.io/").as_deref(), Some("app.nip.io"));
        assert_eq!(host("https://[::1]:8080/").as_deref(), Some("::1"));
        assert_eq!(host("http://[::]/").as_deref(), Some("::"));
        assert_eq!(
            host("http://[fd00:ec2:0:0::254]/").as_deref(),
            Some("fd00:ec2::254")
        );
        assert_eq!(
            host("http://[2001:db8::1]/").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(host("https:///nohost"), None);
        assert_eq!(host(""), None);
    }

    #[test]
    fn connections_name_their_hosts() {
        let hosts = |program: &str, line: &str| {
            let words: Vec<&str> = line.split(' ').collect();
            remote_destinations(program, &words)
        };
        let metadata = ["169.254.169.254"];
        assert_eq!(hosts("nc", "-w 3 169.254.169.254 80"), metadata);
        assert_eq!(hosts("ncat", "2852039166 80"), metadata);
        assert_eq!(hosts("telnet", "169.254.169.254 80"), metadata);
        assert_eq!(hosts("ping", "-c 1 169.254.43518"), metadata);
        assert_eq!(hosts("ssh", "-p 22 -i k user@169.254.169.254 ls"), metadata);
        assert_eq!(hosts("scp", "-P 22 x user@169.254.169.254:/tmp"), metadata);
        assert_eq!(hosts("rsync", "-a x 169.254.169.254:/tmp"), metadata);
        assert_eq!(hosts("socat", "- TCP:169.254.169.254:80"), metadata);
        assert_eq!(hosts("socat", "- tcp4:[::ffff:a9fe:a9fe]:80"), metadata);
        assert_eq!(
            hosts("openssl", "s_client -connect 169.254.169.254:443"),
            metadata
        );
        assert_eq!(hosts("dig", "@169.254.169.254 example.com"), metadata);
        assert_eq!(hosts("http", "GET 169.254.169.254/latest"), metadata);
        assert_eq!(hosts("lynx", "-dump http://169.254.169.254/"), metadata);
        // Ports, counts, local copies and files name no host.
        assert!(hosts("nc", "-l 8080").is_empty());
        assert!(hosts("scp", "a b").is_empty());
        assert!(hosts("socat", "- EXEC:ls").is_empty());
        assert!(hosts("cat", "169.254.169.254").is_empty());
    }

    #[test]
    fn git_remotes_name_their_hosts() {
        let hosts = |line: &str| {
            let words: Vec<&str> = line.split(' ').collect();
            remote_destinations("git", &words)
        };
        assert_eq!(
            hosts("fetch http://169.254.169.254/latest"),
            ["169.254.169.254"]
        );
        assert_eq!(
            hosts("-C x pull https://2852039166/r main"),
            ["169.254.169.254"]
        );
        assert_eq!(
            hosts("push git@169.254.169.254:o/r feature"),
            ["169.254.169.254"]
        );
        assert_eq!(
            hosts("clone --depth 1 ssh://x@Example.COM./r"),
            ["example.com"]
        );
        assert_eq!(
            hosts("archive --remote=[::ffff:a9fe:a9fe]:r HEAD"),
            ["169.254.169.254"]
        );
        // git's own settings that say where it connects.
        for line in [
            "-c http.proxy=169.254.169.254:80 fetch",
            "-c https.proxy=http://2852039166/ fetch origin",
            "-chttp.https://github.com/.proxy=169.254.169.254 pull",
            "-c remote.origin.url=http://169.254.169.254/r fetch origin",
            "-c remote.origin.pushurl=git@169.254.169.254:r push origin x",
            "-c url.http://169.254.169.254/.insteadOf=https://github.com/ clone https://github.com/o/r",
            "-c Remote.Origin.Proxy=[::ffff:a9fe:a9fe]:80 fetch",
        ] {
            assert_eq!(
                hosts(line).first().map(String::as_str),
                Some("169.254.169.254"),
                "{line}"
            );
        }
        // Settings that name no place, and settings for a subcommand that connects nowhere.
        assert!(hosts("-c color.ui=never fetch origin").is_empty());
        assert!(hosts("-c http.proxy=169.254.169.254 status").is_empty());
        // Remote names, branches, refspecs and paths name no host.
        assert!(hosts("fetch origin main").is_empty());
        assert!(hosts("push origin HEAD:main").is_empty());
        assert!(hosts("status http://169.254.169.254/").is_empty());
        assert!(hosts("clone ./a/b:c d").is_empty());
    }

    #[test]
    fn fetchers() {
        let d = |p: &str, a: &[&str]| fetcher_destinations(p, a);
        assert_eq!(d("curl", &["-s", "169.254.169.254/x"]), ["169.254.169.254"]);
        assert_eq!(
            d("curl", &["-o", "out.txt", "https://a.io"]),
            ["a.io"],
            "an option's value is no destination"
        );
        assert_eq!(
            d("curl", &["-x", "0xa9fea9fe:80", "http://a.io"]),
            ["169.254.169.254", "a.io"]
        );
        assert_eq!(
            d(
                "curl",
                &["--resolve", "a.io:80:169.254.169.254", "http://a.io"]
            ),
            ["169.254.169.254", "a.io"]
        );
        assert_eq!(
            d(
                "curl",
                &["--connect-to", "a.io:80:[::ffff:a9fe:a9fe]:80", "a.io"]
            ),
            ["169.254.169.254", "a.io"]
        );
        assert_eq!(
            d("wget", &["-e", "http_proxy=169.254.169.254", "http://a.io"]),
            ["169.254.169.254", "a.io"]
        );
        assert_eq!(d("wget", &["-qO-", "2852039166"]), ["169.254.169.254"]);
    }
}
