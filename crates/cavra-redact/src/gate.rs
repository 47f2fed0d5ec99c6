//! Which rules a text may concern: one pass of a case-insensitive Aho-Corasick automaton over
//! all keywords, instead of lowercasing the text and searching it once per keyword.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind};

/// Searches with the contiguous NFA after which the gate builds its DFA.
pub(crate) const DFA_AFTER: u32 = 256;

/// The keyword automaton of a rule set.
pub(crate) struct Gate {
    /// A contiguous NFA, not the DFA the builder picks for few patterns: a hook process builds
    /// the gate once and searches one short payload, and building the DFA was about 6 % of a
    /// whole hook call; the matches are the same.
    nfa: Option<AhoCorasick>,
    /// The DFA of the same keywords, built once the gate has searched [`DFA_AFTER`] texts: a
    /// long-lived process (the service redacts about forty strings per decision) then searches
    /// in about a third of the NFA's instructions. None inside when it could not be built.
    dfa: OnceLock<Option<AhoCorasick>>,
    searches: AtomicU32,
    keywords: Vec<String>,
    /// Keyword (pattern) index → the rules that listed it.
    rules_of: Vec<Vec<usize>>,
}

/// The automaton of `keywords` of the given kind, matching ASCII letters in any case.
fn automaton(keywords: &[String], kind: AhoCorasickKind) -> Option<AhoCorasick> {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(kind))
        .build(keywords)
        .ok()
}

impl Gate {
    /// The gate of rules whose lowercased keywords are given in rule order.
    pub(crate) fn build<'a>(rules: impl Iterator<Item = &'a [String]>) -> Gate {
        let mut keywords: Vec<String> = Vec::new();
        let mut rules_of: Vec<Vec<usize>> = Vec::new();
        for (i, rule) in rules.enumerate() {
            for k in rule {
                match keywords.iter().position(|existing| existing == k) {
                    Some(at) => rules_of[at].push(i),
                    None => {
                        keywords.push(k.clone());
                        rules_of.push(vec![i]);
                    }
                }
            }
        }
        Gate {
            nfa: automaton(&keywords, AhoCorasickKind::ContiguousNFA),
            dfa: OnceLock::new(),
            searches: AtomicU32::new(0),
            keywords,
            rules_of,
        }
    }

    /// The automaton to search with: the DFA once there is one, else the NFA.
    fn automaton(&self) -> Option<&AhoCorasick> {
        if let Some(dfa) = self.dfa.get() {
            return dfa.as_ref().or(self.nfa.as_ref());
        }
        if self.searches.fetch_add(1, Ordering::Relaxed) >= DFA_AFTER {
            let dfa = self
                .dfa
                .get_or_init(|| automaton(&self.keywords, AhoCorasickKind::DFA));
            return dfa.as_ref().or(self.nfa.as_ref());
        }
        self.nfa.as_ref()
    }

    /// Whether the gate searches with its DFA now (for the tests).
    #[cfg(test)]
    pub(crate) fn has_dfa(&self) -> bool {
        matches!(self.dfa.get(), Some(Some(_)))
    }

    /// Marks in `active` every rule one of whose keywords occurs in `text`. Without an
    /// automaton (it could not be built) every rule is marked: the gate fails open to
    /// redaction, never closed.
    pub(crate) fn mark(&self, text: &str, active: &mut [bool]) {
        match self.automaton() {
            Some(ac) => {
                for m in ac.find_overlapping_iter(text) {
                    for &r in &self.rules_of[m.pattern().as_usize()] {
                        active[r] = true;
                    }
                }
            }
            None => active.iter_mut().for_each(|a| *a = true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn builtin_keywords() -> Vec<Vec<String>> {
        crate::builtin_rules()
            .into_iter()
            .map(|r| r.keywords.iter().map(|k| k.to_ascii_lowercase()).collect())
            .collect()
    }

    /// Texts made of pieces of the built-in keywords in any letter case, overlapping and cut
    /// short, between other characters (non-ASCII ones included).
    fn text() -> impl Strategy<Value = String> {
        let keywords: Vec<String> = builtin_keywords().into_iter().flatten().collect();
        let piece = prop_oneof![
            3 => (proptest::sample::select(keywords), any::<u64>(), 0usize..4).prop_map(|(k, case, cut)| {
                let k: String = k
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if case >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                    .collect();
                let keep = k.len().saturating_sub(cut % 2 * cut).max(1);
                k.chars().take(keep).collect::<String>()
            }),
            2 => "[a-zA-Z0-9_=:/. -]{0,12}",
            1 => proptest::collection::vec(any::<char>(), 0..4)
                .prop_map(|c| c.into_iter().collect::<String>()),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        /// The DFA marks exactly the rules the NFA marks (the automaton it replaces), for the
        /// built-in rules' keywords.
        #[test]
        fn the_dfa_marks_what_the_nfa_marks(texts in proptest::collection::vec(text(), 1..20)) {
            let keywords = builtin_keywords();
            let gate = Gate::build(keywords.iter().map(Vec::as_slice));
            let nfa = gate.nfa.as_ref().expect("nfa");
            let dfa = automaton(&gate.keywords, AhoCorasickKind::DFA).expect("dfa");
            for t in &texts {
                let marks = |ac: &AhoCorasick| {
                    let mut active = vec![false; keywords.len()];
                    for m in ac.find_overlapping_iter(t.as_str()) {
                        for &r in &gate.rules_of[m.pattern().as_usize()] {
                            active[r] = true;
                        }
                    }
                    active
                };
                prop_assert_eq!(marks(&dfa), marks(nfa), "{:?}", t);
            }
        }
    }

    /// The gate searches with the NFA for its first DFA_AFTER texts, then with the DFA, and
    /// marks the same rules before and after.
    #[test]
    fn the_gate_takes_its_dfa_after_some_searches() {
        let keywords = builtin_keywords();
        let gate = Gate::build(keywords.iter().map(Vec::as_slice));
        let text = "export GITHUB_TOKEN=ghp_x; curl https://u:p@h";
        let mark = || {
            let mut active = vec![false; keywords.len()];
            gate.mark(text, &mut active);
            active
        };
        let first = mark();
        assert!(first.iter().any(|a| *a));
        for _ in 1..DFA_AFTER {
            assert_eq!(mark(), first);
        }
        assert!(!gate.has_dfa());
        assert_eq!(mark(), first);
        assert!(gate.has_dfa());
        assert_eq!(mark(), first);
    }
}
