//! HTTPS: the coordinator's certificate and key ([`TlsConfig`]), and a self-signed pair made on
//! first start ([`self_signed`]).
//!
//! With a [`TlsConfig`] in [`Config::tls`](crate::Config::tls) the coordinator speaks HTTPS only
//! (TLS 1.2 and 1.3, rustls with the ring provider, HTTP/1.1 by ALPN). A client that sends plain
//! HTTP to it gets Go's answer, `400 Client sent an HTTP request to an HTTPS server.`, and the
//! connection closes: no request is served over plain HTTP (see [`serve`](crate::serve)).

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// Errors of loading or making the coordinator's certificate and key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written (the cause says why).
    #[error("{path}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate, or a malformed one.
    #[error("{what}: no PEM certificate (BEGIN CERTIFICATE) could be read: {why}")]
    Certificate {
        /// The file, or `certificate` for bytes.
        what: String,
        /// What was wrong.
        why: String,
    },
    /// The key file holds no PEM private key, or a malformed one.
    #[error(
        "{what}: no PEM private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) could be read: {why}"
    )]
    Key {
        /// The file, or `private key` for bytes.
        what: String,
        /// What was wrong.
        why: String,
    },
    /// rustls refused the pair (a key that does not match the certificate, an unsupported key
    /// type).
    #[error("the certificate and private key cannot be used: {0}")]
    Rustls(#[from] rustls::Error),
    /// A self-signed certificate could not be made.
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The coordinator's TLS server configuration: a certificate chain and its private key. Cheap to
/// clone.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    /// Shows no key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig(..)")
    }
}

impl TlsConfig {
    /// A configuration from a PEM certificate chain (the server's certificate first, then any
    /// intermediates) and a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        TlsConfig::parse(cert_chain, "certificate", key, "private key")
    }

    /// A configuration from the files of `--tls-cert-file` and `--tls-private-key-file`; errors
    /// name the file.
    pub fn from_files(cert_file: &Path, key_file: &Path) -> Result<TlsConfig, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::File { path: path.to_path_buf(), source })
        };
        let (cert, key) = (read(cert_file)?, read(key_file)?);
        TlsConfig::parse(&cert, &cert_file.display().to_string(), &key, &key_file.display().to_string())
    }

    fn parse(cert_chain: &[u8], cert_what: &str, key: &[u8], key_what: &str) -> Result<TlsConfig, TlsError> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Certificate { what: cert_what.to_string(), why: e.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::Certificate { what: cert_what.to_string(), why: "none found".into() });
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::Key { what: key_what.to_string(), why: e.to_string() })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        // The coordinator speaks HTTP/1.1 only: a client offering h2 falls back to it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }

    /// The acceptor of the connection loop.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.0.clone())
    }
}

/// The file names [`self_signed`] writes in the data directory.
pub const SELF_SIGNED_CERT: &str = "tls.crt";
/// See [`SELF_SIGNED_CERT`].
pub const SELF_SIGNED_KEY: &str = "tls.key";

/// The certificate and key files of `--tls-self-signed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSigned {
    /// The certificate: clients trust it as their CA (`--certificate-authority`).
    pub cert: PathBuf,
    /// The private key (mode 0600).
    pub key: PathBuf,
    /// Whether it was made now (false: an earlier one was reused).
    pub created: bool,
}

/// The names a self-signed certificate is made for: `localhost`, `127.0.0.1`, `::1`, then each
/// of `hosts` (a `name:port` without its port, brackets off an IPv6 address), without
/// duplicates.
pub fn self_signed_names(hosts: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for host in hosts {
        let host = host.trim();
        let name = if let Some(rest) = host.strip_prefix('[') {
            rest.split(']').next().unwrap_or(rest)
        } else if host.matches(':').count() == 1 {
            host.split(':').next().unwrap_or(host)
        } else {
            host
        };
        if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    }
    names
}

