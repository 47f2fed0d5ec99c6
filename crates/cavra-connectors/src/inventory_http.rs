//! Inventory from an HTTP endpoint (`cavra inventory import URL`): the first page asked with
//! `If-None-Match` and the ETag of the last import from the same URL (a `304 Not Modified`
//! keeps that version), then each next page, found in a `Link: <…>; rel="next"` header or the
//! JSON page's `next`, read and parsed as it arrives. Every page is bounded in bytes (read in
//! chunks, stopped at the limit whatever `Content-Length` says), the pages in number and the
//! items across all pages; a next page on another origin is refused.

use std::collections::HashSet;
use std::time::Duration;

use cavra_tenant_store::InventoryItem;
use cavra_tenant_store::inventory_source::{SourceError, SourceFormat, SourceLimits, parse_source};
use sha2::Digest as _;

/// The most pages one import follows.
pub const MAX_PAGES: usize = 1_000;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one this reads.
    #[error("{url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The request failed or was answered with an error.
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A page is not a valid inventory.
    #[error("{0}")]
    Source(#[from] SourceError),
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// 304: the source has not changed since the ETag sent.
    NotModified,
    /// The items of every page.
    Items {
        /// The items, ids unique across pages.
        items: Vec<InventoryItem>,
        /// `sha256:` over the pages' bytes, in order.
        digest: String,
        /// The first page's ETag.
        etag: Option<String>,
        /// Pages read.
        pages: usize,
    },
}

/// Reads the inventory at `url` (`http` or `https`), pages and all.
pub async fn fetch(
    url: &str,
    etag: Option<&str>,
    format: SourceFormat,
    limits: &SourceLimits,
    bearer: Option<&str>,
) -> Result<Fetched, FetchError> {
    let first = parse_url(url)?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("cavra/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| http(url, e.to_string()))?;
    let mut hasher = sha2::Sha256::new();
    let mut items: Vec<InventoryItem> = Vec::new();
    let mut ids = HashSet::new();
    let mut first_etag = None;
    let mut next = Some(first.clone());
    let mut visited = HashSet::new();
    let mut pages = 0;
    while let Some(page_url) = next.take() {
        if !visited.insert(page_url.to_string()) {
            return Err(http(
                page_url.as_str(),
                "the pages loop back to this one".into(),
            ));
        }
        if page_url.origin() != first.origin() {
            return Err(FetchError::Url {
                url: page_url.to_string(),
                reason: "a next page on another origin than the first".into(),
            });
        }
        pages += 1;
        if pages > MAX_PAGES {
            return Err(http(url, format!("more than {MAX_PAGES} pages")));
        }
        let mut req = client.get(page_url.clone());
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if pages == 1
            && let Some(tag) = etag
        {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| http(page_url.as_str(), e.to_string()))?;
        let status = resp.status();
        if pages == 1 && status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(http(page_url.as_str(), format!("answered {status}")));
        }
        if pages == 1 {
            first_etag = header(&resp, reqwest::header::ETAG);
        }
        let link_next = header(&resp, reqwest::header::LINK).and_then(|l| link_next(&l));
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| http(page_url.as_str(), e.to_string()))?
        {
            if body.len() + chunk.len() > limits.max_bytes {
                return Err(SourceError::TooLarge {
                    source_name: page_url.to_string(),
                    size: body.len() + chunk.len(),
                    max: limits.max_bytes,
                }
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        hasher.update(&body);
        let parsed = parse_source(&body, format, page_url.as_str(), limits)?;
        for item in parsed.items {
            if !ids.insert(item.id.clone()) {
                return Err(http(
                    page_url.as_str(),
                    format!("the id `{}` is on an earlier page too", item.id),
                ));
            }
            if items.len() >= limits.max_items {
                return Err(SourceError::TooManyItems {
                    source_name: url.to_string(),
                    max: limits.max_items,
                }
                .into());
            }
            items.push(item);
        }
        next = match link_next.or(parsed.next) {
            Some(n) => Some(page_url.join(&n).map_err(|e| FetchError::Url {
                url: n.clone(),
                reason: e.to_string(),
            })?),
            None => None,
        };
    }
    Ok(Fetched::Items {
        items,
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        etag: first_etag,
        pages,
    })
}

fn http(url: &str, reason: String) -> FetchError {
    FetchError::Http {
        url: url.to_string(),
        reason,
    }
}

fn parse_url(url: &str) -> Result<url::Url, FetchError> {
    let u = url::Url::parse(url).map_err(|e| FetchError::Url {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(FetchError::Url {
            url: url.to_string(),
            reason: "only http and https sources are read".into(),
        });
    }
    Ok(u)
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The target of a `Link` header's `rel="next"` link (RFC 8288), if any.
pub fn link_next(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .filter_map(|p| p.split_once('='))
            .any(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
            .then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_name_the_next_page() {
        assert_eq!(
            link_next(r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=3>; rel="next""#),
            Some("https://x/a?page=3".into())
        );
        assert_eq!(link_next("</p2>; rel=next"), Some("/p2".into()));
        assert_eq!(link_next(r#"<https://x/last>; rel="last""#), None);
        assert_eq!(link_next("garbage"), None);
    }
}
