//! Canonical JSON in the style of RFC 8785 (JSON Canonicalization Scheme).
//!
//! The canonical form of a [`serde_json::Value`] is produced as follows:
//!
//! * no insignificant whitespace;
//! * object members sorted by their keys compared as sequences of UTF-16 code units
//!   (RFC 8785 §3.2.3), regardless of the order held in the `Value`;
//! * strings escaped as in RFC 8785 §3.2.2.2: `"` and `\` are escaped, the control
//!   characters U+0008, U+0009, U+000A, U+000C and U+000D use their short escapes,
//!   other characters below U+0020 use `\u00xx` with lowercase hex, and everything
//!   else (including non-ASCII) is written as raw UTF-8;
//! * integers (values held as `i64`/`u64`) are written in plain decimal, exactly as
//!   `serde_json` writes them;
//! * floating-point numbers are written with the ECMAScript `Number.prototype.toString`
//!   algorithm required by RFC 8785 §3.2.2.3: the shortest digits that round-trip,
//!   an integer form for integral values below 10^21 (`1.0` becomes `1`, `-0.0`
//!   becomes `0`), plain decimals for exponents in `[-7, 21)` and `d.ddde±x` otherwise.
//!   `serde_json::Value` cannot hold NaN or infinities, so every value has exactly one
//!   canonical form and [`to_canonical`] never fails.
//!
//! Note that integers outside the IEEE 754 safe range (|n| > 2^53) are written exactly,
//! which is stricter than (and therefore may differ from) an ECMAScript implementation.

use serde_json::Value;

