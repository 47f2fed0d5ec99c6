//! Glob sets that match without building regular expressions where a glob allows it.
//!
//! Almost every pattern a pack holds is a literal (`/etc/shadow`, `git/status`), a name at any
//! depth (`**/.env`), an extension (`**/*.pem`), a folder (`.github/workflows/**`) or a command
//! with its subcommand words (`git/diff/**`): words and `*` wildcards, no classes, alternatives
//! or escapes. Compiling such globs with `globset` (a parse, a regular expression, an
//! Aho-Corasick automaton per set) was most of the instructions a short-lived `cavra evaluate`
//! or hook process ran. Here those globs are read once into segments and looked up through
//! hash maps keyed by what any match must contain (the whole subject, its first or last
//! segment, its extension); only globs outside that shape go to `globset`, built on first use.
//!
//! The meaning is exactly `globset`'s with `backslash_escape(true)` and
//! `empty_alternates(true)`: with `literal_separator`, `*` stays inside one `/`-separated
//! segment, a leading `**/` matches zero or more leading segments, a trailing `/**` one or
//! more trailing segments, a `/**/` zero or more segments between; without it, `*` matches any
//! bytes. Matching is over bytes, as `globset`'s `(?-u)` expressions are. The property tests
//! below compare every answer with `globset` on generated globs and subjects.

use rustc_hash::FxHashMap;
use std::sync::OnceLock;

/// Index of a glob in its set, in the order it was added.
type Index = u32;

/// One `/`-separated segment of a glob read with `literal_separator`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Exactly these bytes.
    Literal(Box<[u8]>),
    /// These bytes, each `*` matching any run of bytes other than `/`.
    Wild(Box<[u8]>),
    /// `**`: any number of whole segments (at least one when it ends the glob).
    Any,
}

/// How one glob matches.
#[derive(Debug, Clone)]
enum Shape {
    /// `**` or `**/` alone (with `literal_separator`): everything.
    All,
    /// Segments, with `literal_separator`.
    Segments(Box<[Segment]>),
    /// Bytes in which `*` matches any run of bytes (without `literal_separator`).
    Word(Box<[u8]>),
    /// Exactly these bytes (either mode).
    Literal,
    /// Matched by `globset` (classes, alternatives, escapes, `?`, …).
    Other,
}

/// Reads a glob into a [`Shape`], or `None` when only `globset` can match it.
fn shape(text: &str, literal_separator: bool) -> Option<Shape> {
    if text
        .bytes()
        .any(|b| matches!(b, b'?' | b'[' | b']' | b'{' | b'}' | b'\\' | b','))
    {
        return None;
    }
    if !literal_separator {
        if text.contains("**") {
            return None;
        }
        return Some(if text.contains('*') {
            Shape::Word(text.as_bytes().into())
        } else {
            Shape::Literal
        });
    }
    // globset reads both as its leading `**/` alone, which matches everything.
    if text == "**" || text == "**/" {
        return Some(Shape::All);
    }
    let mut segments = Vec::new();
    for part in text.split('/') {
        let segment = if part == "**" {
            // `**/**` and the like tokenise differently in globset; leave them to it.
            if segments.last() == Some(&Segment::Any) {
                return None;
            }
            Segment::Any
        } else if part.contains("**") {
            // `a**` or `**b` inside a segment: globset reads it as `*`, but keep it simple.
            return None;
        } else if part.contains('*') {
            Segment::Wild(part.as_bytes().into())
        } else {
            Segment::Literal(part.as_bytes().into())
        };
        segments.push(segment);
    }
    if segments.iter().all(|s| matches!(s, Segment::Literal(_))) {
        return Some(Shape::Literal);
    }
    Some(Shape::Segments(segments.into()))
}

