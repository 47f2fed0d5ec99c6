//! A typed record written out once: redacted while it is serialised, in its canonical form
//! (for the log entry) and in its own field order (for the caller's answer) in the same pass,
//! instead of becoming a `serde_json::Value` that is then walked, sorted and serialised again.
//!
//! The result is byte for byte what the value path gives ([`crate::log::prepare_decision_body`]
//! on `serde_json::to_value` of the same record, then `serde_json::to_vec` of the redacted
//! value): the same strings redacted with the same findings, in the same order (the tests of
//! `log.rs` compare both over generated records).

use std::borrow::Cow;
use std::fmt::Write as _;

use cavra_evidence::canonical;
use cavra_redact::{Finding, Redactor};
use serde::ser::{self, Serialize};

/// What [`write`] produced.
pub(crate) struct Written {
    /// The redacted value's canonical JSON.
    pub(crate) canonical: String,
    /// The redacted value's JSON in its own field order (as `serde_json::to_vec` writes it).
    pub(crate) json: String,
    /// Where the top-level member named by `mark` lies in `json`, when there is one.
    pub(crate) marked: Option<std::ops::Range<usize>>,
    /// What was masked: every finding of the first rule set, then every one of the second
    /// (the order of one pass over the whole value with each).
    pub(crate) findings: Vec<Finding>,
}

