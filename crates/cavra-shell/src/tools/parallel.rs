//! GNU parallel: the commands it will run, written out before they are judged.
//!
//! `parallel [options] [command [arguments]] (::: values | :::+ values | :::: files | ::::+
//! files)…` (parallel(1), GNU parallel 20240722, <https://www.gnu.org/software/parallel/man.html>):
//! the command's words are joined by spaces into a shell command line, each replacement string
//! (`{}`, `{.}`, `{/}`, `{//}`, `{/.}`, `{#}`, `{%}`, `{N}` and the like, or the text `-I`
//! names) is replaced by the input, and the input is appended when there is none. Without a
//! command, each input is itself a command line (`parallel ::: 'cmd1' 'cmd2'`, `cat jobs |
//! parallel`). Inputs come from the `:::` groups (every combination of them), from `::::` and
//! `-a` files, or from standard input.

use super::*;

/// The separators that start a group of inputs.
fn is_separator(t: &str) -> bool {
    matches!(t, ":::" | ":::+" | "::::" | "::::+")
}

/// Most commands written out for one `parallel` (combinations of its inputs).
const MAX_COMMANDS: usize = 64;

/// Options of parallel that take a value (as the next word when not attached).
const SHORT_WITH_VALUE: &str = "aCdEIjLlnNPSsW";
const LONG_WITH_VALUE: &[&str] = &[
    "arg-file",
    "colsep",
    "delimiter",
    "eof",
    "replace",
    "jobs",
    "max-lines",
    "max-args",
    "max-replace-args",
    "max-procs",
    "sshlogin",
    "sshloginfile",
    "slf",
    "max-chars",
    "workdir",
    "wd",
    "joblog",
    "results",
    "res",
    "env",
    "timeout",
    "delay",
    "tmpdir",
    "tempdir",
    "basefile",
    "bf",
    "transferfile",
    "tf",
    "return",
    "retries",
    "load",
    "memfree",
    "nice",
    "tagstring",
    "block",
    "block-size",
    "header",
    "halt",
    "halt-on-error",
    "limit",
    "termseq",
    "arg-sep",
    "arg-file-sep",
    "shuf",
    "extensionreplace",
    "er",
    "basenamereplace",
    "bnr",
    "dirnamereplace",
    "dnr",
    "basenameextensionreplace",
    "bner",
    "seqreplace",
    "slotreplace",
    "progress-bar",
    "ssh",
    "sshdelay",
];

