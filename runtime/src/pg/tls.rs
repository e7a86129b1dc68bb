//! TLS to the database. A URL with `sslmode=require` connects over TLS (rustls), checking the
//! server's certificate against the public roots (webpki-roots) and, when the URL names one,
//! the PEM file of libpq's `sslrootcert=PATH` (e.g. a private CA, as managed databases
//! use); the certificate must also match the host name. Other modes (`disable`, and the
//! default `prefer`) connect in plain text, as before.
//!
//! It owns the TLS configuration only; it must not open connections.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Splits libpq's `sslrootcert=PATH` off `url` (tokio-postgres does not know it): the URL
/// without it, and the path.
pub fn take_root_cert(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("sslrootcert=") {
            Some(path) => {
                root = Some(path.to_string());
                false
            }
            None => true,
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, root)
}

/// The TLS connector: the public roots, plus the certificates of `root_cert` if given.
pub fn connector(root_cert: Option<&Path>) -> anyhow::Result<MakeRustlsConnect> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = root_cert {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .with_context(|| format!("reading sslrootcert {}", path.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "sslrootcert {} holds no certificate",
            path.display()
        );
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("sslrootcert {}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslrootcert_is_taken_off_the_url() {
        assert_eq!(
            take_root_cert("postgres://h/db?sslmode=require&sslrootcert=/ca.pem"),
            (
                "postgres://h/db?sslmode=require".into(),
                Some("/ca.pem".into())
            )
        );
        assert_eq!(
            take_root_cert("postgres://h/db?sslrootcert=/ca.pem"),
            ("postgres://h/db".into(), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_root_cert("postgres://h/db"),
            ("postgres://h/db".into(), None)
        );
    }

    #[test]
    fn a_missing_root_cert_file_is_an_error_naming_it() {
        let e = connector(Some(Path::new("/nonexistent/ca.pem")))
            .err()
            .expect("an error");
        assert!(format!("{e:#}").contains("/nonexistent/ca.pem"), "{e:#}");
    }
}
