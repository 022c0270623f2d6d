//! The conformance suite against service providers that are not fakta's: minimal apps whose
//! every security decision is made by a third-party library, run by the real binary
//! (`fakta --certs DIR test FILE`) through `target.start`, exactly as a user's SP would be.
//!
//! - tests/interop/sp_authlib_app.py (connection file tests/interop/authlib-sp.yaml): an OpenID
//!   Connect relying party on Authlib's Flask client (`server_metadata_url` = the discovery URL),
//!   against the OIDC attack pack (O1-O14, with O13 restarting the app);
//! - tests/interop/sp_pysaml2_app.py (tests/interop/pysaml2-sp.yaml): a SAML SP on pysaml2's
//!   Saml2Client (IdP metadata fetched from fakta, xmlsec1, both signatures wanted, unsolicited
//!   Responses refused), against the SAML attack pack (S1-S24).
//!
//! - the published advisories (README, "The attack pack"): the same apps, and
//!   tests/interop/sp_pyjwt_app.py (tests/interop/pyjwt-sp.yaml, an ES256 relying party whose
//!   id_token check is PyJWT's), each run twice with the library pinned to a release a published
//!   advisory affects and to the release that fixed it (tests/interop/published/, installed by
//!   scripts/setup-deps under target/interop-python/ and put on PYTHONPATH): the affected
//!   release fails exactly the trials of the new case that reproduce the advisory, as an
//!   accepted forgery, and the patched release passes them.
//!
//! Each test pins the EXACT set of trials the library fails (`*_FAILS`, each entry with why,
//! checked against the transcript and the library's source), and needs the honest login
//! (`L0_honest_login`) to pass, so the app demonstrably works. A new failure, or a listed one
//! that now passes, fails the test: then read the transcript it prints and update the table.
//!
//! The committed connection files say ports 7000 (IdP) and 7100 (SP) and start the app with
//! `python3` from their own directory; each test runs a copy on free ports, with the
//! interpreter (`PYTHON`, default python3) and the script's absolute path. python3, a library or
//! xmlsec1 missing is a failure, not a skip, as in the other interop tests: run
//! `scripts/setup-deps` (CI does).

mod common;
use common::{free_port, python};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fakta");
const INTEROP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

/// Trials Authlib 1.9.10 (with joserfc 1.8.0) fails; every other trial of the pack passes.
const AUTHLIB_FAILS: &[&str] = &[
    // Authlib never requires the client_id in `aud`: `parse_id_token()`
    // (authlib/integrations/base_client/sync_openid.py) validates with claims_params
    // {"client_id": ...} and claims_options for iss only, and `IDToken.validate_azp()`
    // (authlib/oidc/core/claims.py) only demands that azp, when aud is not the client, names
    // this client. An id_token for `another-client` with azp = this client is accepted (OIDC
    // Core 3.1.3.7 step 3: the RP MUST reject an ID Token whose aud does not list it).
    "authlib-sp::O2_aud_of_another_client_azp_this_one_refused",
    // Authlib checks no userinfo `sub`. With the profile claims left out of the id_token, the
    // app asks userinfo through Authlib (`oauth.fakta.userinfo(token=token)`), and
    // `OpenIDMixin.userinfo()` (authlib/integrations/base_client/sync_openid.py) returns
    // `UserInfo(resp.json())` as it is, never comparing its `sub` with the id_token's (OIDC
    // Core 5.3.2: they MUST match). The transcript shows userinfo answering
    // sub `00u-someone-else` and the session started anyway, its email taken from that answer.
    "authlib-sp::O12_userinfo_sub_differs_refused",
    // Authlib takes the issuer from discovery: `load_server_metadata()` keeps the document as
    // fetched, and `parse_id_token()` validates `iss` against `metadata["issuer"]`
    // (claims_options {"iss": {"values": [metadata["issuer"]]}}), never against the URL the
    // document came from (OIDC Discovery 4.3: they MUST be identical). The transcript shows the
    // restarted app fetched the forged discovery once and accepted
    // iss = {base}/not-the-issuer-in-use.
    "authlib-sp::O13_discovery_issuer_not_the_issuer_in_use_refused",
];

