//! The crate's audited FFI spots, the only unsafe code:
//! - libxmlsec1 prints every failed verification to stderr through its default error callback.
//!   A refused forgery is an expected outcome here, not an error worth a stack of C
//!   diagnostics, so that output is turned off once, before first use.
//! - libxmlsec1 opens the URI of a `ds:Reference` (http, ftp, files) through the I/O callbacks
//!   it registers at initialization. fakta only ever verifies same-document references, so
//!   those callbacks are removed once xmlsec is initialized: even a reference that got past
//!   `saml::signature::same_document_references` cannot make it connect anywhere. (samael does
//!   not expose the signature context, whose `enabledReferenceUris` would say the same per
//!   verification.)
//! - `kill(2)` on a process group, to stop an SP that `fakta test` started (`target.start`)
//!   with everything it started in turn.
//! - the two pipes Chromium's `--remote-debugging-pipe` speaks DevTools over (its fds 3 and 4):
//!   `pipe2(2)`, and `dup2(2)` in the child between fork and exec (`crate::browser`).

use std::sync::Once;

#[expect(unsafe_code, reason = "an FFI declaration, see the module docs")]
#[link(name = "xmlsec1")]
unsafe extern "C" {
    /// `void xmlSecErrorsDefaultCallbackEnableOutput(int enabled)` from <xmlsec/errors.h>.
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::os::raw::c_int);
    /// `void xmlSecIOCleanupCallbacks(void)` from <xmlsec/io.h>: empties the list of I/O
    /// callbacks xmlsec opens external URIs with.
    fn xmlSecIOCleanupCallbacks();
}

/// Prepares libxmlsec1 for fakta, once, before its first use (idempotent, thread-safe): its
/// own error printing off, then (after forcing samael's one-time initialization, which
/// registers them) its I/O callbacks removed, so it can open no URI at all.
pub fn prepare_xmlsec() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the function only stores an int in a process-global flag; it takes no
        // pointers and is safe to call before or after xmlSecInit.
        #[expect(unsafe_code, reason = "an FFI call, see the module docs")]
        unsafe {
            xmlSecErrorsDefaultCallbackEnableOutput(0)
        }
        // Loading a key initializes xmlsec (xmlSecInit registers the default I/O callbacks);
        // this one is empty, so it fails right after.
        use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};
        let _ = XmlSec::verify_signed_xml("<x/>", &CertificateDer::from(Vec::new()), None);
        // SAFETY: takes nothing, empties a list that xmlsec owns; it runs inside the Once,
        // before any verification or signature of fakta's, so no xmlsec call is under way.
        #[expect(unsafe_code, reason = "an FFI call, see the module docs")]
        unsafe {
            xmlSecIOCleanupCallbacks()
        }
    });
}

/// Sends `sig` to every process of the group `pgid` (`kill(-pgid, sig)`); signal 0 only asks
/// whether the group still exists. Returns whether the call succeeded.
pub fn signal_group(pgid: i32, sig: std::os::raw::c_int) -> bool {
    if pgid <= 1 {
        // kill(-1, ...) would signal every process we may signal; 0 and 1 are never ours.
        return false;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    #[expect(unsafe_code, reason = "an FFI call, see the module docs")]
    unsafe {
        libc::kill(-pgid, sig) == 0
    }
}

/// The pipes of Chromium's `--remote-debugging-pipe`: the browser reads commands on its fd 3
/// and writes answers and events on its fd 4. Keep [`DevtoolsPipes::child_ends`] until the
/// child is spawned, then drop them (so the browser's exit closes the pipe we read).
#[derive(Debug)]
pub struct DevtoolsPipes {
    /// Our end of the browser's fd 3: we write commands here.
    pub to_browser: std::os::fd::OwnedFd,
    /// Our end of the browser's fd 4: answers and events come here.
    pub from_browser: std::os::fd::OwnedFd,
    /// The browser's ends (above fd 9, close-on-exec), moved to 3 and 4 in the child.
    pub child_ends: [std::os::fd::OwnedFd; 2],
}

/// Makes the two pipes and arranges for `cmd`'s child to find them as fds 3 and 4.
pub fn devtools_pipes(cmd: &mut std::process::Command) -> std::io::Result<DevtoolsPipes> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;

    fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two ints into the array we pass, which lives for the call.
        #[expect(unsafe_code, reason = "an FFI call, see the module docs")]
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened by pipe2 and belong to nobody else.
        #[expect(unsafe_code, reason = "taking ownership of fresh descriptors")]
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }
    /// A copy at fd 10 or above, so the dup2 calls in the child cannot overwrite each other.
    fn high(fd: &OwnedFd) -> std::io::Result<OwnedFd> {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor we own returns a new one or -1.
        #[expect(unsafe_code, reason = "an FFI call, see the module docs")]
        let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
        if new < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor from fcntl, owned by nobody else.
        #[expect(unsafe_code, reason = "taking ownership of a fresh descriptor")]
        Ok(unsafe { OwnedFd::from_raw_fd(new) })
    }
    let (browser_reads, we_write) = pipe()?;
    let (we_read, browser_writes) = pipe()?;
    let (r, w) = (high(&browser_reads)?, high(&browser_writes)?);
    let (r_fd, w_fd) = (r.as_raw_fd(), w.as_raw_fd());
    // SAFETY: the closure runs in the child between fork and exec and only calls dup2, which is
    // async-signal-safe; both source descriptors are at 10 or above, so neither dup2 replaces
    // the other's source. dup2 clears close-on-exec on 3 and 4.
    #[expect(unsafe_code, reason = "dup2 in the child, see the module docs")]
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(r_fd, 3) < 0 || libc::dup2(w_fd, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(DevtoolsPipes {
        to_browser: we_write,
        from_browser: we_read,
        child_ends: [r, w],
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};

    /// The backstop alone: xmlsec called directly (no reference check before it) with a
    /// reference to a listening loopback port opens no connection once prepared.
    #[test]
    fn prepared_xmlsec_opens_no_uri() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        super::prepare_xmlsec();
        let key = crate::keys::SigningKey::generate().unwrap();
        let template = crate::saml::response::signature_template("_r", "MIIB")
            .replace("URI=\"#_r\"", &format!("URI=\"http://127.0.0.1:{port}/x\""))
            .replace(
                "<ds:DigestValue></ds:DigestValue>",
                "<ds:DigestValue>AAAA</ds:DigestValue>",
            )
            .replace(
                "<ds:SignatureValue></ds:SignatureValue>",
                "<ds:SignatureValue>AAAA</ds:SignatureValue>",
            );
        let xml = format!("<r ID=\"_r\">{template}</r>");
        let cert = CertificateDer::from(key.certificate.der().to_vec());
        assert!(XmlSec::verify_signed_xml(&xml, &cert, Some("ID")).is_err());
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(hits.load(Ordering::SeqCst), 0, "xmlsec connected");
    }
}
