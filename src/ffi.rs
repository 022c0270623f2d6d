//! The crate's audited FFI spots, the only unsafe code:
//! - libxmlsec1 prints every failed verification to stderr through its default error callback.
//!   A refused forgery is an expected outcome here, not an error worth a stack of C
//!   diagnostics, so that output is turned off once, before first use.
//! - `kill(2)` on a process group, to stop an SP that `fakta test` started (`target.start`)
//!   with everything it started in turn.

use std::sync::Once;

#[expect(unsafe_code, reason = "an FFI declaration, see the module docs")]
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
        #[expect(unsafe_code, reason = "an FFI call, see the module docs")]
        unsafe {
            xmlSecErrorsDefaultCallbackEnableOutput(0)
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