/// Trials pysaml2 7.5.5 fails; every other trial of the pack passes.
const PYSAML2_FAILS: &[&str] = &[
    // pysaml2 checks SubjectConfirmationData's Recipient only when the caller passes
    // `conv_info` to `parse_authn_request_response`: `AuthnResponse.verify_recipient()`
    // (saml2/response.py) returns True when `conv_info` is empty, its default. The app calls it
    // as pysaml2 users commonly do (djangosaml2's ACS view, Synapse: no conv_info), so a
    // Recipient of another ACS is accepted; only its presence is required (S12_no_recipient
    // passes: "No valid recipient"). With conv_info={"entity_id": ...} this trial passes
    // (checked by hand). The Response's Destination is checked regardless (S7_destination).
    "pysaml2-sp::S7_recipient_not_the_acs_refused",
    // The same unchecked Recipient: another site's URL that merely contains the ACS URL is
    // taken too.
    "pysaml2-sp::S7_recipient_containing_the_acs_refused",
    // pysaml2 verifies with whatever SignatureMethod and DigestMethod the document names
    // (saml2/sigver.py has no allow-list for verification; xmlsec1 1.2.37 takes RSA-SHA1), so a
    // Response signed RSA-SHA1 over SHA-1 digests is accepted by an SP whose IdP signs SHA-256.
    // A connection-settings verdict: a pysaml2 SP cannot refuse SHA-1; a file for it that
    // accepts that says `target.allows_sha1: true` (S29 is then ignored).
    "pysaml2-sp::S29_signed_with_sha1_refused",
];

/// Trials the Authlib app cannot run: it has no route that refreshes its tokens
/// (target.refresh_url) and no "where to go next" login parameter (target.return_param), so
/// the file names neither and fakta lists these as ignored, with that reason. It logs in by the
/// code flow (no front-channel id_token: O23, O24) and its app has no initiate_login_uri (no
/// third-party-initiated login to launch with an unknown issuer).
const AUTHLIB_IGNORED: &[&str] = &[
    "authlib-sp::O18_refreshed_id_token_of_another_sub_refused",
    "authlib-sp::O19_refreshed_id_token_of_another_iss_refused",
    "authlib-sp::O21_off_site_return_https_refused",
    "authlib-sp::O21_off_site_return_scheme_relative_refused",
    "authlib-sp::O23_at_hash_of_another_access_token_refused",
    "authlib-sp::O24_c_hash_of_another_code_refused",
    "authlib-sp::L0_idp_initiated_login_unknown_issuer_refused",
    // The app signs in by redirect, never silently with okta_post_message.
    "authlib-sp::O25_post_message_from_the_idp_origin_accepted",
    "authlib-sp::O25_post_message_from_another_origin_refused",
    // No refresh route either for O26's two refreshes with rotating tokens.
    "authlib-sp::O26_one_refresh_with_rotation_keeps_the_session",
    "authlib-sp::O26_second_refresh_presents_the_rotated_token",
];

/// One independent SP: its app, its connection file, the library whose version is pinned.
struct Sp {
    pack: &'static str,
    script: &'static str,
    file: &'static str,
    library: &'static str,
    version: &'static str,
    /// Trials the file's settings make the plan report ignored, with its reason (every other
    /// trial must run).
    ignored: &'static [&'static str],
}

const AUTHLIB: Sp = Sp {
    pack: "authlib-sp",
    script: "sp_authlib_app.py",
    file: "authlib-sp.yaml",
    library: "authlib",
    version: "1.9.10",
    ignored: AUTHLIB_IGNORED,
};

const PYSAML2: Sp = Sp {
    pack: "pysaml2-sp",
    script: "sp_pysaml2_app.py",
    file: "pysaml2-sp.yaml",
    library: "pysaml2",
    version: "7.5.5",
    // The app requires signed assertions (requires_signed_assertions): a Response-signed
    // document is refused before any digest is read, so that S30 variant proves nothing. The
    // app does not encrypt assertions, so S27 and S28 have nothing to judge (pysaml2's
    // decryption is checked by tests/interop_pysaml2.rs).
    ignored: &[
        "pysaml2-sp::S30_digest_in_a_comment_response_signed_refused",
        "pysaml2-sp::S27_assertion_not_encrypted_refused",
        "pysaml2-sp::S28_encrypted_assertion_unsigned_refused",
        "pysaml2-sp::S28_encrypted_assertion_signature_broken_refused",
    ],
};