/// `*`-only wildcard matching over bytes (`*` matches any run, possibly empty).
fn wild(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < subject.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, s));
                p += 1;
            }
            Some(&c) if c == subject[s] => {
                p += 1;
                s += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    p = sp + 1;
                    s = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether `segments` match `subject` from its start, `subject` starting a segment.
fn segments_match(segments: &[Segment], subject: &[u8]) -> bool {
    let Some((head, rest)) = segments.split_first() else {
        return false;
    };
    let (len, ok) = match head {
        Segment::Any => {
            if rest.is_empty() {
                // A trailing `/**`: one or more segments, and one is here (perhaps empty).
                return true;
            }
            // Zero or more whole segments, then the rest.
            if segments_match(rest, subject) {
                return true;
            }
            return subject
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'/')
                .any(|(i, _)| segments_match(rest, &subject[i + 1..]));
        }
        Segment::Literal(lit) => (lit.len(), subject.starts_with(lit)),
        Segment::Wild(w) => {
            let end = subject
                .iter()
                .position(|b| *b == b'/')
                .unwrap_or(subject.len());
            (end, wild(w, &subject[..end]))
        }
    };
    if !ok {
        return false;
    }
    if rest.is_empty() {
        return len == subject.len();
    }
    subject.get(len) == Some(&b'/') && segments_match(rest, &subject[len + 1..])
}

/// The first `/`-separated segment of a subject.
fn first_segment(s: &[u8]) -> &[u8] {
    s.iter().position(|b| *b == b'/').map_or(s, |i| &s[..i])
}

/// The last `/`-separated segment of a subject.
fn last_segment(s: &[u8]) -> &[u8] {
    s.iter()
        .rposition(|b| *b == b'/')
        .map_or(s, |i| &s[i + 1..])
}

/// What follows the last `.` of a segment, if it has one.
fn extension(segment: &[u8]) -> Option<&[u8]> {
    segment
        .iter()
        .rposition(|b| *b == b'.')
        .map(|i| &segment[i + 1..])
}

type Buckets = FxHashMap<Box<[u8]>, Vec<Index>>;

/// Globs that `globset` matches, built into a set on first use.
#[derive(Debug, Clone, Default)]
struct Delegated {
    globs: Vec<(Index, globset::Glob)>,
    built: OnceLock<DelegatedSet>,
}

#[derive(Debug, Clone)]
enum DelegatedSet {
    /// One pass over all of them.
    Set(globset::GlobSet),
    /// One by one: only when the set as a whole cannot be built (a regex size limit).
    Each(Vec<globset::GlobMatcher>),
}

/// Every glob of a set given to `globset` as one set, built on first use: the answer for the
/// subjects on which `globset`'s own set departs from its globs' meaning (see
/// [`GlobSet::matches_into`]).
#[derive(Debug, Clone, Default)]
struct Whole {
    texts: Vec<(Box<str>, bool)>,
    built: OnceLock<DelegatedSet>,
}

impl DelegatedSet {
    fn of(globs: impl Iterator<Item = globset::Glob>) -> Self {
        let globs: Vec<globset::Glob> = globs.collect();
        let mut builder = globset::GlobSetBuilder::new();
        for glob in &globs {
            builder.add(glob.clone());
        }
        match builder.build() {
            Ok(set) => DelegatedSet::Set(set),
            Err(_) => {
                DelegatedSet::Each(globs.iter().map(globset::Glob::compile_matcher).collect())
            }
        }
    }

    /// Appends the matching globs' indices, mapped through `index`, to `into`.
    fn matches_into(
        &self,
        candidate: &globset::Candidate<'_>,
        index: impl Fn(usize) -> Option<usize>,
        into: &mut Vec<usize>,
    ) {
        match self {
            DelegatedSet::Set(set) => {
                let mut found = Vec::new();
                set.matches_candidate_into(candidate, &mut found);
                into.extend(found.into_iter().filter_map(index));
            }
            DelegatedSet::Each(matchers) => into.extend(
                matchers
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.is_match_candidate(candidate))
                    .filter_map(|(i, _)| index(i)),
            ),
        }
    }
}

/// A set of globs matched together; [`GlobSet::matches_into`] gives the indices of the globs
/// that match, in the order they were added, as `globset::GlobSet::matches_into` does.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobSet {
    shapes: Vec<Shape>,
    /// Literal globs by their text.
    exact: Buckets,
    /// Globs whose first segment is literal, by it.
    by_first: Buckets,
    /// Other globs whose last segment is literal, by it.
    by_last: Buckets,
    /// Other globs whose last segment ends in `*….ext`, by the extension.
    by_extension: Buckets,
    /// Globs tried one by one (`**`, `*`-words, the few shapes no key covers).
    scan: Vec<Index>,
    delegated: Delegated,
    whole: Whole,
}

