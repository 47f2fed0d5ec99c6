//! What a destination kind implements: send one envelope, say how it went.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// One envelope on its way to one destination.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The tenant.
    pub tenant: String,
    /// The event.
    pub event_id: String,
    /// Its type.
    pub event_kind: String,
    /// The destination.
    pub destination: String,
    /// The key receivers deduplicate on.
    pub idempotency_key: String,
    /// The envelope (redacted, signed).
    pub envelope: Value,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The destination acknowledged the event.
    Delivered,
    /// It failed in a way another attempt may fix (a 5xx, a timeout, a reset, a 429); the
    /// destination may have said when to come back.
    Retry {
        /// `Retry-After`, in milliseconds.
        after_ms: Option<u64>,
    },
    /// It failed in a way another attempt will not fix (the destination refused the event
    /// as malformed or unauthorised): a dead letter at once, kept for an operator's retry.
    Permanent,
}

/// An attempt's result, as recorded in the evidence log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// How it went.
    pub verdict: Verdict,
    /// A status word or code (`200`, `503`, `timeout`, `connection refused`, `nack`).
    pub status: String,
    /// What was sent, in one line, without secrets (`POST https://…/services/collector/event
    /// 1234 bytes`).
    pub request: String,
    /// The start of the answer (redacted again before it is recorded).
    pub response: String,
}

impl Sent {
    /// A creation's record naming what it made (`created SEC-12`): the text at `pointer` (a
    /// JSON pointer) in the answer of a delivered request; other records stay as they are.
    pub fn naming_created(self, pointer: &str) -> Sent {
        if self.verdict != Verdict::Delivered {
            return self;
        }
        let answer: serde_json::Value =
            serde_json::from_str(&self.response).unwrap_or(serde_json::Value::Null);
        match answer.pointer(pointer).and_then(serde_json::Value::as_str) {
            Some(made) => Sent {
                status: format!("created {made}"),
                ..self
            },
            None => self,
        }
    }
}

/// The envelope's JSON as sent by the kinds that send it as it is (queues): written into
/// bytes directly, not through `Display` (`to_string`), which formats a value about three
/// times slower and was 5 % of a delivery's instructions (docs/benchmarks.md).
/// An envelope that does not serialise is a permanent failure of its delivery, recorded as
/// such (the `Err` is the delivery's result).
pub(crate) fn envelope_bytes(msg: &Outgoing) -> Result<Vec<u8>, Sent> {
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer(&mut out, &msg.envelope).map_err(|e| Sent {
        verdict: Verdict::Permanent,
        status: "not JSON".into(),
        request: String::new(),
        response: format!("the envelope is not JSON: {e}"),
    })?;
    Ok(out)
}

/// The most of a response kept in the delivery record.
pub const RESPONSE_EXCERPT: usize = 512;

/// Cuts `text` to [`RESPONSE_EXCERPT`] bytes at a character boundary.
pub fn excerpt(text: &str) -> String {
    if text.len() <= RESPONSE_EXCERPT {
        return text.to_string();
    }
    let mut end = RESPONSE_EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A boxed future of an attempt.
pub type Attempt<'a> = Pin<Box<dyn Future<Output = Sent> + Send + 'a>>;

/// A destination.
pub trait Sink: Send + Sync {
    /// The kind (`splunk_hec`, `ocsf_https`).
    fn kind(&self) -> &'static str;

    /// Sends one envelope; never panics, every failure is a [`Sent`].
    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a>;

    /// Connects and sets up what the destination needs (a NATS stream, an AMQP exchange)
    /// before the first event, so a misconfiguration shows at start. A failure here is
    /// reported, not fatal: the destination may come up later, and each attempt connects
    /// again until it does.
    fn prepare(&self) -> Prepared<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// A boxed future of [`Sink::prepare`]: why it failed, when it did.
pub type Prepared<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_at_a_character() {
        assert_eq!(excerpt("ok"), "ok");
        let long = "é".repeat(400);
        let e = excerpt(&long);
        assert!(e.len() <= RESPONSE_EXCERPT + '…'.len_utf8());
        assert!(e.ends_with('…'));
    }
}
