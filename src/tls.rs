//! HTTPS for the IdP, in one step: `idp.base_url: https://…` and fakta serves TLS with a
//! certificate from a local certificate authority it creates once in the certs folder.
//!
//! Files (beside the signing key): `tls-ca-key.pem` (the CA's P-256 key, mode 0600, never
//! printed), `tls-ca.pem` (the CA certificate, ten years, the one file a runtime is told to
//! trust), `tls-server-key.pem` (0600) and `tls-server.pem` (the server certificate: the base
//! URL's host, `localhost` and `127.0.0.1`; 397 days, the longest browsers accept; made again
//! when it has under 30 days left or does not name the host).
//!
//! fakta's own clients (the runner, the reference SP) trust that CA through [`trust`], a
//! process-wide list: the CA of the IdP this process serves or tests against.
//!
//! OpenSSL (already linked for XML signatures and keys) is the TLS stack, through
//! `hyper-openssl` for hyper's connections and reqwest's `native-tls` (OpenSSL on Linux) for the
//! runner: no second crypto library in the binary.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod, SslVersion};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

use crate::keys::KeyError;

pub const CA_KEY_FILE: &str = "tls-ca-key.pem";
pub const CA_CERT_FILE: &str = "tls-ca.pem";
pub const SERVER_KEY_FILE: &str = "tls-server-key.pem";
pub const SERVER_CERT_FILE: &str = "tls-server.pem";

/// A server certificate is made again when it has fewer days than this left.
const RENEW_WITHIN_DAYS: u32 = 30;
/// Browsers refuse server certificates valid for longer.
const SERVER_DAYS: u32 = 397;
const CA_DAYS: u32 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Files(#[from] KeyError),
    #[error("{path} is not a PEM {what}: {source}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        source: openssl::error::ErrorStack,
    },
    #[error("{cert} is not the certificate of the key {key}")]
    Mismatch { key: PathBuf, cert: PathBuf },
    #[error("making the TLS certificate failed: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// The local CA and the server certificate it issued, loaded or made.
pub struct LocalTls {
    ca: X509,
    server_cert: X509,
    server_key: PKey<Private>,
    /// The folder, for messages.
    pub dir: PathBuf,
    /// What this call created (file names), to say so once.
    pub created: Vec<&'static str>,
}

