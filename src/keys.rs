//! The IdP's signing key and certificates, kept in a folder (`certs/` by default) so that an SP
//! configured once keeps working across restarts.
//!
//! Files: `signing-key.pem` (RSA-2048, PKCS#8, mode 0600), `signing-cert.pem` (self-signed
//! X.509 for that key, mode 0644) and, after a rotation, `previous-cert.pem` (still published in
//! metadata until retired). A folder fakta creates is mode 0700. The private key never leaves this module except as DER for the signer, and its
//! `Debug` is redacted.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};

pub const KEY_FILE: &str = "signing-key.pem";
pub const CERT_FILE: &str = "signing-cert.pem";
pub const PREVIOUS_CERT_FILE: &str = "previous-cert.pem";
/// The P-256 key for ES256 id_tokens (made beside the RSA key when first needed).
pub const EC_KEY_FILE: &str = "signing-ec-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot create the key folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM {what}: {source}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        source: openssl::error::ErrorStack,
    },
    #[error(
        "{key} has no certificate {cert} beside it; restore it, or delete the key to start afresh"
    )]
    MissingCertificate { key: PathBuf, cert: PathBuf },
    #[error("{cert} is not the certificate of the key {key}")]
    CertificateMismatch { key: PathBuf, cert: PathBuf },
    #[error(
        "no signing key in {dir}: start `fakta serve` once, or run `fakta keys show`, to create one"
    )]
    NoKey { dir: PathBuf },
    #[error(
        "a previous certificate is still published ({path}); run `fakta keys retire` before rotating again"
    )]
    PreviousStillPublished { path: PathBuf },
    #[error("there is no previous certificate to retire in {dir}")]
    NothingToRetire { dir: PathBuf },
    #[error("key generation failed: {0}")]
    Generate(#[from] openssl::error::ErrorStack),
}

/// A certificate, as published in metadata and JWKS.
#[derive(Clone)]
pub struct Certificate {
    x509: X509,
    der: Vec<u8>,
}

impl Certificate {
    fn new(x509: X509) -> Result<Self, openssl::error::ErrorStack> {
        let der = x509.to_der()?;
        Ok(Certificate { x509, der })
    }

    pub fn from_pem(pem: &[u8]) -> Result<Self, openssl::error::ErrorStack> {
        Certificate::new(X509::from_pem(pem)?)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn x509(&self) -> &X509 {
        &self.x509
    }

    /// Base64 of the DER, one line: the content of `ds:X509Certificate`.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }

    pub fn pem(&self) -> String {
        let b64 = self.base64();
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// SHA-256 fingerprint as `AB:CD:...`, the form SP admin pages show.
    pub fn sha256_fingerprint(&self) -> String {
        let digest = openssl::sha::sha256(&self.der);
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    pub fn not_after(&self) -> String {
        self.x509.not_after().to_string()
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("sha256", &self.sha256_fingerprint())
            .finish()
    }
}

/// The private signing key and its certificate.
#[derive(Clone)]
pub struct SigningKey {
    pkey: PKey<Private>,
    pkcs8_der: Vec<u8>,
    pub certificate: Certificate,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("private_key", &"[redacted]")
            .field("certificate", &self.certificate)
            .finish()
    }
}

impl SigningKey {
    /// A fresh RSA-2048 key with a self-signed certificate valid for ten years.
    pub fn generate() -> Result<Self, openssl::error::ErrorStack> {
        let rsa = Rsa::generate(2048)?;
        let pkey = PKey::from_rsa(rsa)?;
        let cert = self_signed(&pkey)?;
        SigningKey::from_parts(pkey, cert)
    }

    fn from_parts(pkey: PKey<Private>, cert: X509) -> Result<Self, openssl::error::ErrorStack> {
        let pkcs8_der = pkey.private_key_to_pkcs8()?;
        Ok(SigningKey {
            pkey,
            pkcs8_der,
            certificate: Certificate::new(cert)?,
        })
    }

    pub fn pkey(&self) -> &PKey<Private> {
        &self.pkey
    }

    /// The private key as PKCS#8 DER, for the XML signer.
    pub fn private_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    fn private_pem(&self) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        self.pkey.private_key_to_pem_pkcs8()
    }
}

fn self_signed(pkey: &PKey<Private>) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "fakta")?;
    name.append_entry_by_text("CN", "fakta IdP signing key")?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(pkey)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(3650)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.sign(pkey, MessageDigest::sha256())?;
    Ok(b.build())
}

/// A key that is not the IdP's, for "signed by another key" faults: made once per process (RSA
/// key generation takes from tens of milliseconds to over a second), never written anywhere.
pub fn foreign_key() -> Option<&'static SigningKey> {
    static FOREIGN: std::sync::OnceLock<Option<SigningKey>> = std::sync::OnceLock::new();
    FOREIGN.get_or_init(|| SigningKey::generate().ok()).as_ref()
}

