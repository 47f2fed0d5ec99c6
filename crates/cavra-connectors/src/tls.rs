//! TLS for the kinds that open their own connections (syslog, NATS): rustls on aws-lc-rs,
//! the platform's trust store, plus a connector's extra CA file (a private CA).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::ConnectorError;

/// The certificates of a PEM file, for a connector's `ca_file`.
pub(crate) fn pem_certificates(
    name: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConnectorError> {
    let setup = |reason: String| ConnectorError::Setup {
        name: name.to_string(),
        reason: format!("{}: {reason}", path.display()),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| setup(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup(e.to_string()))?;
    if certs.is_empty() {
        return Err(setup("no certificate in the file".into()));
    }
    Ok(certs)
}

/// A client configuration that verifies servers against the platform's roots and the
/// certificates of `ca_file`.
pub(crate) fn client_config(
    name: &str,
    ca_file: Option<&Path>,
) -> Result<rustls::ClientConfig, ConnectorError> {
    let setup = |reason: String| ConnectorError::Setup {
        name: name.to_string(),
        reason,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra = match ca_file {
        Some(p) => pem_certificates(name, p)?,
        None => Vec::new(),
    };
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| setup(format!("TLS trust store: {e}")))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}
