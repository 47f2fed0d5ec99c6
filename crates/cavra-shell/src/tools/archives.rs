//! Archivers: what `tar` reads and writes, in which folder, and what an extraction into the
//! working folder may write.

use super::*;

/// What `tar` reads and writes: the archive, its inputs (each read whole, from the folder the
/// last `-C` before it names) or the folder it extracts into.
pub(crate) fn tar(args: &[Word], info: &mut Info) {
    use AccessKind::{Read, Write};
    // Old-style `tar czf archive dir`: the first word is a bundle of letters without a dash.
    let mut mode = ' ';
    let mut archive: Option<Word> = None;
    let mut rest: &[Word] = args;
    if let Some(first) = args.first()
        && !first.text.starts_with('-')
        && !first.text.is_empty()
        && first.text.chars().all(|c| c.is_ascii_alphabetic())
    {
        let letters = first.text.clone();
        let mut next = 1;
        for c in letters.chars() {
            match c {
                'c' | 'r' | 'u' | 'x' | 't' | 'A' | 'd' => mode = c,
                'f' => {
                    archive = args.get(next).cloned();
                    next += 1;
                }
                'C' | 'T' | 'b' | 'K' | 'N' | 'V' | 'X' | 'g' => next += 1,
                _ => {}
            }
        }
        rest = args.get(next..).unwrap_or(&[]);
    }
    let p = opts::parse(
        rest,
        &Spec {
            short_val: "fCTbKNVXgIH",
            long_val: &[
                "file",
                "directory",
                "files-from",
                "exclude-from",
                "use-compress-program",
            ],
            stop_at_operand: false,
        },
    );
    for item in &p {
        if let Parsed::Opt(n, v) = item {
            match n.as_str() {
                "c" | "create" => mode = 'c',
                "r" | "append" => mode = 'r',
                "u" | "update" => mode = 'u',
                "x" | "extract" | "get" => mode = 'x',
                "t" | "list" => mode = 't',
                "f" | "file" => archive = v.clone(),
                "T" | "files-from" | "X" | "exclude-from" => {
                    if let Some(w) = v {
                        info.access(Read, w, "tar list file");
                    }
                }
                _ => {}
            }
        }
    }
    let creating = matches!(mode, 'c' | 'r' | 'u');
    let archive_word = archive.clone();
    if let Some(a) = archive.filter(|a| a.text != "-") {
        if creating {
            info.access(Write, &a, "archive written by tar");
        } else {
            info.access(Read, &a, "archive read by tar");
        }
    }
    if creating {
        // Each input is read whole (tar recurses into folders), from the folder the last
        // `-C DIR` before it names (GNU tar applies `-C` in order, each relative to the last).
        let mut folder: Option<Word> = None;
        for item in &p {
            match item {
                Parsed::Opt(n, Some(v)) if n == "C" || n == "directory" => {
                    folder = Some(match &folder {
                        Some(d) if !v.path.starts_with('/') && !v.path.starts_with('~') => {
                            in_folder(d, v)
                        }
                        _ => v.clone(),
                    });
                }
                Parsed::Operand(i) => {
                    if let Some(w) = rest.get(*i) {
                        let w = match &folder {
                            Some(d) if !w.path.starts_with('/') && !w.path.starts_with('~') => {
                                in_folder(d, w)
                            }
                            _ => w.clone(),
                        };
                        info.access(Read, &w, "input of tar");
                        info.access(Read, &crate::folders::subtree(&w), "input of tar");
                    }
                }
                _ => {}
            }
        }
    } else if mode == 'x' {
        let folders = opts::values(&p, &["C", "directory"]);
        for w in &folders {
            info.access(Write, w, "tar extraction directory");
            info.access(
                Write,
                &crate::folders::subtree(w),
                "tar extraction directory",
            );
        }
        // `-O`/`--to-stdout` and `--to-command` write no files.
        let to_stdout = args.iter().enumerate().any(|(i, w)| {
            let t = w.text.as_str();
            t == "--to-stdout"
                || t.starts_with("--to-command")
                || (t.starts_with('-') && !t.starts_with("--") && t.contains('O'))
                || (i == 0 && !t.starts_with('-') && t.contains('O'))
        });
        if !to_stdout && folders.iter().all(|w| is_working_folder(&w.text)) {
            extracted_members(archive_word.as_ref().or(args.first()), "tar", info);
        }
    }
}

/// `w` as a path below the folder `dir` (its literal parts literal only if both are).
pub(crate) fn in_folder(dir: &Word, w: &Word) -> Word {
    let mut out = Word::derived(w, &format!("{}/{}", dir.path.trim_end_matches('/'), w.path));
    out.path_literal = dir.path_literal && w.path_literal;
    out
}

/// Whether `path` names the working folder itself (`.`, `./`).
pub(crate) fn is_working_folder(path: &str) -> bool {
    path.trim_end_matches('/')
        .trim_start_matches("./")
        .is_empty()
        || path.trim_end_matches('/') == "."
}

/// An archive extracted into the working folder writes files whose names only the archive
/// knows, possibly the agent's hook settings or `.git/hooks`: a write of a path only known at
/// run time (so it needs approval), named after the archive.
pub(crate) fn extracted_members(archive: Option<&Word>, program: &str, info: &mut Info) {
    let Some(at) = archive else { return };
    let mut members = Word::derived(at, &format!("<members of {}>", at.text));
    members.literal = false;
    members.path_literal = false;
    info.access(
        AccessKind::Write,
        &members,
        format!("files extracted by {program} into the working folder"),
    );
}
