//! libpq's `sslmode` and `sslrootcert`, turned into the [`Tls`] a connection must have, on rustls
//! with the `ring` provider (docs/postgresql.md, "TLS").
//!
//! * disable, allow: plain TCP;
//! * prefer (the default): TLS when the server offers it, plain TCP when it declines;
//! * require: TLS or nothing; the certificate is not checked, unless a root certificate file
//!   exists (`sslrootcert`, default `~/.postgresql/root.crt`), then as verify-ca (libpq does so);
//!   prefer checks it the same way;
//! * verify-ca: the chain must lead to the root certificate file (which must exist);
//! * verify-full: verify-ca and the certificate must be for the host name connected to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Error;
use crate::store::postgres::transport::Tls;

/// The sslmode values libpq knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// libpq's spelling; Err names the accepted values.
    pub(crate) fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text.trim() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode value: {other:?} (disable, allow, prefer, require, verify-ca, verify-full)"
                ))
            }
        })
    }

    /// True for the modes that refuse a connection without TLS.
    pub(crate) fn requires_tls(self) -> bool {
        matches!(self, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// libpq's default root certificate file.
fn default_root_cert() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".postgresql").join("root.crt"))
}

/// rustls's `ring` provider. Deprecated since rustls 0.23.48 only for lacking post-quantum key
/// exchange (which aws-lc-rs has, but it needs cmake to build; see docs/postgresql.md, "TLS").
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_roots(path: &Path) -> Result<RootCertStore, Error> {
    let bad =
        |why: String| Error::invalid(format!("could not read the root certificate file {}: {why}", path.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        roots.add(cert.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(roots)
}

/// The [`Tls`] for `mode` with the root certificate file `rootcert` (None: the default file).
pub(crate) fn resolve(mode: SslMode, rootcert: Option<&str>) -> Result<Tls, Error> {
    if matches!(mode, SslMode::Disable | SslMode::Allow) {
        return Ok(Tls::Off);
    }
    if rootcert == Some("system") {
        return Err(Error::invalid(
            "sslrootcert=system is not supported by this package: give the CA's certificate file",
        ));
    }
    let explicit = rootcert.map(PathBuf::from);
    let file = explicit.clone().or_else(default_root_cert);
    let roots = match &file {
        Some(f) if f.is_file() => Some(load_roots(f)?),
        _ => None,
    };
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            let shown = file.map_or_else(|| "~/.postgresql/root.crt".to_string(), |f| f.display().to_string());
            return Err(Error::invalid(format!(
                "root certificate file \"{shown}\" does not exist: provide the file (sslrootcert=...) or change \
                 sslmode to disable server certificate verification"
            )));
        }
        (SslMode::VerifyFull, Some(roots)) => web_pki(roots, &provider)?,
        (_, Some(roots)) => Arc::new(AnyName(web_pki(roots, &provider)?)),
        (_, None) => Arc::new(Unchecked(Arc::clone(&provider))),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let config = Arc::new(config);
    Ok(if mode == SslMode::Prefer { Tls::Prefer(config) } else { Tls::Require(config) })
}

fn web_pki(roots: RootCertStore, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| Error::invalid(format!("TLS root certificates: {e}")))?;
    Ok(v)
}

/// verify-ca: the chain is checked, the host name is not.
#[derive(Debug)]
struct AnyName(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// require / prefer without a root certificate: encrypted, the certificate not checked (libpq's
/// semantics); the handshake's signatures are still verified.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