impl Sp {
    fn script_path(&self) -> PathBuf {
        Path::new(INTEROP).join(self.script)
    }

    /// Checks that the interpreter and the library are there, at the pinned version; panics
    /// (never skips) when not.
    fn require_env(&self) {
        common::require_python(
            &self.script_path().to_string_lossy(),
            self.library,
            self.version,
        );
    }

    /// The committed connection file on free ports, starting the app with this test's
    /// interpreter and the script's absolute path; written into `dir`.
    fn connection_copy(&self, dir: &Path) -> PathBuf {
        let original = std::fs::read_to_string(Path::new(INTEROP).join(self.file)).unwrap();
        let (idp, sp) = (free_port(), free_port());
        let start = format!("exec python3 {} --port 7100", self.script);
        for must in ["127.0.0.1:7000", "127.0.0.1:7100", start.as_str()] {
            assert!(
                original.contains(must),
                "{} no longer has `{must}`, which this test rewrites",
                self.file
            );
        }
        let command = format!(
            "exec {} {} --port {sp}",
            sh_quote(&python()),
            sh_quote(&self.script_path().display().to_string())
        );
        let yaml = original
            .replace(&start, &command)
            .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
            .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
        let file = dir.join(self.file);
        std::fs::write(&file, yaml).unwrap();
        file
    }

    /// Runs `fakta test` on a copy of the connection file and checks the failing trials are
    /// exactly `fails`, and the ignored ones exactly `self.ignored`.
    fn run(&self, fails: &[&str]) {
        self.require_env();
        // On other ports when one was taken between choosing it and binding it.
        let ((_dir, file), (code, stdout, stderr)) = common::retry_on_addr_in_use(|| {
            let dir = tempfile::tempdir().unwrap();
            let file = self.connection_copy(dir.path());
            let ran = common::run_with_deadline(
                Command::new(BIN)
                    .arg("--certs")
                    .arg(dir.path().join("certs"))
                    .arg("test")
                    .arg(&file)
                    .env_remove("FAKTA_LOG")
                    .env_remove("PYSAML2_SP_LOG")
                    // fakta writes the SP's log, and the apps their temporary files, under
                    // TMPDIR.
                    .env("TMPDIR", dir.path()),
                std::time::Duration::from_secs(300),
            );
            ((dir, file), ran)
        });
        let context = || {
            format!(
                "$ fakta test {}\n{stdout}\n--- stderr ---\n{stderr}\n--- the SP's log ---\n{}",
                file.display(),
                sp_log(&stderr)
            )
        };

        let trials = results(&stdout);
        assert!(
            !trials.is_empty(),
            "fakta ran no trial (exit {code}):\n{}",
            context()
        );
        let honest = format!("{}::L0_honest_login", self.pack);
        assert_eq!(
            trials.iter().find(|(n, _)| *n == honest).map(|(_, r)| *r),
            Some("ok"),
            "the honest login must pass, or the app does not work at all:\n{}",
            context()
        );
        let odd: Vec<_> = trials
            .iter()
            .filter(|(n, r)| *r != "ok" && *r != "FAILED" && !self.ignored.contains(n))
            .collect();
        assert!(
            odd.is_empty(),
            "every trial must run (none ignored but the listed): {odd:?}\n{}",
            context()
        );
        let ran: Vec<&&str> = self
            .ignored
            .iter()
            .filter(|i| {
                trials
                    .iter()
                    .any(|(n, r)| n == *i && !r.starts_with("ignored"))
            })
            .collect();
        assert!(
            ran.is_empty(),
            "listed as ignored, but ran: {ran:?}\n{}",
            context()
        );
        let names: BTreeSet<&str> = trials.iter().map(|(n, _)| *n).collect();
        let stale: Vec<&&str> = fails.iter().filter(|f| !names.contains(**f)).collect();
        assert!(
            stale.is_empty(),
            "listed failures that are not trials of the pack: {stale:?}\n{}",
            context()
        );
        let failed: BTreeSet<&str> = trials
            .iter()
            .filter(|(_, r)| *r == "FAILED")
            .map(|(n, _)| *n)
            .collect();
        let want: BTreeSet<&str> = fails.iter().copied().collect();
        let new: Vec<&&str> = failed.difference(&want).collect();
        let fixed: Vec<&&str> = want.difference(&failed).collect();
        assert!(
            new.is_empty() && fixed.is_empty(),
            "{} {}: the failing trials changed.\n  failing now, not listed: {new:?}\n  listed, passing now: {fixed:?}\n{}",
            self.library,
            self.version,
            context()
        );
        assert_eq!(
            code,
            if fails.is_empty() { 0 } else { 101 },
            "{}",
            context()
        );
    }
}

