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