/// The error of a value that JSON cannot hold (a map key that is not a string or number).
#[derive(Debug)]
pub(crate) struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Serialises `value` redacted with `first` and then, when given, `second` (each string goes
/// through both in turn, as two passes over the whole value would), noting where the
/// top-level member `mark` lies in the field-order JSON.
pub(crate) fn write<T: Serialize + ?Sized>(
    value: &T,
    first: &Redactor,
    second: Option<&Redactor>,
    mark: &str,
) -> Result<Written, Error> {
    let mut w = Writer {
        first,
        second,
        mark,
        pointer: String::new(),
        sensitive: false,
        depth: 0,
        canonical: String::with_capacity(2048),
        json: String::with_capacity(2048),
        members: Vec::new(),
        order: Vec::new(),
        scratch: String::new(),
        marked: None,
        findings: Vec::new(),
        second_findings: Vec::new(),
    };
    value.serialize(&mut w)?;
    let mut findings = w.findings;
    findings.extend(w.second_findings);
    Ok(Written {
        canonical: w.canonical,
        json: w.json,
        marked: w.marked,
        findings,
    })
}

/// A member of an object being written: its key and where its `"key":value` text lies in
/// the canonical buffer (members are written there back to back and put in key order when
/// the object ends).
struct Member {
    key: Cow<'static, str>,
    /// Whether the key has no character from U+E000 up, so that its bytes sort as its UTF-16
    /// code units do (see [`canonical::compare_keys`]): found once, not in every comparison.
    plain: bool,
    /// The key's first eight bytes, big-endian, zeros after a shorter key: two plain keys
    /// whose prefixes differ are in the order of their prefixes, so most comparisons of a
    /// sort are one integer comparison (equal prefixes compare the whole keys).
    prefix: u64,
    start: usize,
    end: usize,
}

impl Member {
    /// The canonical order of two members' keys.
    fn order(&self, other: &Member) -> std::cmp::Ordering {
        if self.plain && other.plain {
            self.prefix
                .cmp(&other.prefix)
                .then_with(|| self.key.as_bytes().cmp(other.key.as_bytes()))
        } else {
            canonical::compare_keys(&self.key, &other.key)
        }
    }
}

/// [`Member::prefix`] of a key.
fn prefix(key: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// What the writer needs to know of a member's key besides its text.
#[derive(Clone, Copy, PartialEq, Debug)]
struct KeyInfo {
    /// It names a secret ([`cavra_redact::is_sensitive_key`]).
    sensitive: bool,
    /// [`Member::plain`].
    plain: bool,
    /// Its JSON text is the key in quotes and its pointer token is the key (no character
    /// JSON escapes, no `~` or `/`).
    bare: bool,
}

impl KeyInfo {
    fn of(key: &str, sensitive: bool) -> KeyInfo {
        KeyInfo {
            sensitive,
            plain: key.bytes().all(|b| b < 0xEE),
            bare: !key
                .bytes()
                .any(|b| b < 0x20 || matches!(b, b'"' | b'\\' | b'~' | b'/')),
        }
    }

    fn bits(self) -> u64 {
        u64::from(self.sensitive) | u64::from(self.plain) << 1 | u64::from(self.bare) << 2
    }

    fn from_bits(bits: u64) -> KeyInfo {
        KeyInfo {
            sensitive: bits & 1 != 0,
            plain: bits & 2 != 0,
            bare: bits & 4 != 0,
        }
    }
}

/// Slots of [`STATIC_KEYS`].
const STATIC_KEY_SLOTS: usize = 1024;

/// The [`KeyInfo`] of static keys (a struct's field names, which are most keys of a record),
/// by the key's address and length: each slot holds the address (48 bits), the length (12
/// bits), the info (3 bits) and a bit saying the slot is filled. A `&'static str` at an
/// address never changes, so an entry whose address and length match is the key's; a
/// collision only means the info is found again. One load instead of a hash of the key's
/// text, a lookup and a comparison for each of a record's forty-odd keys.
static STATIC_KEYS: [std::sync::atomic::AtomicU64; STATIC_KEY_SLOTS] =
    [const { std::sync::atomic::AtomicU64::new(0) }; STATIC_KEY_SLOTS];

/// The [`KeyInfo`] of a static key, remembered in [`STATIC_KEYS`].
fn static_key_info(key: &'static str) -> KeyInfo {
    use std::sync::atomic::Ordering::Relaxed;
    let addr = key.as_ptr() as usize as u64;
    let len = key.len() as u64;
    if addr >= 1 << 48 || len >= 1 << 12 {
        return KeyInfo::of(key, cavra_redact::is_sensitive_key(key));
    }
    let tag = 1 << 63 | len << 48 | addr;
    const TAG: u64 = (1 << 63) | ((1 << 60) - 1);
    // Two slots a key may take (a record's forty-odd keys in one slot each would collide).
    let slot = ((addr ^ len << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
    let slot = slot % STATIC_KEY_SLOTS;
    for at in [slot, slot ^ 1] {
        let entry = STATIC_KEYS[at].load(Relaxed);
        if entry & TAG == tag {
            return KeyInfo::from_bits(entry >> 60 & 7);
        }
    }
    let info = KeyInfo::of(key, cavra_redact::is_sensitive_key(key));
    let at = if STATIC_KEYS[slot].load(Relaxed) == 0 {
        slot
    } else {
        slot ^ 1
    };
    STATIC_KEYS[at].store(tag | info.bits() << 60, Relaxed);
    info
}

/// Objects with at most this many members are sorted by insertion (stable); the standard
/// library's stable sort allocates a buffer for more than twenty, and a decision record has
/// about thirty. Larger objects (a map in the request) take the standard sort.
const INSERTION_SORT_MEMBERS: usize = 64;

/// Puts `order` (indexes of `members`) in canonical key order, keeping the order of equal
/// keys.
fn sort_members(members: &[Member], order: &mut [usize]) {
    if members.len() > INSERTION_SORT_MEMBERS {
        order.sort_by(|&a, &b| members[a].order(&members[b]));
        return;
    }
    for i in 1..order.len() {
        let mut j = i;
        while j > 0
            && members[order[j - 1]].order(&members[order[j]]) == std::cmp::Ordering::Greater
        {
            order.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// The canonical order of an object whose keys are all static, by the keys' addresses and
/// lengths in the order written.
struct KnownOrder {
    keys: Vec<(usize, usize)>,
    order: Vec<usize>,
}

/// Objects whose order [`canonical_order`] remembers, per thread, at most: a decision's body
/// has three kinds (the body, the record, a matched rule).
const KNOWN_ORDERS: usize = 16;

thread_local! {
    /// The orders of the objects of static keys this thread wrote lately: a decision's
    /// objects have the same keys in the same order every time, and sorting the record's
    /// thirty members took about a tenth of the writer's instructions.
    static KNOWN: std::cell::RefCell<Vec<KnownOrder>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Fills `order` with the indexes of `members` in canonical key order: remembered for an
/// object of static keys written before with the same keys in the same order (a static key's
/// text at an address never changes, so the same addresses are the same keys), else sorted.
fn canonical_order(members: &[Member], order: &mut Vec<usize>) {
    order.clear();
    let id = |m: &Member| (m.key.as_ptr() as usize, m.key.len());
    let remember = members.len() <= INSERTION_SORT_MEMBERS
        && members.iter().all(|m| matches!(m.key, Cow::Borrowed(_)));
    if remember {
        let found = KNOWN.with(|known| {
            let Ok(known) = known.try_borrow() else {
                return false;
            };
            let Some(k) = known.iter().find(|k| {
                k.keys.len() == members.len()
                    && k.keys.iter().zip(members).all(|(k, m)| *k == id(m))
            }) else {
                return false;
            };
            order.extend_from_slice(&k.order);
            true
        });
        if found {
            return;
        }
    }
    order.extend(0..members.len());
    sort_members(members, order);
    if remember {
        KNOWN.with(|known| {
            if let Ok(mut known) = known.try_borrow_mut() {
                if known.len() >= KNOWN_ORDERS {
                    known.remove(0);
                }
                known.push(KnownOrder {
                    keys: members.iter().map(id).collect(),
                    order: order.clone(),
                });
            }
        });
    }
}

struct Writer<'r> {
    first: &'r Redactor,
    second: Option<&'r Redactor>,
    mark: &'r str,
    /// The RFC 6901 pointer of the value being written.
    pointer: String,
    /// Whether a key above names a secret (its string values are masked whole).
    sensitive: bool,
    depth: usize,
    canonical: String,
    json: String,
    /// The members of the objects being written, innermost last.
    members: Vec<Member>,
    /// The canonical order of the object being ended (indexes of its members).
    order: Vec<usize>,
    scratch: String,
    marked: Option<std::ops::Range<usize>>,
    findings: Vec<Finding>,
    second_findings: Vec<Finding>,
}

impl Writer<'_> {
    fn both(&mut self, text: &str) {
        self.canonical.push_str(text);
        self.json.push_str(text);
    }

    fn string(&mut self, s: &str) {
        let once =
            self.first
                .redact_json_string(s, &self.pointer, self.sensitive, &mut self.findings);
        let twice = match self.second {
            Some(second) => second.redact_json_string(
                once.as_deref().unwrap_or(s),
                &self.pointer,
                self.sensitive,
                &mut self.second_findings,
            ),
            None => None,
        };
        let out = twice.as_deref().or(once.as_deref()).unwrap_or(s);
        self.text(out);
    }

    /// Writes a text as it is, in both forms.
    fn text(&mut self, out: &str) {
        let start = self.json.len();
        canonical::write_string(out, &mut self.json);
        // The same escapes in both forms (RFC 8785's are serde_json's).
        let (json, canonical) = (&self.json, &mut self.canonical);
        canonical.push_str(&json[start..]);
    }

    /// [`Writer::string`] of a static text (an enum variant's name: a record's decisions,
    /// action type, severity and mode): one that these rule sets left as it is before, where
    /// no key names a secret, is written without redacting it again (the same text under
    /// the same rules gives the same answer; [`CLEAN`]).
    fn static_string(&mut self, s: &'static str) {
        if self.sensitive {
            self.string(s);
            return;
        }
        let key = CleanText {
            first: self.first.id(),
            second: self.second.map_or(0, Redactor::id),
            addr: s.as_ptr() as usize,
            len: s.len(),
        };
        let slot =
            (key.addr as u64 ^ (key.len as u64) << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
        let slot = slot as usize % CLEAN_TEXTS;
        if CLEAN.with(|c| c.try_borrow().is_ok_and(|c| c[slot] == key)) {
            self.text(s);
            return;
        }
        let before = self.findings.len() + self.second_findings.len();
        self.string(s);
        if self.findings.len() + self.second_findings.len() == before {
            CLEAN.with(|c| {
                if let Ok(mut c) = c.try_borrow_mut() {
                    c[slot] = key;
                }
            });
        }
    }

    fn integer(&mut self, n: impl std::fmt::Display) {
        let start = self.json.len();
        let _ = write!(self.json, "{n}");
        let (json, canonical) = (&self.json, &mut self.canonical);
        canonical.push_str(&json[start..]);
    }

    fn float(&mut self, f: f64) {
        if f.is_finite() {
            canonical::write_f64(f, &mut self.canonical);
            // serde_json's own text of a double (what the answer has).
            self.json.push_str(&json_double(f));
        } else {
            // As `serde_json::to_value` makes it: null.
            self.both("null");
        }
    }

    fn begin_object(&mut self) -> usize {
        self.json.push('{');
        self.depth += 1;
        self.members.len()
    }

    /// Starts member `key`: its pointer, its sensitivity and its text; returns what to restore.
    fn begin_member(&mut self, key: Cow<'static, str>, first: bool) -> (usize, bool) {
        let info = match &key {
            Cow::Borrowed(k) => static_key_info(k),
            Cow::Owned(k) => KeyInfo::of(k, sensitive_key(k)),
        };
        if !first {
            self.json.push(',');
        }
        let start = self.canonical.len();
        let saved = (self.pointer.len(), self.sensitive);
        self.pointer.push('/');
        if info.bare {
            // `"key":` once, copied: the same text in both forms.
            let from = self.json.len();
            self.json.push('"');
            self.json.push_str(&key);
            self.json.push_str("\":");
            let (json, canonical) = (&self.json, &mut self.canonical);
            canonical.push_str(&json[from..]);
            self.pointer.push_str(&key);
        } else {
            canonical::write_string(&key, &mut self.json);
            self.json.push(':');
            canonical::write_string(&key, &mut self.canonical);
            self.canonical.push(':');
            cavra_redact::push_pointer_token(&mut self.pointer, &key);
        }
        self.sensitive = self.sensitive || info.sensitive;
        self.members.push(Member {
            prefix: prefix(&key),
            key,
            plain: info.plain,
            start,
            end: start,
        });
        saved
    }

    fn end_member(&mut self, saved: (usize, bool)) {
        self.pointer.truncate(saved.0);
        self.sensitive = saved.1;
        if let Some(m) = self.members.last_mut() {
            m.end = self.canonical.len();
        }
    }

    /// Ends the object whose members start at `from`: the canonical text of its members is
    /// put in key order (RFC 8785: by UTF-16 code units) with separators.
    fn end_object(&mut self, from: usize) {
        self.json.push('}');
        self.depth -= 1;
        let members = &self.members[from..];
        let Some(start) = members.first().map(|m| m.start) else {
            self.canonical.push_str("{}");
            return;
        };
        let mut order = std::mem::take(&mut self.order);
        canonical_order(members, &mut order);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.push_str(&self.canonical[start..]);
        self.canonical.truncate(start);
        self.canonical.push('{');
        for (i, &at) in order.iter().enumerate() {
            if i > 0 {
                self.canonical.push(',');
            }
            let m = &members[at];
            self.canonical
                .push_str(&scratch[m.start - start..m.end - start]);
        }
        self.canonical.push('}');
        self.members.truncate(from);
        self.scratch = scratch;
        self.order = order;
    }
}

/// Appends `/` and an array index to a pointer (what `write!(p, "/{i}")` writes, without the
/// formatting machinery).
fn push_index(pointer: &mut String, mut i: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (i % 10) as u8;
        i /= 10;
        if i == 0 {
            break;
        }
    }
    pointer.push('/');
    for &d in &digits[at..] {
        pointer.push(char::from(d));
    }
}

/// A static text that the rule sets `first` and `second` (their [`Redactor::id`]s; 0 for none)
/// leave as it is, by its address and length.
#[derive(Clone, Copy, PartialEq)]
struct CleanText {
    first: u64,
    second: u64,
    addr: usize,
    len: usize,
}

/// Slots of [`CLEAN`].
const CLEAN_TEXTS: usize = 64;

thread_local! {
    /// Static texts this thread found clean lately ([`Writer::static_string`]). A rule set's
    /// id is never 0, so an empty slot matches nothing.
    static CLEAN: std::cell::RefCell<[CleanText; CLEAN_TEXTS]> = const {
        std::cell::RefCell::new([CleanText { first: 0, second: 0, addr: 0, len: 0 }; CLEAN_TEXTS])
    };
}

/// Keys whose sensitivity [`sensitive_key`] remembers, per thread, at most.
const SENSITIVE_KEYS_KEPT: usize = 512;

/// FNV-1a: a key of a record is a short ASCII word, which SipHash takes several times as
/// long to hash as FNV; the cache holds no attacker's data beyond what it can forget.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

thread_local! {
    /// The sensitivity of the keys this thread wrote lately: a decision record's forty-odd
    /// keys are the same every time, and [`cavra_redact::is_sensitive_key`] normalises and
    /// searches each (about 400 instructions a key, 16,000 a decision) where a lookup costs a
    /// fraction. Emptied when full, so a stream of distinct keys keeps it bounded.
    static SENSITIVE_KEYS: std::cell::RefCell<
        std::collections::HashMap<Box<str>, bool, std::hash::BuildHasherDefault<Fnv>>,
    > = std::cell::RefCell::new(std::collections::HashMap::default());
}

/// [`cavra_redact::is_sensitive_key`], remembered per thread.
fn sensitive_key(key: &str) -> bool {
    SENSITIVE_KEYS.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return cavra_redact::is_sensitive_key(key);
        };
        if let Some(&sensitive) = cache.get(key) {
            return sensitive;
        }
        let sensitive = cavra_redact::is_sensitive_key(key);
        if cache.len() >= SENSITIVE_KEYS_KEPT {
            cache.clear();
        }
        cache.insert(key.into(), sensitive);
        sensitive
    })
}

/// serde_json's text of a finite double.
fn json_double(f: f64) -> String {
    serde_json::to_string(&f).unwrap_or_else(|_| "null".into())
}

/// An array, an object, or a one-member object around either (an enum variant with data).
pub(crate) struct Compound<'a, 'r> {
    w: &'a mut Writer<'r>,
    /// Members of the object (its first member's index), or None for an array.
    object: Option<usize>,
    /// Items or members so far.
    count: usize,
    /// The one-member object of an enum variant around this array or object, to close.
    variant: Option<(usize, (usize, bool))>,
    /// The member begun by `serialize_key`, waiting for its value.
    pending: Option<Begun>,
}

/// A member begun: the pointer and sensitivity to restore, and whether it is the top-level
/// member to mark.
struct Begun {
    saved: (usize, bool),
    marked: bool,
}

impl<'a, 'r> Compound<'a, 'r> {
    fn array(w: &'a mut Writer<'r>, variant: Option<(usize, (usize, bool))>) -> Self {
        w.both("[");
        w.depth += 1;
        Compound {
            w,
            object: None,
            count: 0,
            variant,
            pending: None,
        }
    }

    fn object(w: &'a mut Writer<'r>, variant: Option<(usize, (usize, bool))>) -> Self {
        let from = w.begin_object();
        Compound {
            w,
            object: Some(from),
            count: 0,
            variant,
            pending: None,
        }
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.count > 0 {
            self.w.both(",");
        }
        let saved = self.w.pointer.len();
        push_index(&mut self.w.pointer, self.count);
        value.serialize(&mut *self.w)?;
        self.w.pointer.truncate(saved);
        self.count += 1;
        Ok(())
    }

    fn member<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        let member = self.begin(key);
        self.value_of(member, value)
    }

    /// Begins member `key`: what [`Compound::value_of`] needs to end it.
    fn begin(&mut self, key: Cow<'static, str>) -> Begun {
        let marked = self.w.depth == 1 && key == self.w.mark;
        let saved = self.w.begin_member(key, self.count == 0);
        Begun { saved, marked }
    }

    /// Writes the value of a begun member and ends it.
    fn value_of<T: Serialize + ?Sized>(&mut self, member: Begun, value: &T) -> Result<(), Error> {
        let start = self.w.json.len();
        value.serialize(&mut *self.w)?;
        if member.marked {
            self.w.marked = Some(start..self.w.json.len());
        }
        self.w.end_member(member.saved);
        self.count += 1;
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        match self.object {
            Some(from) => self.w.end_object(from),
            None => {
                self.w.both("]");
                self.w.depth -= 1;
            }
        }
        if let Some((from, saved)) = self.variant {
            self.w.end_member(saved);
            self.w.end_object(from);
        }
        Ok(())
    }
}

impl Writer<'_> {
    /// Opens the one-member object `{"variant": …}` of an enum variant with data.
    fn variant(&mut self, variant: &'static str) -> (usize, (usize, bool)) {
        let from = self.begin_object();
        let saved = self.begin_member(Cow::Borrowed(variant), true);
        (from, saved)
    }
}

/// Integers, written as they are in both forms.
macro_rules! integers {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<(), Error> {
            self.integer(v);
            Ok(())
        })*
    };
}