pub(crate) fn parallel(args: &[Word], stdin: &Stdin, info: &mut Info) {
    let end = args
        .iter()
        .position(|w| is_separator(&w.text))
        .unwrap_or(args.len());
    let head = args.get(..end).unwrap_or_default();
    let p = opts::parse(head, &stop(SHORT_WITH_VALUE, LONG_WITH_VALUE));
    let mut dynamic_inputs = false;
    for w in opts::values(&p, &["a", "arg-file"]) {
        info.access(AccessKind::Read, w, "parallel -a");
        dynamic_inputs = true;
    }
    for w in opts::values(&p, &["joblog"]) {
        info.access(AccessKind::Write, w, "parallel --joblog");
    }
    for w in opts::values(&p, &["results", "res"]) {
        info.access(AccessKind::Write, w, "parallel --results");
        info.access(
            AccessKind::Write,
            &crate::folders::subtree(w),
            "parallel --results",
        );
    }
    // Jobs run on other machines over ssh.
    if opts::has(&p, &["S", "sshlogin", "sshloginfile", "slf"]) {
        info.class(RiskClass::NetworkEgress);
    }
    let replace: String = opts::values(&p, &["I", "replace"])
        .last()
        .map(|w| w.text.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "{}".to_string());
    let template: Vec<&Word> = opts::first_operand(&p)
        .map(|i| head.get(i..).unwrap_or_default().iter().collect())
        .unwrap_or_default();
    // The groups of inputs after the separators.
    let mut groups: Vec<Vec<&Word>> = Vec::new();
    let mut files = false;
    let mut i = end;
    while let Some(sep) = args.get(i) {
        let reads_files = sep.text.starts_with("::::");
        let from = i + 1;
        let to = (from..args.len())
            .find(|&j| args.get(j).is_some_and(|w| is_separator(&w.text)))
            .unwrap_or(args.len());
        let words: Vec<&Word> = args.get(from..to).unwrap_or_default().iter().collect();
        if reads_files {
            for w in &words {
                info.access(AccessKind::Read, w, "parallel ::::");
            }
            files = true;
        } else {
            dynamic_inputs |= words.iter().any(|w| !w.literal);
            groups.push(words);
        }
        i = to;
    }
    dynamic_inputs |= files;
    if groups.is_empty() && !files && !opts::has(&p, &["a", "arg-file"]) {
        // The inputs are the lines of standard input.
        match stdin {
            Stdin::Code {
                text,
                literal: true,
                ..
            } => {
                let lines: Vec<Word> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .take(MAX_COMMANDS)
                    .map(|l| Word {
                        literal: true,
                        ..template
                            .first()
                            .map(|w| Word::derived(w, l.trim()))
                            .unwrap_or_else(|| plain_word(l.trim()))
                    })
                    .collect();
                let refs: Vec<&Word> = lines.iter().collect();
                write_out(&template, &[refs], &replace, info);
                return;
            }
            // Names a `find` printed, selected by name: the globs they match, as inputs.
            Stdin::Names { globs, .. }
                if !template.is_empty() && !runs_code(&template, &replace) =>
            {
                let lines: Vec<Word> = globs
                    .iter()
                    .take(MAX_COMMANDS)
                    .map(|g| {
                        template
                            .first()
                            .map(|w| Word::derived(w, g))
                            .unwrap_or_else(|| plain_word(g))
                    })
                    .map(|w| Word { literal: true, ..w })
                    .collect();
                let refs: Vec<&Word> = lines.iter().collect();
                write_out(&template, &[refs], &replace, info);
                return;
            }
            Stdin::Terminal => {}
            Stdin::Code { .. } | Stdin::Untrusted(_) | Stdin::Names { .. } | Stdin::Local(_) => {
                dynamic_inputs = true;
            }
        }
    }
    if dynamic_inputs {
        // Inputs known only at run time: without a command they are the commands; a command
        // that puts them where a command or code stands runs code from data.
        if template.is_empty() || runs_code(&template, &replace) {
            info.class(RiskClass::DynamicCommand);
            if matches!(stdin, Stdin::Untrusted(_) | Stdin::Names { .. }) {
                info.class(RiskClass::RemoteCodeExecution);
            }
        } else if groups.is_empty() {
            // An ordinary command given them as arguments: judged with one argument known
            // only at run time (`… | parallel cat` reads paths only known then).
            let input = Word {
                literal: true,
                ..template
                    .first()
                    .map(|w| Word::derived(w, RUN_TIME_INPUT))
                    .unwrap_or_else(|| plain_word(RUN_TIME_INPUT))
            };
            write_out(&template, &[vec![&input]], &replace, info);
        }
    }
    if template.is_empty() && groups.is_empty() {
        // `cat jobs | parallel`: standard input holds the commands.
        stdin_code("parallel", true, stdin, info);
        return;
    }
    if !template.is_empty() {
        // The command as written (replacement strings in place) is judged too.
        info.code(&template, "parallel", Stdin::Terminal);
    }
    write_out(&template, &groups, &replace, info);
}

/// A literal word with no position in the line.
/// What stands for an input parallel reads only at run time, spliced into the command
/// unquoted: a parameter expansion, so the command judges it as a path or word known only then.
const RUN_TIME_INPUT: &str = "\"$PARALLEL_INPUT\"";

/// Whether the command puts its inputs where a command or code stands: the program's own
/// place, a shell, `eval` or an interpreter.
fn runs_code(template: &[&Word], replace: &str) -> bool {
    let first = template.first().map(|w| w.text.as_str()).unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or("");
    first.contains(replace) || is_shell(base) || base == "eval" || interpreter(base).is_some()
}

fn plain_word(text: &str) -> Word {
    Word {
        text: text.to_string(),
        literal: true,
        path: text.to_string(),
        path_literal: true,
        span: (0, 0),
        has_subst: false,
        is_procsub: false,
        glob: false,
    }
}

