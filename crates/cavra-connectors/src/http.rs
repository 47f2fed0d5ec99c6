//! What the HTTP kinds share: the client (rustls on aws-lc-rs, no redirects, a timeout, an
//! optional private CA) and how an answer becomes a [`Verdict`].

use std::time::Duration;

use crate::ConnectorError;
use crate::sink::{Sent, Verdict, excerpt};

/// The largest response body read (the rest is not needed for an excerpt or an ack).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A client for one connector. Redirects are not followed: a destination that answers with
/// one does not get to send the event (and its credentials) somewhere else.
pub(crate) fn client(
    name: &str,
    timeout_ms: u64,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, ConnectorError> {
    let setup = |reason: String| ConnectorError::Setup {
        name: name.to_string(),
        reason,
    };
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_millis(timeout_ms.min(10_000)))
        .user_agent(concat!("cavra/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| setup(format!("{}: {e}", path.display())))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| setup(format!("{}: {e}", path.display())))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    b.build().map_err(|e| setup(e.to_string()))
}

/// The verdict on an HTTP status: 2xx delivered; 408, 425, 429 and 5xx worth another try;
/// anything else (a refusal, a redirect) permanent.
pub(crate) fn verdict(status: reqwest::StatusCode, retry_after_ms: Option<u64>) -> Verdict {
    let code = status.as_u16();
    if status.is_success() {
        Verdict::Delivered
    } else if matches!(code, 408 | 425 | 429) || status.is_server_error() {
        Verdict::Retry {
            after_ms: retry_after_ms,
        }
    } else {
        Verdict::Permanent
    }
}

/// `Retry-After` in milliseconds: delay-seconds, or an HTTP date (as far from now).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let ms = (at - time::OffsetDateTime::now_utc()).whole_milliseconds();
    Some(ms.clamp(0, u64::MAX as i128) as u64)
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of a body.
pub(crate) async fn body(mut resp: reqwest::Response) -> String {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_RESPONSE_BYTES - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The [`Sent`] of a request whose answer's status is the verdict (2xx delivered, see
/// [`verdict`]), with the start of the answer as the response.
pub(crate) async fn answered(
    request: String,
    result: Result<reqwest::Response, reqwest::Error>,
) -> Sent {
    match result {
        Ok(resp) => {
            let status = resp.status();
            let after = retry_after(resp.headers());
            let text = body(resp).await;
            Sent {
                verdict: verdict(status, after),
                status: status.as_u16().to_string(),
                request,
                response: excerpt(&text),
            }
        }
        Err(e) => no_answer(request, &e),
    }
}

/// The [`Sent`] of a request that got no answer: a timeout, a refused or reset connection, a
/// TLS failure. All are worth another try.
pub(crate) fn no_answer(request: String, e: &reqwest::Error) -> Sent {
    let status = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect failed"
    } else {
        "no answer"
    };
    // The error's chain says why (refused, reset, certificate); its text can hold the URL,
    // which the record's redaction handles like every other string.
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    Sent {
        verdict: Verdict::Retry { after_ms: None },
        status: status.into(),
        request,
        response: excerpt(&why),
    }
}

/// A URL for the record: scheme, host, port and path, no query (which may carry a token).
pub(crate) fn shown(u: &url::Url) -> String {
    let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
    if let Some(p) = u.port() {
        s.push_str(&format!(":{p}"));
    }
    s.push_str(u.path());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_verdicts() {
        let v = |c: u16| verdict(reqwest::StatusCode::from_u16(c).unwrap(), Some(5));
        assert_eq!(v(200), Verdict::Delivered);
        assert_eq!(v(204), Verdict::Delivered);
        assert_eq!(v(429), Verdict::Retry { after_ms: Some(5) });
        assert_eq!(v(503), Verdict::Retry { after_ms: Some(5) });
        assert_eq!(v(400), Verdict::Permanent);
        assert_eq!(v(401), Verdict::Permanent);
        assert_eq!(v(302), Verdict::Permanent);
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(7000));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(0), "a date in the past: now");
    }

    #[test]
    fn shown_urls_lose_their_query() {
        let u = url::Url::parse("https://h.example:8088/p?token=abc").unwrap();
        assert_eq!(shown(&u), "https://h.example:8088/p");
    }
}
