//! Reading claims out of a verified token's payload.

use super::*;

/// A claim by name; a dotted name that is not itself a claim walks into nested objects
/// (`realm_access.roles`).
pub(super) fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut segments = name.split('.');
    let mut current = claims.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

pub(super) fn required_string(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<String, IdentityError> {
    match lookup(claims, name) {
        None | Some(Value::Null) => Err(IdentityError::MissingClaim(printable(name))),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err(IdentityError::InvalidClaim(printable(name))),
    }
}

/// A list of strings, or one string of space-separated values (as `scope` is written).
pub(super) fn string_set(value: &Value, name: &str) -> Result<BTreeSet<String>, IdentityError> {
    match value {
        Value::String(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(IdentityError::InvalidClaim(printable(name))),
            })
            .collect(),
        _ => Err(IdentityError::InvalidClaim(printable(name))),
    }
}

/// Caller-supplied text (a `kid`, an `alg`) made safe to echo in an error: printable ASCII,
/// at most 64 characters.
pub(super) fn printable(text: &str) -> String {
    if text.len() <= 64 && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        text.to_owned()
    } else {
        "(unprintable)".to_owned()
    }
}