/// The "new" key of the key-rotation trial (O14): made once per process, published in the JWKS
/// only when a trial asks for it.
pub fn rotation_key() -> Option<&'static SigningKey> {
    static ROTATION: std::sync::OnceLock<Option<SigningKey>> = std::sync::OnceLock::new();
    ROTATION
        .get_or_init(|| SigningKey::generate().ok())
        .as_ref()
}

/// The keys an IdP signs with and publishes.
#[derive(Debug, Clone)]
pub struct KeyStore {
    pub dir: PathBuf,
    pub current: SigningKey,
    /// A rotated-out certificate still published until retired.
    pub previous: Option<Certificate>,
    /// The ES256 signing key.
    pub ec: EcKey,
}

/// A P-256 private key for ES256; `Debug` is redacted.
#[derive(Clone)]
pub struct EcKey(PKey<Private>);

impl EcKey {
    pub fn generate() -> Result<Self, openssl::error::ErrorStack> {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
        Ok(EcKey(PKey::from_ec_key(openssl::ec::EcKey::generate(
            &group,
        )?)?))
    }

    pub fn pkey(&self) -> &PKey<Private> {
        &self.0
    }
}

impl fmt::Debug for EcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcKey([redacted])")
    }
}

/// Loads the EC key in `dir`, creating it (race-safe, mode 0600) when missing.
fn open_or_create_ec(dir: &Path) -> Result<EcKey, KeyError> {
    let path = dir.join(EC_KEY_FILE);
    if !path.exists() {
        let key = EcKey::generate()?;
        let tmp = dir.join(format!(".{EC_KEY_FILE}.{}.tmp", std::process::id()));
        write_private(&tmp, &key.0.private_key_to_pem_pkcs8()?)?;
        // Losing the race is fine: the winner's key is read below.
        let _ = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
    }
    warn_if_readable_by_others(&path);
    let pem = read(&path)?;
    let pkey = PKey::private_key_from_pem(&pem).map_err(|source| KeyError::Parse {
        path: path.clone(),
        what: "private key",
        source,
    })?;
    Ok(EcKey(pkey))
}

impl KeyStore {
    /// Every certificate to publish, current first.
    pub fn published(&self) -> Vec<&Certificate> {
        std::iter::once(&self.current.certificate)
            .chain(self.previous.as_ref())
            .collect()
    }

    /// Loads the keys in `dir`, creating a key and certificate when there is none.
    /// Returns whether a new key was made.
    pub fn open_or_create(dir: &Path) -> Result<(KeyStore, bool), KeyError> {
        let key_path = dir.join(KEY_FILE);
        if key_path.exists() {
            return Ok((KeyStore::open(dir)?, false));
        }
        create_private_dir(dir)?;
        let key = SigningKey::generate()?;
        // Another process may be creating the same key: write to private temp files, then
        // hard-link the key into place, which fails if someone else got there first.
        let tmp_key = dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
        let tmp_cert = dir.join(format!(".{CERT_FILE}.{}.tmp", std::process::id()));
        write_private(&tmp_key, &key.private_pem()?)?;
        write_public(&tmp_cert, key.certificate.pem().as_bytes())?;
        let won = fs::hard_link(&tmp_key, &key_path).is_ok();
        let _ = fs::remove_file(&tmp_key);
        if won {
            let cert_path = dir.join(CERT_FILE);
            fs::rename(&tmp_cert, &cert_path).map_err(|source| KeyError::Write {
                path: cert_path,
                source,
            })?;
            Ok((KeyStore::open(dir)?, true))
        } else {
            let _ = fs::remove_file(&tmp_cert);
            Ok((KeyStore::open(dir)?, false))
        }
    }