/// Every combination of one input from each group (at most [`MAX_COMMANDS`]), written into
/// the command (or, without one, as the command): each is judged as the command parallel runs.
fn write_out(template: &[&Word], groups: &[Vec<&Word>], replace: &str, info: &mut Info) {
    let groups: Vec<&Vec<&Word>> = groups.iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() {
        return;
    }
    if template
        .iter()
        .chain(groups.iter().flat_map(|g| g.iter()))
        .any(|w| !w.literal)
    {
        // Not known before run time: classed above.
        return;
    }
    if template.iter().any(|w| w.text.contains("{=")) {
        // `{= perl expression =}` runs Perl on each input.
        info.class(RiskClass::InterpreterInlineCode);
    }
    let span = match (
        template.first().or(groups.first().and_then(|g| g.first())),
        groups.last().and_then(|g| g.last()),
    ) {
        (Some(a), Some(b)) => (a.span.0, b.span.1),
        _ => (0, 0),
    };
    let text: String = template
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut counters = vec![0usize; groups.len()];
    for _ in 0..MAX_COMMANDS {
        let values: Vec<&str> = groups
            .iter()
            .zip(&counters)
            .filter_map(|(g, &c)| g.get(c).map(|w| w.text.as_str()))
            .collect();
        // parallel quotes each input it puts into a command; an input that is the whole
        // command (or stands where the program's name is) runs as written. Both are judged.
        let commands = if text.is_empty() {
            vec![values.join(" ")]
        } else {
            let quoted: Vec<String> = values.iter().map(|v| sh_quote(v)).collect();
            let quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
            let mut both = vec![substitute(&text, replace, &quoted)];
            let raw = substitute(&text, replace, &values);
            if !both.contains(&raw) {
                both.push(raw);
            }
            both
        };
        for command in commands {
            info.inner.push(Inner {
                kind: InnerKind::Code(command),
                label: "parallel".into(),
                stdin: Stdin::Terminal,
                span,
                folder: None,
            });
        }
        // The next combination, the last group fastest.
        let mut k = groups.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            counters[k] += 1;
            if counters[k] < groups[k].len() {
                break;
            }
            counters[k] = 0;
        }
    }
}

/// The command line with the replacement strings replaced by the inputs (`{}` all of them,
/// `{N}` the Nth; `{.}`, `{/}`, `{//}`, `{/.}`, `{N.}`, … a part of it, taken whole here, so
/// the command judged holds at least what the real one does), or with them appended when there
/// is none.
fn substitute(text: &str, replace: &str, values: &[&str]) -> String {
    let all = values.join(" ");
    let mut out = String::with_capacity(text.len() + all.len());
    let mut replaced = false;
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with(replace) {
            out.push_str(&all);
            rest = &rest[replace.len()..];
            replaced = true;
            continue;
        }
        if let Some(after) = rest.strip_prefix('{')
            && let Some(close) = after.find('}')
            && let Some(inner) = after.get(..close)
            && is_replacement(inner)
        {
            let digits: String = inner.chars().take_while(char::is_ascii_digit).collect();
            let value = match digits.parse::<usize>() {
                Ok(n) if n >= 1 => values.get(n - 1).copied().unwrap_or(""),
                _ => all.as_str(),
            };
            out.push_str(value);
            rest = &after[close + 1..];
            replaced = true;
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    if !replaced {
        out.push(' ');
        out.push_str(&all);
    }
    out
}

/// Whether `{inner}` is one of parallel's replacement strings: an optional input number and one
/// of ``, `.`, `/`, `//`, `/.`, `#`, `%`, `+/`, `+.`, `+..`, `+...`.
fn is_replacement(inner: &str) -> bool {
    let rest = inner.trim_start_matches(|c: char| c.is_ascii_digit());
    matches!(
        rest,
        "" | "." | "/" | "//" | "/." | "#" | "%" | "+/" | "+." | "+.." | "+..."
    )
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn replacement_strings_take_the_inputs() {
        assert_eq!(substitute("gzip", "{}", &["a.log"]), "gzip a.log");
        assert_eq!(
            substitute("sh -c {}", "{}", &["rm -rf x"]),
            "sh -c rm -rf x"
        );
        assert_eq!(substitute("{}", "{}", &["rm -rf x"]), "rm -rf x");
        assert_eq!(substitute("{1} {2} y", "{}", &["rm", "-rf"]), "rm -rf y");
        assert_eq!(
            substitute("mv {} {.}.bak", "{}", &["a.txt"]),
            "mv a.txt a.txt.bak"
        );
        assert_eq!(substitute("cp % dest", "%", &["a"]), "cp a dest");
        assert_eq!(substitute("echo {x}", "{}", &["a"]), "echo {x} a");
    }
}
