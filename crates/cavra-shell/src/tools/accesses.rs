//! The files a known tool reads, writes or deletes, from its options and operands.

use super::archives::{extracted_members, is_working_folder, tar};
use super::*;

/// The files a known tool reads, writes or deletes.
pub(crate) fn accesses(base: &str, args: &[Word], info: &mut Info) {
    use AccessKind::{Delete, Read, Write};
    let get = |i: usize| args.get(i);
    let reason = format!("operand of {base}");
    let all_ops = |spec: Spec| {
        let p = opts::parse(args, &spec);
        let ops = opts::operands(&p);
        (p, ops)
    };
    let plain = |short_val: &'static str| Spec {
        short_val,
        long_val: &[],
        stop_at_operand: false,
    };
    let each = |info: &mut Info, ops: &[usize], kind: AccessKind, why: &str| {
        for &i in ops {
            if let Some(w) = get(i) {
                info.access(kind, w, why);
            }
        }
    };
    match base {
        "cat" | "tac" | "less" | "more" | "wc" | "nl" | "od" | "hexdump" | "strings" | "base64"
        | "base32" | "basenc" | "md5sum" | "sha1sum" | "sha224sum" | "sha256sum" | "sha384sum"
        | "sha512sum" | "b2sum" | "cksum" | "sum" | "cut" | "paste" | "diff" | "cmp" | "comm"
        | "file" | "stat" | "head" | "tail" | "xxd" | "uniq" | "sort" | "bat" | "strings2"
        | "fold" | "fmt" | "rev" | "expand" | "unexpand" | "column" | "tr" | "shasum" | "iconv"
        | "zcat" | "bzcat" | "xzcat" | "zless" => {
            let short = match base {
                "tac" => "s",
                "head" | "tail" => "ncs",
                "less" => "bhjkoOpPtTxyz",
                "nl" => "bdfhilnsvw",
                // GNU od: -A, -j, -N, -S and -t take a value; -w only attached (`-w16`), so
                // the word after a bare `-w` is a file it reads.
                "od" => "AjNSt",
                "hexdump" => "efns",
                "strings" => "nteT",
                "base64" | "base32" | "basenc" => "w",
                "cut" => "bcdf",
                "paste" => "d",
                "diff" => "CUIFLSWxX",
                "cmp" => "in",
                "file" => "mfFeP",
                "stat" => "c",
                "xxd" => "cglso",
                "uniq" => "fsw",
                "sort" => "ktoST",
                "fold" | "fmt" => "wgp",
                // util-linux column(1) 2.40: -t (table), -J, -L, -x, -d, -e take none.
                "column" => "cEHilnNOoprRsTWC",
                "shasum" => "a",
                "iconv" => "fto",
                _ => "",
            };
            // od's `--width[=BYTES]` and `--strings[=BYTES]` take a value only after `=`.
            let long_val: &[&str] = if base == "od" {
                &[
                    "address-radix",
                    "skip-bytes",
                    "read-bytes",
                    "format",
                    "endian",
                ]
            } else {
                &[
                    "lines",
                    "bytes",
                    "format",
                    "printf",
                    "output",
                    "key",
                    "field-separator",
                    "delimiter",
                    "fields",
                    "characters",
                    "width",
                    "from-code",
                    "to-code",
                ]
            };
            let (p, ops) = all_ops(Spec {
                short_val: short,
                long_val,
                stop_at_operand: false,
            });
            if base == "tr" {
                return;
            }
            // `uniq IN OUT` and `xxd IN OUT` write their second operand.
            if matches!(base, "uniq" | "xxd") && ops.len() >= 2 {
                each(info, ops.get(..1).unwrap_or(&[]), Read, &reason);
                each(info, ops.get(1..2).unwrap_or(&[]), Write, &reason);
            } else {
                each(info, &ops, Read, &reason);
            }
            for w in opts::values(&p, &["o", "output"]) {
                if matches!(base, "sort" | "iconv") {
                    info.access(Write, w, format!("{base} -o"));
                }
            }
            // sort writes its temporary files in the folder `-T` names.
            if base == "sort" {
                for w in opts::values(&p, &["T", "temporary-directory"]) {
                    info.access(Write, w, "sort -T");
                    info.access(Write, &crate::folders::subtree(w), "sort -T");
                }
            }
            // Options whose value is a file the program reads: a list of names to read
            // (`--files0-from`), patterns (`diff -X`), a format (`hexdump -f`), a magic
            // database (`file -m`), random bytes (`sort --random-source`), or the other side
            // of a comparison (`diff --from-file`).
            let read_options: &[&str] = match base {
                "wc" | "du" => &["files0-from"],
                // (`--files0-from` of sort: knowledge/inspection.yaml.)
                "sort" => &["random-source"],
                "diff" => &["X", "exclude-from", "from-file", "to-file"],
                "file" => &["f", "files-from", "m", "magic-file"],
                "hexdump" => &["f", "format-file"],
                _ => &[],
            };
            for w in opts::values(&p, read_options) {
                info.access(Read, w, format!("{base} option"));
            }
            if base == "less" {
                less(args, &p, &ops, info);
            }
        }
        // Readers whose options take values of their own: pr(1) and join(1) read every
        // operand; look(1) reads the one after its string.
        "pr" | "join" | "look" => {
            let short = match base {
                "pr" => "hlwoNW",
                "join" => "aeotvj12",
                _ => "t",
            };
            let (_, ops) = all_ops(plain(short));
            let skip = usize::from(base == "look");
            each(info, ops.get(skip..).unwrap_or(&[]), Read, &reason);
        }
        // split(1) reads FILE and writes PREFIX… (default `x…`); csplit(1) reads FILE and
        // writes `-f PREFIX`… (default `xx…`).
        "split" | "csplit" => {
            let (p, ops) = all_ops(Spec {
                short_val: if base == "split" { "abClnt" } else { "bfn" },
                long_val: &[
                    "suffix-length",
                    "bytes",
                    "line-bytes",
                    "lines",
                    "number",
                    "separator",
                    "additional-suffix",
                    "filter",
                    "prefix",
                    "suffix-format",
                    "digits",
                ],
                stop_at_operand: false,
            });
            each(info, ops.get(..1).unwrap_or(&[]), Read, &reason);
            let prefix = if base == "split" {
                ops.get(1).and_then(|&i| get(i))
            } else {
                opts::values(&p, &["f", "prefix"]).into_iter().next()
            };
            let pieces = match prefix {
                Some(w) => Word::derived(w, &format!("{}*", w.text)),
                None => match ops.first().and_then(|&i| get(i)) {
                    Some(w) => Word::derived(w, if base == "split" { "x*" } else { "xx*" }),
                    None => return,
                },
            };
            info.access(Write, &pieces, format!("pieces written by {base}"));
        }
        "grep" | "egrep" | "fgrep" | "rg" | "ag" | "ack" | "zgrep" => {
            let (short, long): (&str, &[&str]) = if base == "rg" {
                (
                    "efmABCgtTjMrEd",
                    &[
                        "regexp",
                        "file",
                        "glob",
                        "type",
                        "max-count",
                        "replace",
                        "context",
                        "ignore-file",
                    ],
                )
            } else {
                (
                    "efmABCdD",
                    &[
                        "regexp",
                        "file",
                        "max-count",
                        "context",
                        "include",
                        "exclude",
                        "exclude-from",
                    ],
                )
            };
            let (p, ops) = all_ops(Spec {
                short_val: short,
                long_val: long,
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["f", "file", "exclude-from", "ignore-file"]) {
                info.access(Read, w, format!("pattern file of {base}"));
            }
            let skip = usize::from(!opts::has(&p, &["e", "f", "regexp", "file"]));
            each(info, ops.get(skip..).unwrap_or(&[]), Read, &reason);
        }
        "awk" | "gawk" | "mawk" | "nawk" => {
            let (p, ops) = all_ops(Spec {
                short_val: "fvF",
                long_val: &["file", "assign", "field-separator"],
                stop_at_operand: true,
            });
            let progs = opts::values(&p, &["f", "file"]);
            for w in &progs {
                info.access(Read, w, format!("program of {base}"));
            }
            let skip = usize::from(progs.is_empty());
            let files: Vec<usize> = ops
                .iter()
                .skip(skip)
                .copied()
                .filter(|&i| get(i).is_some_and(|w| !is_assignment(&w.text)))
                .collect();
            each(info, &files, Read, &reason);
        }
        "jq" | "gojq" | "jaq" => {
            // Some jq options take two values; walk by hand.
            let mut i = 0;
            let mut filter_seen = false;
            let mut from_file = false;
            while let Some(w) = get(i) {
                let t = w.text.as_str();
                match t {
                    "--arg" | "--argjson" => i += 3,
                    "--slurpfile" | "--rawfile" => {
                        if let Some(f) = get(i + 2) {
                            info.access(Read, f, format!("{t} of {base}"));
                        }
                        i += 3;
                    }
                    "--indent" | "--tab-size" => i += 2,
                    // The library path: where `import`/`include` find modules (below).
                    "-L" | "--library-path" => i += 2,
                    "-f" | "--from-file" => {
                        if let Some(f) = get(i + 1) {
                            info.access(Read, f, format!("program of {base}"));
                        }
                        // A program cavra cannot read: it may print the environment.
                        info.class(RiskClass::InterpreterInlineCode);
                        from_file = true;
                        i += 2;
                    }
                    "--args" | "--jsonargs" => break,
                    _ if t.starts_with('-') && t.len() > 1 => i += 1,
                    _ => {
                        if filter_seen || from_file {
                            info.access(Read, w, &reason);
                        } else if !w.literal {
                            // A filter built at run time may be `env`.
                            info.class(RiskClass::InterpreterInlineCode);
                        } else if scripts::jq_reads_environment(t) {
                            info.reads_environment(&format!("{base} filter reads the environment"));
                        }
                        if w.literal && scripts::jq_loads_modules(t) {
                            // A module's code cavra cannot read: it may print the environment.
                            info.class(RiskClass::InterpreterInlineCode);
                        }
                        filter_seen = true;
                        i += 1;
                    }
                }
            }
        }
        "yq" => {
            let (p, ops) = all_ops(plain("opIes"));
            let mut ops = ops.as_slice();
            if let Some(first) = ops.first().and_then(|&i| get(i))
                && matches!(first.text.as_str(), "e" | "eval" | "ea" | "eval-all")
            {
                ops = ops.get(1..).unwrap_or(&[]);
            }
            let files = ops.get(1..).unwrap_or(&[]);
            // Editing in place reads the file first (and the expression may print it).
            each(info, files, Read, &reason);
            if opts::has(&p, &["i", "inplace"]) {
                each(info, files, Write, &reason);
            }
        }
        "sed" | "gsed" => {
            // `-i` takes an optional attached suffix, so it is a flag here; `-i ''` (BSD) is
            // skipped below.
            let (p, ops) = all_ops(Spec {
                short_val: "efl",
                long_val: &["expression", "file", "line-length"],
                stop_at_operand: false,
            });
            let in_place = p
                .iter()
                .any(|x| matches!(x, Parsed::Opt(n, _) if n == "i" || n == "in-place"))
                || args
                    .iter()
                    .any(|w| w.text.starts_with("-i") || w.text.starts_with("--in-place"));
            for w in opts::values(&p, &["f", "file"]) {
                info.access(Read, w, "sed script");
            }
            let mut files: Vec<usize> = ops;
            if in_place
                && let Some(&f) = files.first()
                && get(f).is_some_and(|w| w.text.is_empty())
            {
                files.remove(0);
            }
            let skip = usize::from(!opts::has(&p, &["e", "f", "expression", "file"]));
            let files = files.get(skip..).unwrap_or(&[]);
            // Editing in place reads each file too, and its script may print what it read
            // (`p`, `w /dev/stdout`): `sed -i … .env` reads .env.
            each(info, files, Read, &reason);
            if in_place {
                each(info, files, Write, "sed -i");
                if let Some((option, suffix)) = scripts::sed_backup_suffix(args) {
                    for w in files.iter().filter_map(|&i| get(i)) {
                        let backup =
                            Word::derived(option, &scripts::sed_backup_path(&w.text, &suffix));
                        let backup = Word {
                            literal: backup.literal && w.literal,
                            path_literal: backup.path_literal && w.path_literal,
                            ..backup
                        };
                        info.access(Write, &backup, "sed -i backup");
                    }
                }
            }
        }
        "tar" | "bsdtar" | "gtar" => tar(args, info),
        // With no name, each prints every variable of the environment (`printenv`, `export`,
        // `export -p`, `declare -x`, `declare -p`, `typeset`, `set`).
        "printenv" | "export" | "declare" | "typeset" | "set" => {
            let p = opts::parse(args, &plain(""));
            let prints_all = opts::operands(&p).is_empty()
                && match base {
                    // `set -e`, `set -o pipefail`: options, nothing printed.
                    "set" => args.is_empty(),
                    // `declare -f`/`-F`: functions only.
                    "declare" | "typeset" => !args
                        .iter()
                        .any(|w| w.text.starts_with('-') && w.text.contains(['f', 'F'])),
                    _ => true,
                };
            if prints_all {
                info.reads_environment(&format!("{base} prints the environment"));
            }
        }
        "zip" => {
            let (_, ops) = all_ops(plain("bnPt"));
            each(
                info,
                ops.get(..1).unwrap_or(&[]),
                Write,
                "archive written by zip",
            );
            each(info, ops.get(1..).unwrap_or(&[]), Read, &reason);
            // A folder is read whole with `-r` (what is below it, as a recursive search is).
            for w in ops.get(1..).unwrap_or(&[]).iter().filter_map(|&i| get(i)) {
                info.access(Read, &crate::folders::subtree(w), reason.clone());
            }
        }
        "unzip" => {
            let (p, ops) = all_ops(plain("dP"));
            each(
                info,
                ops.get(..1).unwrap_or(&[]),
                Read,
                "archive read by unzip",
            );
            let folders = opts::values(&p, &["d"]);
            for w in &folders {
                info.access(Write, w, "unzip -d");
                info.access(Write, &crate::folders::subtree(w), "unzip -d");
            }
            // Listing (`-l`, `-v`), testing (`-t`), printing (`-p`, `-c`) and comments (`-z`)
            // extract nothing.
            let extracts = !args.iter().any(|w| {
                w.text.starts_with('-')
                    && !w.text.starts_with("--")
                    && w.text
                        .chars()
                        .skip(1)
                        .any(|c| matches!(c, 'l' | 'v' | 't' | 'p' | 'c' | 'z' | 'Z'))
            });
            if extracts && folders.iter().all(|w| is_working_folder(&w.text)) {
                extracted_members(ops.first().and_then(|&i| get(i)), "unzip", info);
            }
        }
        "gzip" | "gunzip" | "bzip2" | "bunzip2" | "xz" | "unxz" | "zstd" | "unzstd" | "lz4"
        | "compress" | "uncompress" => {
            let (p, ops) = all_ops(plain("S"));
            let kind = if opts::has(&p, &["c", "stdout", "l", "list", "t", "test", "k", "keep"]) {
                Read
            } else {
                Write
            };
            each(info, &ops, kind, &reason);
        }
        "cp" | "mv" | "install" | "ln" => {
            let (p, ops) = all_ops(Spec {
                short_val: if base == "install" { "gmoSt" } else { "St" },
                long_val: &["target-directory", "suffix", "group", "mode", "owner"],
                stop_at_operand: false,
            });
            let src_kind = match base {
                "mv" => Delete,
                _ => Read,
            };
            let targets = opts::values(&p, &["t", "target-directory"]);
            // A link (`ln`, `cp -s`/`-l`) is a second name for its target: what is written
            // through it later changes the target, so the target counts as written too
            // (`ln -s .claude cfg && echo x > cfg/settings.json`).
            let links = base == "ln"
                || (base == "cp" && (opts::has(&p, &["s", "l", "symbolic-link", "link"])));
            if links {
                let symbolic = opts::has(&p, &["s", "symbolic", "symbolic-link"]);
                // A relative symbolic link target is read from the link's folder.
                let link_dir: Option<String> = match targets.first() {
                    Some(t) => Some(t.path.trim_end_matches('/').to_string()),
                    None if ops.len() > 1 => ops.last().and_then(|&i| get(i)).map(|d| {
                        if d.path.ends_with('/') {
                            d.path.trim_end_matches('/').to_string()
                        } else {
                            d.path
                                .rsplit_once('/')
                                .map_or(String::new(), |(dir, _)| dir.to_string())
                        }
                    }),
                    None => None,
                };
                let sources = if targets.is_empty() && ops.len() > 1 {
                    &ops[..ops.len() - 1]
                } else {
                    &ops[..]
                };
                for &i in sources {
                    let Some(w) = get(i) else { continue };
                    let named = match &link_dir {
                        Some(dir)
                            if symbolic
                                && !dir.is_empty()
                                && dir != "."
                                && !w.path.starts_with('/')
                                && !w.path.starts_with('~') =>
                        {
                            Word::derived(w, &format!("{dir}/{}", w.path))
                        }
                        _ => w.clone(),
                    };
                    let why = format!("target of a link made by {base}");
                    info.access(Write, &named, why.clone());
                    if symbolic {
                        // A link to a folder names everything under it.
                        info.access(Write, &crate::folders::subtree(&named), why);
                    }
                }
            }
            if base == "install" && opts::has(&p, &["d", "directory"]) {
                each(info, &ops, Write, "install -d");
                return;
            }
            // A destination that is a directory receives each source under its own name:
            // `cp evil.yml .github/workflows/` writes `.github/workflows/evil.yml`. Whether a
            // destination without a trailing slash is a directory is only known at run time,
            // so both readings are checked.
            let into_dir = |info: &mut Info, dest: &Word, sources: &[usize]| {
                let dir = dest.path.trim_end_matches('/');
                if dir.is_empty() {
                    return;
                }
                for &i in sources {
                    if let Some(src) = get(i) {
                        let name = crate::canon::basename(src.path.trim_end_matches('/'));
                        if !name.is_empty() && name != "." && name != ".." {
                            info.access(
                                Write,
                                &Word::derived(dest, &format!("{dir}/{name}")),
                                format!("destination of {base} (into the folder)"),
                            );
                        }
                    }
                }
            };
            if !targets.is_empty() {
                for t in targets {
                    info.access(Write, t, format!("target directory of {base}"));
                    into_dir(info, t, &ops);
                }
                // A link to a file is a way to read it under another name later in the line.
                each(info, &ops, src_kind, &format!("source of {base}"));
                if base == "mv" {
                    each(info, &ops, Read, "source of mv (its content, renamed)");
                }
                return;
            }
            if let Some((&last, sources)) = ops.split_last() {
                if sources.is_empty() && base == "ln" {
                    // `ln -s target` creates a link named after the target in `.`.
                    if let Some(w) = get(last) {
                        let name = crate::canon::basename(&w.path).to_string();
                        info.access(Write, &Word::derived(w, &name), "link created by ln");
                        info.access(Read, w, "source of ln");
                    }
                    return;
                }
                each(info, sources, src_kind, &format!("source of {base}"));
                // Moving a file is reading it under another name: `mv .env notes.txt`
                // then `cat notes.txt` is `cat .env`.
                if base == "mv" {
                    each(info, sources, Read, "source of mv (its content, renamed)");
                }
                if let Some(w) = get(last) {
                    info.access(Write, w, format!("destination of {base}"));
                    into_dir(info, w, sources);
                }
            }
        }
        "rm" | "unlink" | "shred" | "rmdir" | "srm" => {
            let (_, ops) = all_ops(plain(if base == "shred" { "ns" } else { "" }));
            each(info, &ops, Delete, &reason);
        }
        "tee" | "touch" | "truncate" | "mkdir" | "mkfifo" | "vi" | "vim" | "nvim" | "nano"
        | "emacs" | "code" | "subl" | "gedit" | "ed" | "pico" | "micro" | "hx" | "kak"
        | "patch" | "sponge" => {
            let short = match base {
                "touch" => "drt",
                "truncate" => "sr",
                "mkdir" | "mkfifo" => "m",
                "vi" | "vim" | "nvim" => "cSuUwWsTir",
                "patch" => "BDFdgiopYzr",
                _ => "",
            };
            let (p, ops) = all_ops(Spec {
                short_val: short,
                long_val: &["reference", "size", "mode", "input", "output", "directory"],
                stop_at_operand: false,
            });
            if matches!(base, "touch" | "truncate") {
                for w in opts::values(&p, &["r", "reference"]) {
                    info.access(Read, w, format!("reference of {base}"));
                }
            }
            if base == "patch" {
                for w in opts::values(&p, &["i", "input"]) {
                    info.access(Read, w, "patch input");
                }
                for w in opts::values(&p, &["o", "output"]) {
                    info.access(Write, w, "patch output");
                }
                each(info, ops.get(..1).unwrap_or(&[]), Write, "file patched");
                each(info, ops.get(1..2).unwrap_or(&[]), Read, "patch input");
                return;
            }
            let ops: Vec<usize> = ops
                .into_iter()
                .filter(|&i| get(i).is_some_and(|w| !w.text.starts_with('+')))
                .collect();
            // An editor shows the file before it writes it: opening a secret reads it.
            if matches!(
                base,
                "vi" | "vim"
                    | "nvim"
                    | "nano"
                    | "emacs"
                    | "code"
                    | "subl"
                    | "gedit"
                    | "ed"
                    | "pico"
                    | "micro"
                    | "hx"
                    | "kak"
            ) {
                each(info, &ops, Read, &format!("file opened by {base}"));
            }
            each(info, &ops, Write, &reason);
        }
        "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" => {
            let mut ops = Vec::new();
            let mut only_ops = false;
            let mut reference = false;
            for (i, w) in args.iter().enumerate() {
                let t = w.text.as_str();
                if only_ops {
                    ops.push(i);
                } else if t == "--" {
                    only_ops = true;
                } else if t.starts_with("--reference") {
                    reference = true;
                } else if base == "chmod"
                    && t.len() > 1
                    && t.starts_with('-')
                    && t[1..].chars().all(|c| "rwxXstugo,+-=".contains(c))
                {
                    // `chmod -x file`: a mode, not an option.
                    ops.push(i);
                } else if (t.starts_with('-') || (base == "chattr" && t.starts_with('+')))
                    && t.len() > 1
                {
                    if base == "chattr" {
                        ops.push(i);
                    }
                } else {
                    ops.push(i);
                }
            }
            let skip = usize::from(!reference);
            each(info, ops.get(skip..).unwrap_or(&[]), Write, &reason);
        }
        "dd" => {
            for w in args {
                if let Some(f) = w.text.strip_prefix("if=") {
                    info.access(Read, &Word::derived(w, f), "dd if=");
                } else if let Some(f) = w.text.strip_prefix("of=") {
                    info.access(Write, &Word::derived(w, f), "dd of=");
                }
            }
        }
        "openssl" => {
            let mut it = args.iter().peekable();
            while let Some(w) = it.next() {
                let kind = match w.text.as_str() {
                    "-in" | "-key" | "-inkey" | "-kfile" | "-signkey" | "-CAkey" => Read,
                    "-out" => Write,
                    _ => continue,
                };
                if let Some(v) = it.next() {
                    info.access(kind, v, format!("openssl {}", w.text));
                }
            }
        }
        "scp" | "rsync" => {
            let (p, ops) = all_ops(Spec {
                short_val: if base == "scp" { "cFiJloPSDX" } else { "efBT" },
                long_val: &[
                    "rsh",
                    "exclude",
                    "include",
                    "filter",
                    "files-from",
                    "temp-dir",
                ],
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["i", "F", "files-from"]) {
                info.access(Read, w, format!("{base} option"));
            }
            if let Some((&last, sources)) = ops.split_last() {
                for &s in sources {
                    if let Some(w) = get(s).filter(|w| !is_remote(&w.text)) {
                        info.access(Read, w, format!("source of {base}"));
                        // A folder is copied whole (`-r`, `-a`).
                        info.access(
                            Read,
                            &crate::folders::subtree(w),
                            format!("source of {base}"),
                        );
                    }
                }
                if !sources.is_empty()
                    && let Some(w) = get(last).filter(|w| !is_remote(&w.text))
                {
                    info.access(Write, w, format!("destination of {base}"));
                }
            }
        }
        "curl" => {
            let (p, _) = all_ops(Spec {
                short_val: "oTdFKbcHXuAeEwxmrUYyz",
                long_val: &[
                    "output",
                    "upload-file",
                    "data",
                    "data-binary",
                    "data-urlencode",
                    "data-ascii",
                    "form",
                    "config",
                    "cookie",
                    "cookie-jar",
                    "header",
                    "request",
                    "user",
                    "json",
                    "key",
                    "cert",
                    "cacert",
                    "dump-header",
                    "trace",
                    "stderr",
                    "url",
                ],
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["o", "output", "c", "cookie-jar", "dump-header"]) {
                info.access(Write, w, "curl output");
            }
            for w in opts::values(&p, &["T", "upload-file", "K", "config", "key", "cert"]) {
                info.access(Read, w, "curl upload/config");
            }
            for w in opts::values(
                &p,
                &[
                    "d",
                    "data",
                    "data-binary",
                    "data-urlencode",
                    "data-ascii",
                    "json",
                    "F",
                    "form",
                ],
            ) {
                // `@file` / `name=@file` / `name=<file` send the file's content.
                let t = w.text.as_str();
                let file = t
                    .split_once("=@")
                    .map(|(_, f)| f)
                    .or_else(|| t.split_once("=<").map(|(_, f)| f))
                    .or_else(|| t.strip_prefix('@'));
                if let Some(f) = file.map(|f| f.split(';').next().unwrap_or(f))
                    && !f.is_empty()
                    && f != "-"
                {
                    info.access(Read, &Word::derived(w, f), "curl upload");
                }
            }
            // `--data-urlencode name@FILE` sends FILE's content too (curl(1): the name, then
            // `@`, then the file, with no `=` before it), and `-H @FILE` reads headers from
            // FILE (curl 7.55).
            let named = opts::values(&p, &["data-urlencode"])
                .into_iter()
                .filter_map(|w| {
                    let (name, f) = w.text.split_once('@')?;
                    (!name.contains('=') && !name.is_empty()).then(|| Word::derived(w, f))
                });
            let headers = opts::values(&p, &["H", "header"])
                .into_iter()
                .filter_map(|w| w.text.strip_prefix('@').map(|f| Word::derived(w, f)));
            for f in named.chain(headers) {
                if !f.text.is_empty() && f.text != "-" {
                    info.access(Read, &f, "curl upload");
                }
            }
            // A `file://` URL is a read of that file (`curl file://$PWD/.env` prints it), with
            // its `%XX` escapes decoded as curl decodes them; a host other than `localhost`
            // is not a local file.
            for w in opts::operands(&p)
                .into_iter()
                .filter_map(|i| args.get(i))
                .chain(opts::values(&p, &["url"]))
            {
                if let Some(path) = file_url_path(&w.text) {
                    info.access(Read, &Word::derived(w, &path), "curl file:// URL");
                }
            }
        }
        "wget" => {
            let (p, _) = all_ops(Spec {
                short_val: "OoaiP",
                long_val: &["output-document", "post-file", "body-file", "input-file"],
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["O", "output-document", "o", "a"]) {
                if w.text != "-" {
                    info.access(Write, w, "wget output");
                }
            }
            for w in opts::values(&p, &["post-file", "body-file", "i", "input-file"]) {
                info.access(Read, w, "wget input");
            }
        }
        _ => {}
    }
}

/// What less does beyond reading its operands that its knowledge-base entry
/// (`knowledge/inspection.yaml`: log files, key files) does not say: a first command (`+CMD`)
/// is a less command, whose `!` runs a shell command and whose `|` pipes to one; and
/// `--lesskey-content` is key bindings given inline, which can set the environment less runs
/// `LESSOPEN` from, so it is code.
fn less(args: &[Word], parsed: &[Parsed], operands: &[usize], info: &mut Info) {
    for w in operands.iter().filter_map(|&i| args.get(i)) {
        let Some(commands) = w.text.strip_prefix('+') else {
            continue;
        };
        let shell = commands.split_once('!').map(|(_, c)| c).or_else(|| {
            commands
                .split_once('|')
                .map(|(_, c)| c.get(1..).unwrap_or(""))
        });
        if let Some(command) = shell.map(str::trim).filter(|c| !c.is_empty()) {
            info.code(&[&Word::derived(w, command)], "less +!", Stdin::Terminal);
        }
    }
    if !opts::values(parsed, &["lesskey-content"]).is_empty() {
        info.class(RiskClass::InterpreterInlineCode);
    }
}

/// The local path a `file:` URL names (`file:///etc/passwd`, `file://localhost/x`,
/// `FILE:/x`), with `%XX` escapes decoded; `None` for any other URL, or another host's file.
fn file_url_path(url: &str) -> Option<String> {
    let scheme = url.get(..5)?;
    if !scheme.eq_ignore_ascii_case("file:") {
        return None;
    }
    let rest = url.get(5..)?;
    let path = match rest.strip_prefix("//") {
        Some(after) => {
            let slash = after.find('/')?;
            let host = after.get(..slash)?;
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return None;
            }
            after.get(slash..)?
        }
        None => rest,
    };
    // A query or fragment is not part of the path.
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().filter(|p| p.starts_with('/'))
}

#[cfg(test)]
mod file_url_tests {
    use super::file_url_path;

    #[test]
    fn file_urls_name_local_paths() {
        for (url, path) in [
            ("file:///etc/passwd", Some("/etc/passwd")),
            ("FILE:///r/.env", Some("/r/.env")),
            ("file://localhost/r/%2Eenv", Some("/r/.env")),
            ("file:/r/.env", Some("/r/.env")),
            ("file:///r/.env?x=1#y", Some("/r/.env")),
            ("file://server/share/x", None),
            ("https://example.com/file:///x", None),
            ("file:", None),
        ] {
            assert_eq!(file_url_path(url).as_deref(), path, "{url}");
        }
    }
}
