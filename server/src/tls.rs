//! HTTPS without a proxy: `--tls-cert FILE --tls-key FILE` (PEM) make the
//! server terminate TLS itself with rustls (TLS 1.2 and 1.3, the aws-lc-rs
//! provider that reqwest already brings in), so a small health authority's
//! portal works from other computers — its login and session cookies are
//! `Secure`, which browsers keep only over HTTPS (issue 21 item 7).

use greenlight_key_server::config::TlsFiles;
use greenlight_service::StartError;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// Reads the certificate chain and key and makes the TLS acceptor; every
/// problem is a start-up error naming the file and what to do.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, StartError> {
    let cert_path = files.cert.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect)
        .map_err(|e| StartError(format!("--tls-cert {cert_path}: cannot read a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(StartError(format!(
            "--tls-cert {cert_path}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)"
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        StartError(format!(
            "--tls-key {}: cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            StartError(format!(
                "--tls-cert {cert_path} and --tls-key {}: not a usable certificate and key: {e}",
                files.key.display()
            ))
        })?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
