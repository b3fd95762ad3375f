//! rustls configurations for each `sslmode`.
//!
//! libpq's `require` encrypts but trusts any certificate, `verify-ca` checks
//! the chain only, `verify-full` checks the chain and the host name
//! (<https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-PROTECTION>).
//! rustls always checks both, so the weaker modes use verifiers that skip
//! part of the check while still verifying handshake signatures.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// No TLS.
    Disable,
    /// Encrypt, trust any certificate (`prefer`, `require`).
    NoVerify,
    /// Check the chain, not the host name.
    VerifyCa,
    /// Check the chain and the host name.
    VerifyFull,
}

/// A connector for `mode` (not [`TlsMode::Disable`]). Roots are the PEM
/// certificates in `root_cert`, or the system's when it is absent or
/// `system` (libpq's spelling for them).
pub(crate) fn connector(
    mode: TlsMode,
    root_cert: Option<&str>,
) -> Result<MakeRustlsConnect, String> {
    // An explicit provider, so the choice does not depend on which rustls
    // features other crates in the build happen to enable.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match mode {
        TlsMode::Disable | TlsMode::NoVerify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth(),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let roots = Arc::new(root_store(root_cert)?);
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| e.to_string())?;
            if mode == TlsMode::VerifyFull {
                builder.with_webpki_verifier(inner).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyHostName { inner }))
                    .with_no_client_auth()
            }
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The trusted roots, as libpq picks them: the `sslrootcert` file alone
/// when one is named (a private CA must not be diluted by the public ones),
/// otherwise the system's.
fn root_store(root_cert: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match root_cert.filter(|p| *p != "system") {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?
            {
                let cert = cert.map_err(|e| format!("cannot parse sslrootcert {path}: {e}"))?;
                roots.add(cert).map_err(|e| {
                    format!("sslrootcert {path} holds an unusable certificate: {e}")
                })?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {path} holds no PEM certificate"));
            }
        }
        None => {
            // Unreadable system certificates are skipped: the ones that
            // load may still be enough.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(
                    "no trusted root certificates found on this system: install the CA bundle or set sslrootcert"
                        .into(),
                );
            }
        }
    }
    Ok(roots)
}

/// `sslmode=require`: any certificate is accepted, as libpq does; the
/// handshake signatures are still checked so the session key is the
/// server's.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name in
/// the certificate may differ from the host connected to.
#[derive(Debug)]
struct AnyHostName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
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
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_mode() {
        assert!(connector(TlsMode::NoVerify, None).is_ok());
        // The system bundle may be absent on minimal machines; the error
        // then says what to do.
        match connector(TlsMode::VerifyFull, Some("system")) {
            Ok(_) => {}
            Err(reason) => assert!(reason.contains("sslrootcert"), "{reason}"),
        }
    }

    #[test]
    fn missing_root_cert_is_reported() {
        let Err(reason) = connector(TlsMode::VerifyCa, Some("/nonexistent/ca.pem")) else {
            panic!("a missing sslrootcert must fail");
        };
        assert!(reason.contains("/nonexistent/ca.pem"), "{reason}");
    }
}
