//! Reading the files a connection file names (SP certificates and keys) and the connection file
//! itself. Every read goes through [`read_capped`], so `fakta check`, `serve` and `test` refuse
//! the same files with the same words: something that is not a regular file (`/dev/zero`, a
//! FIFO that would block), or more than [`MAX_REFERENCED_FILE_BYTES`], is never read to the end.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// Largest file a connection file may refer to (1 MiB); a PEM certificate or key is a few KiB.
pub const MAX_REFERENCED_FILE_BYTES: u64 = 1024 * 1024;

/// Why a named file cannot be used. `path` is the file as shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotRegularFile { path: String },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("{path} is not a PEM certificate")]
    NotCertificate { path: String },
    #[error("{path} is not a PEM private key")]
    NotPrivateKey { path: String },
}

/// The bytes of a regular file of at most `limit` bytes. The type is checked before the file is
/// opened (opening a FIFO would block) and the read stops one byte past the limit, so a file that
/// grows meanwhile is still refused without being read whole.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let shown = || path.display().to_string();
    let read_err = |source| FileError::Read {
        path: shown(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(FileError::NotRegularFile { path: shown() });
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge {
            path: shown(),
            limit,
        });
    }
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge {
            path: shown(),
            limit,
        });
    }
    Ok(bytes)
}

/// A PEM certificate (the first one in the file).
pub fn read_certificate(path: &Path) -> Result<X509, FileError> {
    let pem = read_capped(path, MAX_REFERENCED_FILE_BYTES)?;
    X509::from_pem(&pem).map_err(|_| FileError::NotCertificate {
        path: path.display().to_string(),
    })
}

/// A PEM private key (PKCS#8 or traditional).
pub fn read_private_key(path: &Path) -> Result<PKey<Private>, FileError> {
    let pem = read_capped(path, MAX_REFERENCED_FILE_BYTES)?;
    PKey::private_key_from_pem(&pem).map_err(|_| FileError::NotPrivateKey {
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_not_a_regular_file() {
        let err = read_certificate(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.to_string(), "/dev/zero is not a regular file");
    }

    #[test]
    fn a_directory_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_capped(dir.path(), 10).unwrap_err();
        assert!(matches!(err, FileError::NotRegularFile { .. }), "{err}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 11]).unwrap();
        let err = read_capped(&path, 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is larger than 10 bytes", path.display())
        );
        std::fs::write(&path, vec![b'a'; 10]).unwrap();
        assert_eq!(read_capped(&path, 10).unwrap().len(), 10);
    }

    #[test]
    fn a_certificate_over_a_mebibyte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sp.crt");
        let size = usize::try_from(MAX_REFERENCED_FILE_BYTES).unwrap() + 1;
        std::fs::write(&path, vec![b'\n'; size]).unwrap();
        let err = read_certificate(&path).unwrap_err();
        assert!(matches!(err, FileError::TooLarge { limit, .. } if limit == 1024 * 1024));
    }

    #[test]
    fn text_is_not_a_certificate_or_a_key_and_a_pem_pair_is_both() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        assert!(matches!(
            read_certificate(&text),
            Err(FileError::NotCertificate { .. })
        ));
        assert!(matches!(
            read_private_key(&text),
            Err(FileError::NotPrivateKey { .. })
        ));

        let sp = crate::keys::SigningKey::generate().unwrap();
        let (crt, key) = (dir.path().join("sp.crt"), dir.path().join("sp.key"));
        std::fs::write(&crt, sp.certificate.pem()).unwrap();
        std::fs::write(&key, sp.pkey().private_key_to_pem_pkcs8().unwrap()).unwrap();
        assert!(read_certificate(&crt).is_ok());
        assert!(read_private_key(&key).is_ok());
    }

    #[test]
    fn a_missing_file_says_it_cannot_be_read() {
        let err = read_capped(Path::new("/nonexistent/sp.crt"), 10).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/sp.crt: "),
            "{err}"
        );
    }
}