/// Returns the canonical JSON text of `value` (see the module documentation).
pub fn to_canonical(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// Returns the canonical JSON bytes of `value`, i.e. [`to_canonical`] as UTF-8.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    to_canonical(value).into_bytes()
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // RFC 8785 orders keys by UTF-16 code units. That is the order of the UTF-8 bytes
            // unless a key has a character above U+FFFF (a surrogate pair, 0xD800..) and
            // another one in U+E000..U+FFFF at the same place; below U+E000 the orders agree,
            // so keys without such characters (nearly all keys) sort without converting.
            if map.keys().all(|k| k.chars().all(|c| (c as u32) < 0xE000)) {
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            } else {
                entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

/// Compares two object keys in canonical order (RFC 8785 §3.2.3: by UTF-16 code units), for
/// writers that sort members themselves. Keys without a character from U+E000 up (whose
/// UTF-8 lead bytes are all below 0xEE) compare as bytes, which is then the same order.
pub fn compare_keys(a: &str, b: &str) -> std::cmp::Ordering {
    let plain = |k: &str| k.bytes().all(|b| b < 0xEE);
    if plain(a) && plain(b) {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Appends the canonical text of string `s` (quoted and escaped as RFC 8785 §3.2.2.2 says,
/// which is also how `serde_json` escapes).
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    // Most strings need no escape at all: copied whole.
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `s` has a byte that a JSON string escapes (`"`, `\\` or one below 0x20), eight
/// bytes at a time (every string of every record is scanned: a byte at a time, the scan was
/// about 4 % of a decision's instructions in the service). Each test below is exact for the
/// word as a whole (Hacker's Delight's "has a byte less than n", n ≤ 128), which is all that
/// is asked.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let v = u64::from_le_bytes(b);
        if below(v, 0x20)
            | below(v ^ (ONES * u64::from(b'"')), 1)
            | below(v ^ (ONES * u64::from(b'\\')), 1)
            != 0
        {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        write_f64(f, out);
    } else {
        // Unreachable without `arbitrary_precision`; fall back to serde_json's text.
        out.push_str(&n.to_string());
    }
}

/// Appends the canonical text of a double: ECMAScript `Number.prototype.toString` for finite
/// doubles (RFC 8785 §3.2.2.3); `null` for the others, which JSON cannot hold.
pub fn write_f64(f: f64, out: &mut String) {
    if !f.is_finite() {
        // Not representable in JSON; serde_json never stores these in a Value.
        out.push_str("null");
        return;
    }
    if f == 0.0 {
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, e.g. "1.2345e-7".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len() as i64;
    let n = exp + 1; // position of the decimal point relative to the digits
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(x: f64) -> String {
        to_canonical(&json!(x))
    }

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        let v = json!({"b": 1, "a": [true, null, {"d": "x", "c": false}]});
        assert_eq!(
            to_canonical(&v),
            r#"{"a":[true,null,{"c":false,"d":"x"}],"b":1}"#
        );
    }

    #[test]
    fn rfc8785_key_sorting_example() {
        // RFC 8785 §3.2.3 sorting example (keys only).
        let v = json!({
            "\u{20ac}": "Euro Sign",
            "\r": "Carriage Return",
            "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\u{1f600}": "Emoji: Grinning Face",
            "\u{80}": "Control",
            "\u{f6}": "Latin Small Letter O With Diaeresis"
        });
        let text = to_canonical(&v);
        let order = [
            "\"\\r\"",
            "\"1\"",
            "\"\u{80}\"",
            "\"\u{f6}\"",
            "\"\u{20ac}\"",
            "\"\u{1f600}\"",
            "\"\u{fb33}\"",
        ];
        let mut last = 0;
        for key in order {
            let pos = text.find(key).expect("key present");
            assert!(pos >= last, "{key} out of order in {text}");
            last = pos;
        }
    }

    #[test]
    fn escapes_strings() {
        let v = json!("a\"b\\c\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}é€");
        assert_eq!(
            to_canonical(&v),
            "\"a\\\"b\\\\c\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}é€\""
        );
    }

    #[test]
    fn integers() {
        assert_eq!(to_canonical(&json!(0)), "0");
        assert_eq!(to_canonical(&json!(-17)), "-17");
        assert_eq!(to_canonical(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(to_canonical(&json!(i64::MIN)), "-9223372036854775808");
    }

    #[test]
    fn floats_follow_ecmascript() {
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(0.5), "0.5");
        assert_eq!(f(-1.25), "-1.25");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e-6), "0.000001");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(123456789.125), "123456789.125");
        assert_eq!(f(1.5e300), "1.5e+300");
        assert_eq!(f(4.5e-10), "4.5e-10");
        // RFC 8785 Appendix B samples.
        assert_eq!(f(f64::from_bits(0x3eb0c6f7a0b5ed8d)), "0.000001");
        assert_eq!(
            f(f64::from_bits(0x7fefffffffffffff)),
            "1.7976931348623157e+308"
        );
        assert_eq!(f(f64::from_bits(0x0000000000000001)), "5e-324");
        assert_eq!(f(f64::from_bits(0x4340000000000000)), "9007199254740992");
        assert_eq!(f(f64::from_bits(0x444b1ae4d6e2ef50)), "1e+21");
        assert_eq!(f(1e23), "1e+23");
        assert_eq!(f(f64::from_bits(0x3fd3333333333333)), "0.3");
    }

    #[test]
    fn ignores_input_order() {
        let a: Value = serde_json::from_str(r#"{"z":1,"a":{"y":2,"b":3}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{ "a" : { "b":3, "y":2 }, "z":1 }"#).expect("json");
        assert_eq!(to_canonical(&a), to_canonical(&b));
    }

    /// The RFC 8785 order, as written before the byte-order fast path.
    fn reference(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(Vec<u16>, &String, &Value)> = map
                    .iter()
                    .map(|(k, v)| (k.encode_utf16().collect(), k, v))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let inner: Vec<String> = entries
                    .into_iter()
                    .map(|(_, k, v)| {
                        let mut key = String::new();
                        write_string(k, &mut key);
                        format!("{key}:{}", reference(v))
                    })
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            Value::String(s) => {
                let mut out = String::from("\"");
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\u{8}' => out.push_str("\\b"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\u{c}' => out.push_str("\\f"),
                        '\r' => out.push_str("\\r"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
            other => to_canonical(other),
        }
    }

    proptest::proptest! {
        /// The word-at-a-time scan says what the byte-at-a-time one it replaced says, for
        /// bytes of every kind: those it looks for, their neighbours (0x1F, 0x20, 0x21, 0x23,
        /// 0x5B, 0x5D), the same with the high bit set (0xA2, 0xDC, 0x9F, 0xA0), any byte, at
        /// any place in a word or in the remainder.
        #[test]
        fn the_word_scan_is_the_byte_scan(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        0x00u8, 0x01, 0x1F, 0x20, 0x21, b'"', 0x23, b'\\', 0x5B, 0x5D, 0x7F,
                        0x80, 0x9F, 0xA0, 0xA2, 0xDC, 0xFF, b'a',
                    ]),
                    proptest::prelude::any::<u8>(),
                    proptest::strategy::Just(b'x'),
                ],
                0..40,
            ),
        ) {
            let byte_scan = bytes.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20);
            proptest::prop_assert_eq!(needs_escape(&bytes), byte_scan);
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_paths_match_the_utf16_order_and_escapes(
            keys in proptest::collection::vec("(?s).{0,6}|[a-z_]{1,8}|[\u{e000}-\u{ffff}\u{10000}-\u{10ffff}a]{1,3}", 0..8),
            text in "(?s).{0,20}",
        ) {
            let mut map = serde_json::Map::new();
            for k in keys {
                map.insert(k, Value::String(text.clone()));
            }
            let v = Value::Object(map);
            proptest::prop_assert_eq!(to_canonical(&v), reference(&v));
        }

        #[test]
        fn compare_keys_is_the_utf16_order(
            mut keys in proptest::collection::vec("(?s).{0,6}|[a-z_]{1,8}|[\u{e000}-\u{ffff}\u{10000}-\u{10ffff}a]{1,3}", 0..8),
        ) {
            let mut utf16 = keys.clone();
            utf16.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            keys.sort_by(|a, b| compare_keys(a, b));
            proptest::prop_assert_eq!(keys, utf16);
        }
    }
}
