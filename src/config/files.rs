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

/// How long fetching a document named by URL may take, connection to last byte.
pub const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a document named by URL (an SP's metadata) could not be fetched. `url` is as written.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{url}: fakta fetches over plain http only (it has no TLS client); download it (`curl -o sp-metadata.xml {url}`) and name the file"
    )]
    NotHttp { url: String },
    #[error("{url}: cannot connect: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("{url}: no answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: reading the answer: {source}")]
    Read { url: String, source: std::io::Error },
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: not an HTTP answer")]
    NotHttpAnswer { url: String },
    #[error(
        "{url}: the server answered {status}, not 200 (redirects are not followed: give the final URL)"
    )]
    Status { url: String, status: u16 },
    #[error("{url}: the server sent a chunked answer to an HTTP/1.0 request")]
    Chunked { url: String },
}

/// The body of `GET url` (plain http), at most `limit` bytes, within [`FETCH_TIMEOUT`]. A blocking
/// HTTP/1.0 request on a std socket: the loader runs outside any async runtime (and inside one in
/// some tests), and HTTP/1.0 answers end at the close, with no chunked framing to decode.
pub fn fetch_http(url: &url::Url, limit: u64) -> Result<Vec<u8>, FetchError> {
    use std::io::{Read as _, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Instant;

    let shown = || url.as_str().to_owned();
    if url.scheme() != "http" {
        return Err(FetchError::NotHttp { url: shown() });
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let started = Instant::now();
    let timeout = || FetchError::Timeout {
        url: shown(),
        secs: FETCH_TIMEOUT.as_secs(),
    };
    let connect = |source| FetchError::Connect {
        url: shown(),
        source,
    };
    let addrs: Vec<_> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(connect)?
        .collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address");
    let mut stream = None;
    for a in addrs {
        // Every address shares the one time limit.
        let left = FETCH_TIMEOUT
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(timeout)?;
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or_else(|| connect(last))?;
    let read_err = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => timeout(),
        _ => FetchError::Read {
            url: shown(),
            source,
        },
    };
    let mut target = url.path().to_owned();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    stream
        .set_write_timeout(Some(FETCH_TIMEOUT))
        .map_err(read_err)?;
    // One buffer, one write: a server that answers after the first packet would otherwise
    // see the rest of the request arrive on a closed connection.
    let request = format!(
        "GET {target} HTTP/1.0\r\nHost: {host_header}\r\nAccept: application/samlmetadata+xml, application/xml, text/xml\r\nUser-Agent: fakta\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(read_err)?;
    // Headers get 16 KiB on top of the body's limit.
    let cap = limit + 16 * 1024;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = FETCH_TIMEOUT
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(timeout)?;
        stream.set_read_timeout(Some(left)).map_err(read_err)?;
        let n = stream.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        if bytes.len() as u64 > cap {
            return Err(FetchError::TooLarge {
                url: shown(),
                limit,
            });
        }
    }
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| FetchError::NotHttpAnswer { url: shown() })?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| FetchError::NotHttpAnswer { url: shown() })?;
    if status != 200 {
        return Err(FetchError::Status {
            url: shown(),
            status,
        });
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    if chunked {
        return Err(FetchError::Chunked { url: shown() });
    }
    let body = bytes.split_off(end + 4);
    if body.len() as u64 > limit {
        return Err(FetchError::TooLarge {
            url: shown(),
            limit,
        });
    }
    Ok(body)
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

    /// Reads a request up to the end of its headers.
    fn read_request(s: &mut std::net::TcpStream) {
        use std::io::Read;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// A one-shot HTTP server on loopback answering `answer` to the first request.
    fn serve_once(answer: Vec<u8>) -> url::Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::Write;
            if let Ok((mut s, _)) = listener.accept() {
                read_request(&mut s);
                let _ = s.write_all(&answer);
            }
        });
        url::Url::parse(&format!("http://127.0.0.1:{port}/metadata?x=1")).unwrap()
    }

    #[test]
    fn an_http_url_is_fetched_and_its_body_returned() {
        let url = serve_once(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<x/>".to_vec());
        assert_eq!(fetch_http(&url, 100).unwrap(), b"<x/>");
    }

    #[test]
    fn a_fetch_that_cannot_be_used_says_why() {
        let url = serve_once(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n".to_vec());
        assert!(matches!(
            fetch_http(&url, 100),
            Err(FetchError::Status { status: 302, .. })
        ));
        let big = [b"HTTP/1.0 200 OK\r\n\r\n".to_vec(), vec![b'a'; 200]].concat();
        let url = serve_once(big);
        assert!(matches!(
            fetch_http(&url, 100),
            Err(FetchError::TooLarge { limit: 100, .. })
        ));
        let https = url::Url::parse("https://sp.test/metadata").unwrap();
        let err = fetch_http(&https, 100).unwrap_err();
        assert!(err.to_string().contains("download it"), "{err}");
    }

    #[test]
    fn a_server_that_never_answers_is_given_up_on() {
        // Accepts, reads, and holds the connection open past the time limit.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let held = listener.accept();
            std::thread::sleep(FETCH_TIMEOUT + std::time::Duration::from_secs(2));
            drop(held);
        });
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            fetch_http(&url, 100),
            Err(FetchError::Timeout { .. })
        ));
        assert!(started.elapsed() < FETCH_TIMEOUT + std::time::Duration::from_secs(1));
    }
}
