//! rustls configurations for each `sslmode`.
//!
//! libpq's `require` encrypts but trusts any certificate, `verify-ca` checks
//! the chain only, `verify-full` checks the chain and the host name
//! (<https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-PROTECTION>).
//! rustls always checks both, so the weaker modes use verifiers that skip
//! part of the check while still verifying handshake signatures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};
use tokio_postgres::config::SslNegotiation;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Never TLS.
    Disable,
    /// Without TLS; with it only if the server refuses the plain session.
    Allow,
    /// With TLS if the server offers it.
    Prefer,
    /// Always TLS.
    Require,
    /// TLS, with the certificate's chain checked.
    VerifyCa,
    /// TLS, with the chain and the host name checked.
    VerifyFull,
}

/// A client certificate and its private key, PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// `sslcert`: the certificate, possibly followed by its intermediates.
    pub cert: PathBuf,
    /// `sslkey`: its unencrypted private key.
    pub key: PathBuf,
}

/// The TLS versions allowed (rustls speaks 1.2 and 1.3 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TlsVersions {
    /// TLS 1.2.
    pub tls12: bool,
    /// TLS 1.3.
    pub tls13: bool,
}

/// Everything about TLS a target resolves to.
#[derive(Clone, Debug)]
pub(crate) struct TlsSettings {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert` (a PEM file, or `system`), or
    /// `~/.postgresql/root.crt` when it exists.
    pub root_cert: Option<String>,
    /// The certificate to present, if any.
    pub client_cert: Option<ClientCert>,
    /// `sslsni`: send the host name in the handshake.
    pub sni: bool,
    /// `ssl_min_protocol_version` and `ssl_max_protocol_version`.
    pub versions: TlsVersions,
    /// `sslnegotiation`.
    pub negotiation: SslNegotiation,
}

impl TlsSettings {
    /// How much of the server's certificate a TLS session checks.
    pub fn check(&self) -> TlsMode {
        match self.mode {
            SslMode::VerifyFull => TlsMode::VerifyFull,
            SslMode::VerifyCa => TlsMode::VerifyCa,
            // As libpq does: `require` with a root certificate (named, or
            // ~/.postgresql/root.crt) verifies the chain, like `verify-ca`.
            SslMode::Require if self.root_cert.is_some() => TlsMode::VerifyCa,
            _ => TlsMode::NoVerify,
        }
    }
}

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// Encrypt, trust any certificate (`allow`, `prefer`, `require`).
    NoVerify,
    /// Check the chain, not the host name.
    VerifyCa,
    /// Check the chain and the host name.
    VerifyFull,
}

/// A connector for `settings`. Roots are the PEM certificates in
/// `root_cert`, or the system's when it is absent or `system` (libpq's
/// spelling for them); the client certificate, if any, is presented.
pub(crate) fn connector(settings: &TlsSettings) -> Result<MakeRustlsConnect, String> {
    // An explicit provider, so the choice does not depend on which rustls
    // features other crates in the build happen to enable.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static SupportedProtocolVersion> = [
        (settings.versions.tls12, &rustls::version::TLS12),
        (settings.versions.tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter_map(|(allowed, version)| allowed.then_some(version))
    .collect();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let check = settings.check();
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        TlsMode::NoVerify => Arc::new(AnyCertificate {
            provider: provider.clone(),
        }),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let roots = Arc::new(root_store(settings.root_cert.as_deref())?);
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| e.to_string())?;
            if check == TlsMode::VerifyFull {
                inner
            } else {
                Arc::new(AnyHostName { inner })
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.client_cert {
        Some(client) => {
            let (certs, key) = client_identity(client)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                format!(
                    "sslcert {} and sslkey {} do not make a usable pair: {e}",
                    client.cert.display(),
                    client.key.display()
                )
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = settings.sni;
    Ok(MakeRustlsConnect::new(config))
}

/// The client certificate chain and key, after libpq's check that the key
/// file is private.
fn client_identity(
    client: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let cert = client.cert.display();
    let key = client.key.display();
    check_key_file(&client.key)?;
    let certs = CertificateDer::pem_file_iter(&client.cert)
        .map_err(|e| format!("cannot read sslcert {cert}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot parse sslcert {cert}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("sslcert {cert} holds no PEM certificate"));
    }
    let private = PrivateKeyDer::from_pem_file(&client.key).map_err(|e| {
        format!(
            "cannot read a private key from sslkey {key} ({e}); it must be an unencrypted PEM \
             key (PKCS #8, PKCS #1 or SEC1): decrypt an encrypted one with openssl pkey"
        )
    })?;
    Ok((certs, private))
}

/// libpq refuses a key file others may read: owned by root it may be
/// readable by its group (0640), otherwise by its owner only (0600).
#[cfg(unix)]
fn check_key_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)
        .map_err(|e| format!("cannot read sslkey {}: {e}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!(
            "private key file {} is not a regular file",
            path.display()
        ));
    }
    let mode = metadata.mode();
    let too_open = if metadata.uid() == 0 {
        mode & 0o037 != 0
    } else {
        mode & 0o077 != 0
    };
    if too_open {
        return Err(format!(
            "private key file {} has group or world access; it must be u=rw (0600) or less if \
             owned by the current user, or u=rw,g=r (0640) or less if owned by root: chmod 600 it",
            path.display()
        ));
    }
    Ok(())
}

/// Elsewhere the key's directory protects it, as libpq assumes on Windows.
#[cfg(not(unix))]
fn check_key_file(_path: &Path) -> Result<(), String> {
    Ok(())
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

    fn settings(mode: SslMode, root_cert: Option<&str>) -> TlsSettings {
        TlsSettings {
            mode,
            root_cert: root_cert.map(str::to_owned),
            client_cert: None,
            sni: true,
            versions: TlsVersions {
                tls12: true,
                tls13: true,
            },
            negotiation: SslNegotiation::Postgres,
        }
    }

    #[test]
    fn builds_every_mode() {
        for mode in [SslMode::Allow, SslMode::Prefer, SslMode::Require] {
            assert!(connector(&settings(mode, None)).is_ok());
        }
        let only_13 = TlsSettings {
            versions: TlsVersions {
                tls12: false,
                tls13: true,
            },
            sni: false,
            ..settings(SslMode::Require, None)
        };
        assert!(connector(&only_13).is_ok());
        // The system bundle may be absent on minimal machines; the error
        // then says what to do.
        match connector(&settings(SslMode::VerifyFull, Some("system"))) {
            Ok(_) => {}
            Err(reason) => assert!(reason.contains("sslrootcert"), "{reason}"),
        }
    }

    #[test]
    fn require_with_a_root_certificate_checks_the_chain() {
        assert_eq!(settings(SslMode::Require, None).check(), TlsMode::NoVerify);
        assert_eq!(
            settings(SslMode::Require, Some("/ca.pem")).check(),
            TlsMode::VerifyCa
        );
        assert_eq!(
            settings(SslMode::Prefer, Some("/ca.pem")).check(),
            TlsMode::NoVerify
        );
        assert_eq!(
            settings(SslMode::VerifyFull, None).check(),
            TlsMode::VerifyFull
        );
    }

    #[test]
    fn missing_root_cert_is_reported() {
        let Err(reason) = connector(&settings(SslMode::VerifyCa, Some("/nonexistent/ca.pem")))
        else {
            panic!("a missing sslrootcert must fail");
        };
        assert!(reason.contains("/nonexistent/ca.pem"), "{reason}");
    }

    #[cfg(unix)]
    #[test]
    fn client_keys_must_be_private_and_certificates_pem() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ferry-tls-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("client.crt");
        let key = dir.join("client.key");
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let with_client = |mode: u32| {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let settings = TlsSettings {
                client_cert: Some(ClientCert {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                ..settings(SslMode::Require, None)
            };
            match connector(&settings) {
                Ok(_) => panic!("a bad client certificate must fail"),
                Err(reason) => reason,
            }
        };
        let reason = with_client(0o644);
        assert!(reason.contains("group or world access"), "{reason}");
        let reason = with_client(0o600);
        assert!(reason.contains("holds no PEM certificate"), "{reason}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