    /// Loads existing keys; an error when there are none.
    pub fn open(dir: &Path) -> Result<KeyStore, KeyError> {
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        if !key_path.exists() {
            return Err(KeyError::NoKey {
                dir: dir.to_path_buf(),
            });
        }
        warn_if_readable_by_others(&key_path);
        let key_pem = read(&key_path)?;
        let pkey = PKey::private_key_from_pem(&key_pem).map_err(|source| KeyError::Parse {
            path: key_path.clone(),
            what: "private key",
            source,
        })?;
        // A concurrent creator links the key before it renames the certificate into place.
        let mut waited = Duration::ZERO;
        while !cert_path.exists() && waited < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
            waited += Duration::from_millis(20);
        }
        if !cert_path.exists() {
            return Err(KeyError::MissingCertificate {
                key: key_path,
                cert: cert_path,
            });
        }
        let cert = X509::from_pem(&read(&cert_path)?).map_err(|source| KeyError::Parse {
            path: cert_path.clone(),
            what: "certificate",
            source,
        })?;
        let matches = cert
            .public_key()
            .map(|pk| pk.public_eq(&pkey))
            .unwrap_or(false);
        if !matches {
            return Err(KeyError::CertificateMismatch {
                key: key_path,
                cert: cert_path,
            });
        }
        let prev_path = dir.join(PREVIOUS_CERT_FILE);
        let previous = if prev_path.exists() {
            let pem = read(&prev_path)?;
            Some(
                Certificate::from_pem(&pem).map_err(|source| KeyError::Parse {
                    path: prev_path,
                    what: "certificate",
                    source,
                })?,
            )
        } else {
            None
        };
        Ok(KeyStore {
            dir: dir.to_path_buf(),
            current: SigningKey::from_parts(pkey, cert)?,
            previous,
            ec: open_or_create_ec(dir)?,
        })
    }

    /// Makes a new signing key; the current certificate stays published as the previous one.
    pub fn rotate(dir: &Path) -> Result<KeyStore, KeyError> {
        let old = KeyStore::open(dir)?;
        let prev_path = dir.join(PREVIOUS_CERT_FILE);
        if old.previous.is_some() {
            return Err(KeyError::PreviousStillPublished { path: prev_path });
        }
        let new = SigningKey::generate()?;
        write_public(&prev_path, old.current.certificate.pem().as_bytes())?;
        let tmp_key = dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
        write_private(&tmp_key, &new.private_pem()?)?;
        let key_path = dir.join(KEY_FILE);
        fs::rename(&tmp_key, &key_path).map_err(|source| KeyError::Write {
            path: key_path,
            source,
        })?;
        write_public(&dir.join(CERT_FILE), new.certificate.pem().as_bytes())?;
        KeyStore::open(dir)
    }

    /// Stops publishing the previous certificate.
    pub fn retire(dir: &Path) -> Result<KeyStore, KeyError> {
        let prev_path = dir.join(PREVIOUS_CERT_FILE);
        if !prev_path.exists() {
            return Err(KeyError::NothingToRetire {
                dir: dir.to_path_buf(),
            });
        }
        fs::remove_file(&prev_path).map_err(|source| KeyError::Write {
            path: prev_path,
            source,
        })?;
        KeyStore::open(dir)
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let _ = fs::remove_file(path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Writes a certificate: mode 0644 whatever the umask (anyone may read a certificate; only
/// the owner may change it).
pub(crate) fn write_public(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    fs::write(path, bytes).map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).map_err(err)
}

/// Creates the keys folder (and missing parents) when it does not exist; the folder itself
/// is made 0700 whatever the umask. A folder that already exists is the user's: left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    let err = |source| KeyError::CreateDir {
        path: dir.to_path_buf(),
        source,
    };
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(err)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err),
        // Another process made it first (a race-safe start): theirs stands.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(err(e)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} has mode {mode:o}: other users can read the IdP's private key; run `chmod 600` on it",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_with_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = KeyStore::open_or_create(dir.path()).unwrap();
        assert!(created);
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, created) = KeyStore::open_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(a.current.certificate.der(), b.current.certificate.der());
        assert_eq!(a.current.private_der(), b.current.private_der());
    }

    #[test]
    fn modes_are_explicit_folder_0700_certificates_0644_key_0600() {
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/certs");
        KeyStore::open_or_create(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(CERT_FILE)), 0o644);
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        // Rewriting a certificate sets its mode, whatever the file had.
        fs::set_permissions(dir.join(CERT_FILE), fs::Permissions::from_mode(0o600)).unwrap();
        KeyStore::rotate(&dir).unwrap();
        assert_eq!(mode(&dir.join(CERT_FILE)), 0o644);
        assert_eq!(mode(&dir.join(PREVIOUS_CERT_FILE)), 0o644);
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
    }

    #[test]
    fn rotate_keeps_the_old_certificate_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = KeyStore::open_or_create(dir.path()).unwrap();
        let b = KeyStore::rotate(dir.path()).unwrap();
        assert_ne!(a.current.certificate.der(), b.current.certificate.der());
        assert_eq!(
            b.previous.as_ref().unwrap().der(),
            a.current.certificate.der()
        );
        assert_eq!(b.published().len(), 2);
        assert!(matches!(
            KeyStore::rotate(dir.path()),
            Err(KeyError::PreviousStillPublished { .. })
        ));
        let c = KeyStore::retire(dir.path()).unwrap();
        assert!(c.previous.is_none());
        assert_eq!(c.current.certificate.der(), b.current.certificate.der());
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            KeyStore::retire(dir.path()),
            Err(KeyError::NothingToRetire { .. })
        ));
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let key = SigningKey::generate().unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("[redacted]"));
        let pem = String::from_utf8(key.private_pem().unwrap()).unwrap();
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!shown.contains(&body));
    }

    #[test]
    fn a_certificate_that_is_not_the_keys_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        KeyStore::open_or_create(dir.path()).unwrap();
        let other = SigningKey::generate().unwrap();
        fs::write(dir.path().join(CERT_FILE), other.certificate.pem()).unwrap();
        assert!(matches!(
            KeyStore::open(dir.path()),
            Err(KeyError::CertificateMismatch { .. })
        ));
    }
}