/// The coordinator's self-signed certificate in `dir`: [`SELF_SIGNED_CERT`] and
/// [`SELF_SIGNED_KEY`], made for [`self_signed_names`]`(hosts)` (an ECDSA P-256 key; not a CA,
/// so clients trust the certificate itself) unless both files exist, in which case they are
/// reused as they are (delete them to make a new pair, for new names). `dir` is created mode
/// 0700 if missing; both files are written mode 0600.
pub fn self_signed(dir: &Path, hosts: &[String]) -> Result<SelfSigned, TlsError> {
    let cert = dir.join(SELF_SIGNED_CERT);
    let key = dir.join(SELF_SIGNED_KEY);
    if cert.is_file() && key.is_file() {
        return Ok(SelfSigned { cert, key, created: false });
    }
    // Created as the store creates it: private to the coordinator's user.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| TlsError::File { path: dir.to_path_buf(), source })?;
    let mut params = rcgen::CertificateParams::new(self_signed_names(hosts))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "drover coordinator");
    let signing_key = rcgen::KeyPair::generate()?;
    let certificate = params.self_signed(&signing_key)?;
    // The key first, each through a temporary file renamed into place: a crash leaves no pair
    // that looks whole but is not.
    write_private(&key, signing_key.serialize_pem().as_bytes())?;
    write_private(&cert, certificate.pem().as_bytes())?;
    Ok(SelfSigned { cert, key, created: true })
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let err = |source| TlsError::File { path: path.to_path_buf(), source };
    let _ = std::fs::remove_file(&tmp);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(err)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_names_take_hosts_without_ports_and_once() {
        let base = ["localhost", "127.0.0.1", "::1"];
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("none", &[], &[]),
            ("a name", &["drover.example"], &["drover.example"]),
            ("a name and port", &["drover.example:7070"], &["drover.example"]),
            ("an IPv4 address and port", &["10.0.0.5:7070"], &["10.0.0.5"]),
            ("a bare IPv6 address", &["fd00::5"], &["fd00::5"]),
            ("a bracketed IPv6 address and port", &["[fd00::5]:7070"], &["fd00::5"]),
            ("duplicates and the defaults", &["LOCALHOST", "a", "a:1", "127.0.0.1:7070"], &["a"]),
            ("blank", &["  "], &[]),
        ];
        for (case, hosts, extra) in cases {
            let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
            let want: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
            assert_eq!(self_signed_names(&hosts), want, "{case}");
        }
    }

    #[test]
    fn a_self_signed_pair_is_made_once_with_a_private_key_and_loads() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("drover-tls-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = self_signed(&dir, &["drover.example:7070".into()]).unwrap();
        assert!(made.created);
        assert_eq!(made.cert, dir.join("tls.crt"));
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&made.key), 0o600);
        assert_eq!(mode(&dir), 0o700);
        let cert = std::fs::read(&made.cert).unwrap();
        assert!(String::from_utf8_lossy(&cert).starts_with("-----BEGIN CERTIFICATE-----"));
        TlsConfig::from_files(&made.cert, &made.key).unwrap();

        let again = self_signed(&dir, &[]).unwrap();
        assert!(!again.created);
        assert_eq!(std::fs::read(&again.cert).unwrap(), cert, "reused, not remade");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = std::env::temp_dir().join(format!("drover-tls-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = self_signed(&dir.join("ok"), &[]).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.join("missing.pem");

        let err = TlsConfig::from_files(&missing, &made.key).unwrap_err();
        assert_eq!(err.to_string(), missing.display().to_string());
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("No such file or directory (os error 2)"));
        let err = TlsConfig::from_files(&empty, &made.key).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: no PEM certificate", empty.display())), "{err}");
        let err = TlsConfig::from_files(&made.cert, &empty).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: no PEM private key", empty.display())), "{err}");
        // The key of another pair does not match the certificate.
        let other = self_signed(&dir.join("other"), &[]).unwrap();
        let err = TlsConfig::from_files(&made.cert, &other.key).unwrap_err().to_string();
        assert!(err.starts_with("the certificate and private key cannot be used"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