const PYJWT: Sp = Sp {
    pack: "pyjwt-sp",
    script: "sp_pyjwt_app.py",
    file: "pyjwt-sp.yaml",
    library: "pyjwt",
    version: "2.4.0",
    ignored: &[],
};

/// One advisory, shown against a library pinned to an affected release and to its fix.
struct Advisory {
    sp: Sp,
    /// The trials of the case that reproduces it (a libtest filter).
    filter: &'static str,
    affected: &'static str,
    patched: &'static str,
    /// The trials the affected release fails (each as an accepted forgery).
    fails: &'static [&'static str],
}

impl Advisory {
    /// `fakta test FILE` with the release's directory first on PYTHONPATH, running the honest
    /// login and the trials `filter` selects (every other trial skipped by its exact name, so
    /// the SP is started once); returns each trial's result and the run's output.
    fn run(&self, version: &str) -> (Vec<(String, String)>, String) {
        let dir = tempfile::tempdir().unwrap();
        let pythonpath = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/interop-python")
            .join(format!("{}-{version}", self.sp.library));
        let out = Command::new(python())
            .arg(self.sp.script_path())
            .arg("--check-env")
            .env("PYTHONPATH", &pythonpath)
            .output()
            .expect("run python");
        let env = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(&env).unwrap_or_default();
        assert_eq!(
            v[self.sp.library],
            version,
            "{} {version} is not installed in {} ({env}); run scripts/setup-deps",
            self.sp.library,
            pythonpath.display()
        );
        let file = self.sp.connection_copy(dir.path());
        let list = Command::new(BIN)
            .arg("--certs")
            .arg(dir.path().join("certs"))
            .args(["test", "--list"])
            .arg(&file)
            .output()
            .expect("run fakta --list");
        let skips: Vec<String> = String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .filter(|n| !n.contains(self.filter) && !n.ends_with("::L0_honest_login"))
            .flat_map(|n| ["--skip".to_owned(), n.to_owned()])
            .collect();
        assert!(!skips.is_empty(), "fakta --list listed no trial to skip");
        let out = Command::new(BIN)
            .arg("--certs")
            .arg(dir.path().join("certs"))
            .arg("test")
            .arg(&file)
            .arg("--exact")
            .args(&skips)
            .env_remove("FAKTA_LOG")
            .env_remove("PYSAML2_SP_LOG")
            .env("TMPDIR", dir.path())
            .env("PYTHONPATH", &pythonpath)
            .output()
            .expect("run fakta");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let trials = results(&stdout)
            .into_iter()
            .map(|(n, r)| (n.to_owned(), r.to_owned()))
            .collect();
        let context = format!(
            "$ PYTHONPATH={} fakta test {} --exact --skip (all but L0 and {})\n{stdout}\n--- stderr ---\n{}",
            pythonpath.display(),
            file.display(),
            self.filter,
            String::from_utf8_lossy(&out.stderr)
        );
        (trials, context)
    }