/// The builder's options, as the compiler gives them to `globset`.
fn builder(text: &str, literal_separator: bool) -> globset::GlobBuilder<'_> {
    let mut b = globset::GlobBuilder::new(text);
    b.literal_separator(literal_separator)
        .backslash_escape(true)
        .empty_alternates(true);
    b
}

impl GlobSet {
    /// Adds a glob; `literal_separator` as `globset::GlobBuilder::literal_separator`. Fails
    /// only for a glob `globset` rejects.
    pub(crate) fn add(
        &mut self,
        text: &str,
        literal_separator: bool,
    ) -> Result<(), globset::Error> {
        let index = Index::try_from(self.shapes.len()).unwrap_or(Index::MAX);
        let Some(shape) = shape(text, literal_separator) else {
            let glob = builder(text, literal_separator).build()?;
            // Only a glob that is kept counts: the indices of `whole` are those of `shapes`.
            self.whole.texts.push((text.into(), literal_separator));
            self.whole.built = OnceLock::new();
            self.delegated.globs.push((index, glob));
            self.delegated.built = OnceLock::new();
            self.shapes.push(Shape::Other);
            return Ok(());
        };
        self.whole.texts.push((text.into(), literal_separator));
        self.whole.built = OnceLock::new();
        let key = |map: &mut Buckets, key: &[u8]| map.entry(key.into()).or_default().push(index);
        match &shape {
            Shape::Literal => key(&mut self.exact, text.as_bytes()),
            Shape::Segments(segments) => match (segments.first(), segments.last()) {
                (Some(Segment::Literal(first)), _) => key(&mut self.by_first, first),
                (_, Some(Segment::Literal(last))) => key(&mut self.by_last, last),
                (_, Some(Segment::Wild(last))) => {
                    let tail = last.rsplit(|b| *b == b'*').next().unwrap_or_default();
                    match extension(tail) {
                        Some(ext) => key(&mut self.by_extension, ext),
                        None => self.scan.push(index),
                    }
                }
                _ => self.scan.push(index),
            },
            Shape::All | Shape::Word(_) | Shape::Other => self.scan.push(index),
        }
        self.shapes.push(shape);
        Ok(())
    }

    fn shape_matches(&self, index: Index, subject: &[u8]) -> bool {
        match self.shapes.get(index as usize) {
            Some(Shape::All) => true,
            Some(Shape::Segments(segments)) => segments_match(segments, subject),
            Some(Shape::Word(w)) => wild(w, subject),
            Some(Shape::Literal) | Some(Shape::Other) | None => false,
        }
    }

    fn delegated(&self) -> &DelegatedSet {
        let globs = || self.delegated.globs.iter().map(|(_, g)| g.clone());
        self.delegated
            .built
            .get_or_init(|| DelegatedSet::of(globs()))
    }

    fn whole(&self) -> &DelegatedSet {
        // Every text was built once already, when it was added.
        let globs = || {
            let texts = self.whole.texts.iter();
            texts.filter_map(|(text, sep)| builder(text, *sep).build().ok())
        };
        self.whole.built.get_or_init(|| DelegatedSet::of(globs()))
    }

    /// The indices of the globs matching `subject`, ascending, into `into` (cleared first).
    pub(crate) fn matches_into(&self, subject: &str, into: &mut Vec<usize>) {
        into.clear();
        if self.shapes.is_empty() {
            return;
        }
        let s = subject.as_bytes();
        let last = last_segment(s);
        if last == b".." {
            // globset's set looks up names and extensions in the subject's file name, and a
            // path ending in `..` has none (as `Path::file_name`), so its answer can differ
            // from what its globs say (`*.` does not match `a/..`). Ask it, to answer the same.
            let candidate = globset::Candidate::new(subject);
            self.whole().matches_into(&candidate, Some, into);
            return;
        }
        if let Some(hits) = self.exact.get(s) {
            into.extend(hits.iter().map(|i| *i as usize));
        }
        let mut keyed = |map: &Buckets, key: Option<&[u8]>| {
            if map.is_empty() {
                return;
            }
            if let Some(hits) = key.and_then(|k| map.get(k)) {
                into.extend(
                    hits.iter()
                        .filter(|i| self.shape_matches(**i, s))
                        .map(|i| *i as usize),
                );
            }
        };
        keyed(&self.by_first, Some(first_segment(s)));
        keyed(&self.by_last, Some(last));
        keyed(&self.by_extension, extension(last));
        into.extend(
            self.scan
                .iter()
                .filter(|i| self.shape_matches(**i, s))
                .map(|i| *i as usize),
        );
        if !self.delegated.globs.is_empty() {
            let candidate = globset::Candidate::new(subject);
            let globs = &self.delegated.globs;
            self.delegated().matches_into(
                &candidate,
                |i| globs.get(i).map(|(index, _)| *index as usize),
                into,
            );
        }
        if into.len() > 1 {
            into.sort_unstable();
        }
    }