impl std::fmt::Debug for LocalTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTls")
            .field("dir", &self.dir)
            .field("server_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl LocalTls {
    /// Loads the CA and server certificate in `dir`, making what is missing, and a new server
    /// certificate when the one there does not name `host` or is near its end.
    pub fn open_or_create(dir: &Path, host: &str) -> Result<LocalTls, TlsError> {
        crate::keys::create_private_dir(dir)?;
        let mut created = Vec::new();
        let ca_key_path = dir.join(CA_KEY_FILE);
        let ca_cert_path = dir.join(CA_CERT_FILE);
        if !ca_key_path.exists() {
            let key = p256()?;
            let cert = ca_certificate(&key)?;
            crate::keys::write_private(&ca_key_path, &key.private_key_to_pem_pkcs8()?)?;
            crate::keys::write_public(&ca_cert_path, &cert.to_pem()?)?;
            created.push(CA_CERT_FILE);
        }
        let ca_key = read_key(&ca_key_path)?;
        let ca = read_cert(&ca_cert_path)?;
        if !ca.public_key()?.public_eq(&ca_key) {
            return Err(TlsError::Mismatch {
                key: ca_key_path,
                cert: ca_cert_path,
            });
        }
        let key_path = dir.join(SERVER_KEY_FILE);
        let cert_path = dir.join(SERVER_CERT_FILE);
        let current = match (key_path.exists(), cert_path.exists()) {
            (true, true) => {
                let key = read_key(&key_path)?;
                let cert = read_cert(&cert_path)?;
                let fits = cert.public_key()?.public_eq(&key)
                    && names(&cert, host)
                    && cert.verify(&ca_key).unwrap_or(false)
                    && !near_end(&cert)?;
                fits.then_some((cert, key))
            }
            _ => None,
        };
        let (server_cert, server_key) = match current {
            Some(pair) => pair,
            None => {
                let key = p256()?;
                let cert = server_certificate(&key, &ca, &ca_key, host)?;
                crate::keys::write_private(&key_path, &key.private_key_to_pem_pkcs8()?)?;
                crate::keys::write_public(&cert_path, &cert.to_pem()?)?;
                created.push(SERVER_CERT_FILE);
                (cert, key)
            }
        };
        Ok(LocalTls {
            ca,
            server_cert,
            server_key,
            dir: dir.to_path_buf(),
            created,
        })
    }

    /// The CA certificate in PEM: what a runtime is told to trust.
    pub fn ca_pem(&self) -> String {
        String::from_utf8_lossy(&self.ca.to_pem().unwrap_or_default()).into_owned()
    }

    pub fn ca(&self) -> &X509 {
        &self.ca
    }

    /// Where the CA certificate is.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// SHA-256 fingerprint of the CA certificate, as `AB:CD:…`.
    pub fn ca_fingerprint(&self) -> String {
        self.ca
            .digest(MessageDigest::sha256())
            .map(|d| {
                d.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default()
    }

    /// The server side: TLS 1.2 and 1.3 (Mozilla's intermediate profile), HTTP/1.1 only.
    pub fn acceptor(&self) -> Result<Arc<SslAcceptor>, TlsError> {
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        b.set_private_key(&self.server_key)?;
        b.set_certificate(&self.server_cert)?;
        b.add_extra_chain_cert(self.ca.clone())?;
        b.check_private_key()?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        Ok(Arc::new(b.build()))
    }
}

static TRUSTED: Mutex<Vec<X509>> = Mutex::new(Vec::new());
/// Bumped each time [`trust`] adds a CA, so clients built once (their TLS set-up reads the
/// system's roots: milliseconds of CPU each time) know when to rebuild.
static TRUSTED_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static CA_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

impl LocalTls {
    /// [`trust`]s this CA, and remembers its file for the SPs fakta starts (`target.start` gets
    /// `FAKTA_CA_FILE`, and `NODE_EXTRA_CA_CERTS` unless already set).
    pub fn trust(&self) {
        trust(&self.ca);
        *CA_FILE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.ca_path());
    }
}

/// The CA file of the local CA this process trusts, if any.
pub fn ca_file() -> Option<PathBuf> {
    CA_FILE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Adds a CA that fakta's own HTTP clients (the runner, the reference SP) trust from now on,
/// beside the system's roots.
pub fn trust(ca: &X509) {
    let mut t = TRUSTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let der = ca.to_der().unwrap_or_default();
    if !t
        .iter()
        .any(|c| c.to_der().ok().as_deref() == Some(der.as_slice()))
    {
        t.push(ca.clone());
        TRUSTED_GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Changes each time the set of [`trusted`] CAs grows.
pub fn trusted_generation() -> u64 {
    TRUSTED_GENERATION.load(std::sync::atomic::Ordering::SeqCst)
}

/// The CAs added with [`trust`].
pub fn trusted() -> Vec<X509> {
    TRUSTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The SHA-256 of `cert`'s SubjectPublicKeyInfo, base64: what Chromium's
/// `--ignore-certificate-errors-spki-list` takes (`crate::browser` trusts the [`trusted`] CAs
/// with it: a chain that holds one of them is accepted, as the runner's other clients accept
/// it).
pub fn spki_sha256_base64(cert: &X509) -> Result<String, openssl::error::ErrorStack> {
    use base64::Engine;
    let spki = cert.public_key()?.public_key_to_der()?;
    let digest = openssl::hash::hash(MessageDigest::sha256(), &spki)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}

fn p256() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn read_key(path: &Path) -> Result<PKey<Private>, TlsError> {
    let pem = crate::keys::read(path)?;
    PKey::private_key_from_pem(&pem).map_err(|source| TlsError::Parse {
        path: path.to_path_buf(),
        what: "private key",
        source,
    })
}

fn read_cert(path: &Path) -> Result<X509, TlsError> {
    let pem = crate::keys::read(path)?;
    X509::from_pem(&pem).map_err(|source| TlsError::Parse {
        path: path.to_path_buf(),
        what: "certificate",
        source,
    })
}

fn serial() -> Result<Asn1Integer, openssl::error::ErrorStack> {
    let mut n = BigNum::new()?;
    n.rand(127, MsbOption::MAYBE_ZERO, false)?;
    n.to_asn1_integer()
}

fn ca_certificate(key: &PKey<Private>) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "fakta")?;
    name.append_entry_by_text("CN", "fakta local CA")?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let v = serial()?;
    b.set_serial_number(&v)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let v = Asn1Time::days_from_now(0)?;
    b.set_not_before(&v)?;
    let v = Asn1Time::days_from_now(CA_DAYS)?;
    b.set_not_after(&v)?;
    // A CA for servers only: no intermediate below it.
    b.append_extension(BasicConstraints::new().critical().ca().pathlen(0).build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build())
}

fn server_certificate(
    key: &PKey<Private>,
    ca: &X509,
    ca_key: &PKey<Private>,
    host: &str,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "fakta")?;
    name.append_entry_by_text("CN", host)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let v = serial()?;
    b.set_serial_number(&v)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(ca.subject_name())?;
    b.set_pubkey(key)?;
    // An hour back, for clocks a little behind.
    let now = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let v = Asn1Time::from_unix(now)?;
    b.set_not_before(&v)?;
    let v = Asn1Time::days_from_now(SERVER_DAYS)?;
    b.set_not_after(&v)?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_agreement()
            .build()?,
    )?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut san = SubjectAlternativeName::new();
    for h in hosts(host) {
        match h.parse::<IpAddr>() {
            Ok(_) => san.ip(&h),
            Err(_) => san.dns(&h),
        };
    }
    let san = san.build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(san)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(false)
        .build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(aki)?;
    b.sign(ca_key, MessageDigest::sha256())?;
    Ok(b.build())
}

/// The names a server certificate carries: the host, `localhost`, `127.0.0.1` and `::1`.
fn hosts(host: &str) -> Vec<String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut all = vec![host.to_ascii_lowercase()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !all.iter().any(|h| h == extra) {
            all.push(extra.to_owned());
        }
    }
    all
}