    /// The honest login passes with both releases; the affected one fails exactly `fails`
    /// among the case's trials, each as sp-accepted; the patched one fails none.
    fn check(&self) {
        for (version, want) in [(self.affected, self.fails), (self.patched, &[][..])] {
            let (trials, context) = self.run(version);
            assert!(
                trials
                    .iter()
                    .any(|(n, r)| n.ends_with("::L0_honest_login") && r == "ok"),
                "{} {version}: the honest login must pass:\n{context}",
                self.sp.library
            );
            assert!(
                trials
                    .iter()
                    .filter(|(n, _)| n.contains(self.filter))
                    .count()
                    > want.len(),
                "{} {version}: too few trials of the case ran:\n{context}",
                self.sp.library
            );
            let failed: BTreeSet<&str> = trials
                .iter()
                .filter(|(_, r)| r != "ok")
                .map(|(n, _)| n.as_str())
                .collect();
            assert_eq!(
                failed,
                want.iter().copied().collect::<BTreeSet<_>>(),
                "{} {version}: the failing trials are not the advisory's:\n{context}",
                self.sp.library
            );
            for name in want {
                let section = context
                    .split(&format!("---- {name} ----\n"))
                    .nth(1)
                    .unwrap_or_default();
                assert!(
                    section.starts_with("kind: sp-accepted"),
                    "{name} must fail as an accepted forgery:\n{context}"
                );
            }
        }
    }
}

/// pysaml2 CVE-2021-21239 (GHSA-5p3x-r448-pc62): before 6.5.0, pysaml2 let xmlsec1 verify with
/// any key the document carried; 6.5.0 passes `--enabled-key-data raw-x509-cert`
/// (saml2/sigver.py). With 6.4.1 both key-value variants of S2 get through (xmlsec1 1.2 takes
/// the ds:KeyValue even beside the IdP's certificate); the certificate-in-KeyInfo S2 does not.
#[test]
fn pysaml2_6_4_1_takes_a_key_value_from_the_document_and_6_5_0_does_not() {
    Advisory {
        sp: PYSAML2,
        filter: "S2_",
        affected: "6.4.1",
        patched: "6.5.0",
        fails: &[
            "pysaml2-sp::S2_signed_by_a_foreign_key_value_beside_the_idp_certificate_refused",
            "pysaml2-sp::S2_signed_by_a_foreign_key_value_without_certificate_refused",
        ],
    }
    .check();
}

/// PyJWT CVE-2022-29217 (GHSA-ffqj-6fqr-9h24): PyJWT 2.3.0's `HMACAlgorithm.prepare_key`
/// (jwt/algorithms.py) blocked PEM and `ssh-rsa` keys as HMAC secrets but not
/// `ecdsa-sha2-nistp256` lines; 2.4.0 refuses every PEM and OpenSSH key (`is_pem_format`,
/// `is_ssh_key`). The app keeps the IdP's ES256 key as an OpenSSH line, so of the O8 variants
/// only that encoding gets through 2.3.0.
#[test]
fn pyjwt_2_3_0_takes_an_openssh_ecdsa_key_as_hmac_secret_and_2_4_0_does_not() {
    Advisory {
        sp: PYJWT,
        filter: "O8_",
        affected: "2.3.0",
        patched: "2.4.0",
        fails: &["pyjwt-sp::O8_hs256_with_the_public_key_as_openssh_line_refused"],
    }
    .check();
}

/// `'text'` for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Each trial's name and result (`ok`, `FAILED`, `ignored ...`), from libtest-style lines.
fn results(stdout: &str) -> Vec<(&str, &str)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, result) = l.strip_prefix("test ")?.split_once(" ... ")?;
            Some((name.trim(), result.trim()))
        })
        .collect()
}

/// The last lines of the log fakta names on stderr (`... output in PATH)`).
fn sp_log(stderr: &str) -> String {
    let Some(path) = stderr
        .split("output in ")
        .nth(1)
        .and_then(|r| r.split(')').next())
    else {
        return "(no log path on stderr)".into();
    };
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({path}: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(200)..].join("\n")
}

#[test]
fn authlib_relying_party_fails_exactly_the_listed_trials() {
    AUTHLIB.run(AUTHLIB_FAILS);
}

#[test]
fn pysaml2_service_provider_fails_exactly_the_listed_trials() {
    PYSAML2.run(PYSAML2_FAILS);
}