    /// Whether any glob matches `subject`.
    pub(crate) fn is_match(&self, subject: &str) -> bool {
        let mut into = Vec::new();
        self.matches_into(subject, &mut into);
        !into.is_empty()
    }

    /// The lowest index of a glob matching `subject`.
    pub(crate) fn first_match(&self, subject: &str) -> Option<usize> {
        let mut into = Vec::new();
        self.matches_into(subject, &mut into);
        into.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(globs: &[&str], sep: bool, subject: &str) -> Vec<usize> {
        let mut set = GlobSet::default();
        for g in globs {
            set.add(g, sep).expect("valid glob");
        }
        let mut out = Vec::new();
        set.matches_into(subject, &mut out);
        out
    }

    fn theirs(globs: &[&str], sep: bool, subject: &str) -> Vec<usize> {
        let mut b = globset::GlobSetBuilder::new();
        for g in globs {
            b.add(builder(g, sep).build().expect("valid glob"));
        }
        b.build().expect("set").matches(subject)
    }

    #[test]
    fn the_usual_shapes_match_as_globset_does() {
        let globs = [
            "**/.env",
            "**/*.pem",
            "**/secrets.*",
            ".github/workflows/**",
            "/etc/shadow",
            "/etc/ssh/ssh_host_*key",
            "~/.ssh/**",
            "**/.aws/credentials*",
            "**/*.tfstate.*",
            "git/diff",
            "git/diff/**",
            "rm/-rf/\0*",
            "dd/**/of=\0dev\0*",
            "**",
            "a/**/b",
            "src/*.rs",
            "[ab]/x",
            "{a,b}.txt",
        ];
        for subject in [
            ".env",
            "config/.env",
            "config/.envrc",
            "/.env",
            "a//.env",
            "key.pem",
            ".pem",
            "a/b/key.pem",
            "secrets.yaml",
            "x/secrets.",
            ".github/workflows",
            ".github/workflows/",
            ".github/workflows/ci.yml",
            "/etc/shadow",
            "/etc/ssh/ssh_host_rsa_key",
            "~/.ssh/id",
            "x/.aws/credentials.bak",
            "a.tfstate.json",
            "git/diff",
            "git/diff/--stat",
            "git/difftool",
            "rm/-rf/\0etc",
            "dd/if=x/of=\0dev\0sda",
            "",
            "a/b",
            "a/x/y/b",
            "a//b",
            "src/main.rs",
            "src/a/b.rs",
            "a/x",
            "b.txt",
            "é/ü.pem",
        ] {
            for sep in [true, false] {
                assert_eq!(
                    ours(&globs, sep, subject),
                    theirs(&globs, sep, subject),
                    "{subject:?} (literal_separator {sep})"
                );
            }
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("**".to_string()),
            Just("*".to_string()),
            Just("".to_string()),
            "[ab.]{1,3}",
            "[ab.*]{1,4}",
            "[ab?]{1,2}",
        ]
    }

    fn glob() -> impl Strategy<Value = String> {
        prop::collection::vec(segment(), 1..5).prop_map(|s| s.join("/"))
    }

    fn subject() -> impl Strategy<Value = String> {
        prop::collection::vec("[ab.*]{0,4}", 1..6).prop_map(|s| s.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn every_answer_is_globsets(
            globs in prop::collection::vec(glob(), 1..6),
            subjects in prop::collection::vec(subject(), 1..8),
            sep in any::<bool>(),
        ) {
            let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
            for s in &subjects {
                prop_assert_eq!(ours(&globs, sep, s), theirs(&globs, sep, s), "{:?} on {:?}", globs, s);
            }
        }
    }
}
