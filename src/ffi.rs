//! The crate's one audited FFI spot: libxmlsec1 prints every failed verification to stderr
//! through its default error callback. A refused forgery is an expected outcome here, not an
//! error worth a stack of C diagnostics, so that output is turned off once, before first use.

use std::sync::Once;

#[expect(unsafe_code, reason = "the one FFI declaration, see the module docs")]
#[link(name = "xmlsec1")]
unsafe extern "C" {
    /// `void xmlSecErrorsDefaultCallbackEnableOutput(int enabled)` from <xmlsec/errors.h>.
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::os::raw::c_int);
}

/// Turns off libxmlsec1's own error printing (idempotent, thread-safe).
pub fn quiet_xmlsec() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the function only stores an int in a process-global flag; it takes no
        // pointers and is safe to call before or after xmlSecInit.
        #[expect(unsafe_code, reason = "the one FFI call, see the module docs")]
        unsafe {
            xmlSecErrorsDefaultCallbackEnableOutput(0)
        }
    });
}