/// Whether `cert` names `host` among its subject alternative names.
fn names(cert: &X509, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let want_ip = host.parse::<IpAddr>().ok();
    cert.subject_alt_names().is_some_and(|sans| {
        sans.iter().any(|n| match want_ip {
            Some(ip) => n.ipaddress().is_some_and(|b| match ip {
                IpAddr::V4(v4) => b == v4.octets(),
                IpAddr::V6(v6) => b == v6.octets(),
            }),
            None => n.dnsname().is_some_and(|d| d.eq_ignore_ascii_case(&host)),
        })
    })
}

fn near_end(cert: &X509) -> Result<bool, openssl::error::ErrorStack> {
    let limit = Asn1Time::days_from_now(RENEW_WITHIN_DAYS)?;
    Ok(cert.not_after() < limit)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn made_once_keys_private_and_the_server_certificate_names_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let first = LocalTls::open_or_create(&certs, "idp.acme.test").unwrap();
        assert_eq!(first.created, [CA_CERT_FILE, SERVER_CERT_FILE]);
        for (file, mode) in [
            (CA_KEY_FILE, 0o600),
            (SERVER_KEY_FILE, 0o600),
            (CA_CERT_FILE, 0o644),
            (SERVER_CERT_FILE, 0o644),
        ] {
            let m = fs::metadata(certs.join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, mode, "{file}");
        }
        for host in ["idp.acme.test", "localhost", "127.0.0.1", "[::1]"] {
            assert!(names(&first.server_cert, host), "{host}");
        }
        assert!(!names(&first.server_cert, "other.test"));
        assert!(
            first
                .server_cert
                .verify(&first.ca.public_key().unwrap())
                .unwrap()
        );
        let again = LocalTls::open_or_create(&certs, "idp.acme.test").unwrap();
        assert!(again.created.is_empty());
        assert_eq!(again.ca_fingerprint(), first.ca_fingerprint());
        // Another host: a new server certificate from the same CA.
        let other = LocalTls::open_or_create(&certs, "127.0.0.2").unwrap();
        assert_eq!(other.created, [SERVER_CERT_FILE]);
        assert_eq!(other.ca_fingerprint(), first.ca_fingerprint());
        assert!(names(&other.server_cert, "127.0.0.2"));
        assert!(other.acceptor().is_ok());
        assert!(!format!("{other:?}").contains("BEGIN"));
    }
}