impl<'a, 'r> ser::Serializer for &'a mut Writer<'r> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'r>;
    type SerializeTuple = Compound<'a, 'r>;
    type SerializeTupleStruct = Compound<'a, 'r>;
    type SerializeTupleVariant = Compound<'a, 'r>;
    type SerializeMap = Compound<'a, 'r>;
    type SerializeStruct = Compound<'a, 'r>;
    type SerializeStructVariant = Compound<'a, 'r>;

    integers!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
    );

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.both(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        // As serde_json's value: an i64 or u64 when it fits, else an error.
        if let Ok(v) = i64::try_from(v) {
            self.integer(v);
        } else if let Ok(v) = u64::try_from(v) {
            self.integer(v);
        } else {
            return Err(Error("number out of range".into()));
        }
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        match u64::try_from(v) {
            Ok(v) => {
                self.integer(v);
                Ok(())
            }
            Err(_) => Err(Error("number out of range".into())),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        // serde_json's value keeps an f32 as the f64 it widens to.
        self.float(f64::from(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq as _;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.both("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.both("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.static_string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let (from, saved) = self.variant(variant);
        value.serialize(&mut *self)?;
        self.end_member(saved);
        self.end_object(from);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'r>, Error> {
        Ok(Compound::array(self, None))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'r>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'r>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'r>, Error> {
        let around = self.variant(variant);
        Ok(Compound::array(self, Some(around)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'r>, Error> {
        Ok(Compound::object(self, None))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a, 'r>, Error> {
        Ok(Compound::object(self, None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'r>, Error> {
        let around = self.variant(variant);
        Ok(Compound::object(self, Some(around)))
    }
}

/// The serde traits of arrays: each element is an item.
macro_rules! items {
    ($($kind:ident::$method:ident),* $(,)?) => {
        $(impl ser::$kind for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.item(value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        })*
    };
}

items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

/// The serde traits of structs: each field is a member.
macro_rules! members {
    ($($kind:ident),* $(,)?) => {
        $(impl ser::$kind for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.member(Cow::Borrowed(key), value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        })*
    };
}

members!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let key = key.serialize(KeyText)?;
        self.pending = Some(self.begin(key));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let member = self
            .pending
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        self.value_of(member, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// A map key as text, as serde_json's value accepts it: strings, characters, booleans,
/// integers and unit variants.
struct KeyText;

/// The text of a key of these kinds.
macro_rules! key_text {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<Self::Ok, Error> {
            Ok(Cow::Owned(v.to_string()))
        })*
    };
}

/// Key kinds JSON has no text for.
macro_rules! not_a_key {
    ($($method:ident($($arg:ty),*) -> $out:ty),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$out, Error> {
            Err(Error("a map key must be a string".into()))
        })*
    };
}

impl ser::Serializer for KeyText {
    type Ok = Cow<'static, str>;
    type Error = Error;
    type SerializeSeq = ser::Impossible<Cow<'static, str>, Error>;
    type SerializeTuple = ser::Impossible<Cow<'static, str>, Error>;
    type SerializeTupleStruct = ser::Impossible<Cow<'static, str>, Error>;
    type SerializeTupleVariant = ser::Impossible<Cow<'static, str>, Error>;
    type SerializeMap = ser::Impossible<Cow<'static, str>, Error>;
    type SerializeStruct = ser::Impossible<Cow<'static, str>, Error>;
    type SerializeStructVariant = ser::Impossible<Cow<'static, str>, Error>;

    key_text!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_char(char),
        serialize_str(&str),
    );
    not_a_key!(
        serialize_f32(f32) -> Self::Ok,
        serialize_f64(f64) -> Self::Ok,
        serialize_bytes(&[u8]) -> Self::Ok,
        serialize_none() -> Self::Ok,
        serialize_unit() -> Self::Ok,
        serialize_unit_struct(&'static str) -> Self::Ok,
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant,
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<Self::Ok, Error> {
        Err(Error("a map key must be a string".into()))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Error> {
        Ok(Cow::Borrowed(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Self::Ok, Error> {
        Err(Error("a map key must be a string".into()))
    }
}

#[cfg(test)]
pub(crate) mod tests;
