//! The console's stylesheet, script and icon, embedded in the binary. Each is served under a name
//! that carries its content hash (so it can be cached for good) and referenced with its
//! `sha384` subresource-integrity hash, computed from the embedded bytes.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};

use crate::PREFIX;

/// One embedded file.
pub struct Asset {
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
    hashes: LazyLock<(String, String)>,
}

fn hashes(bytes: &[u8]) -> (String, String) {
    let short = hex::encode(&Sha256::digest(bytes)[..6]);
    let sri = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
    );
    (short, sri)
}

impl Asset {
    /// Its file name (`console-<hash>.css`).
    pub fn name(&self) -> String {
        format!("{}-{}.{}", self.stem, self.hashes.0, self.ext)
    }

    /// Where it is served.
    pub fn url(&self) -> String {
        format!("{PREFIX}/assets/{}", self.name())
    }

    /// Its subresource-integrity value.
    pub fn integrity(&self) -> &str {
        &self.hashes.1
    }
}

/// The stylesheet.
pub static CSS: Asset = Asset {
    stem: "console",
    ext: "css",
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!("assets/console.css"),
    hashes: LazyLock::new(|| hashes(include_bytes!("assets/console.css"))),
};

/// The script (live updates, proof checks).
pub static JS: Asset = Asset {
    stem: "console",
    ext: "js",
    content_type: "text/javascript; charset=utf-8",
    bytes: include_bytes!("assets/console.js"),
    hashes: LazyLock::new(|| hashes(include_bytes!("assets/console.js"))),
};

/// The icon. Without one, browsers ask for `/favicon.ico`, outside the console, and log its
/// 404 as a console error on every page.
pub static ICON: Asset = Asset {
    stem: "icon",
    ext: "svg",
    content_type: "image/svg+xml",
    bytes: include_bytes!("assets/icon.svg"),
    hashes: LazyLock::new(|| hashes(include_bytes!("assets/icon.svg"))),
};

/// Every asset.
pub static ALL: [&Asset; 3] = [&CSS, &JS, &ICON];

/// `GET /console/assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = ALL.iter().find(|a| a.name() == name) else {
        return crate::layout::error_page(Some(StatusCode::NOT_FOUND), "no such asset");
    };
    let mut resp = (StatusCode::OK, asset.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}
