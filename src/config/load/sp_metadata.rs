//! `apps[].sp_metadata`: the SP's SAML metadata, named by a file (relative to the connection
//! file) or a plain-http URL, read when the connection file is loaded. It fills the SAML app's
//! keys the file leaves out (audience, acs_url, logout.slo_url, sp_certificate, sp_signs,
//! name_id.format); a key the file does set wins, and a warning at that key says where the two
//! disagree, so a stale copy of a setting is seen before a login fails on it.

use std::path::Path;

use openssl::x509::X509;
use url::Url;

use super::super::files::{self, FileError, MAX_REFERENCED_FILE_BYTES};
use super::super::model::*;
use super::super::reader::{At, Map, Sink};
use crate::saml::sp_metadata::{self, SpMetadata};

/// The metadata of one app, with where it was named.
pub(super) struct Imported {
    /// The file or URL as written in the connection file.
    pub source: String,
    pub meta: SpMetadata,
}

impl Imported {
    /// Warns at `at` that the file's `key` is `here` where the metadata says `there`.
    pub fn disagree(
        &self,
        sink: &mut Sink,
        at: &At<impl Sized>,
        key: &str,
        here: &str,
        there: &str,
    ) {
        self.differs(sink, at, &format!("{key} is `{here}`"), there);
    }

    /// Warns at `at`: "`what` here, the SP's metadata (source) says `there`".
    pub fn differs(&self, sink: &mut Sink, at: &At<impl Sized>, what: &str, there: &str) {
        sink.warning(
            at.pos,
            &at.path,
            format!(
                "{what} here, the SP's metadata ({}) says `{there}`; the file's value is used",
                self.source
            ),
        );
    }
}

/// Reads `sp_metadata` if the app has it; an unusable document is an error at the key.
pub(super) fn load(sink: &mut Sink, m: &Map<'_>, base_dir: &Path) -> Option<Imported> {
    let at = m.string(sink, "sp_metadata")?;
    let meta = match read_sp_metadata(&at.value, base_dir) {
        Ok(meta) => meta,
        Err(e) => {
            sink.error(at.pos, &at.path, e);
            return None;
        }
    };
    for c in &meta.choices {
        sink.warning(
            at.pos,
            &at.path,
            format!("the SP's metadata {} lists {c}", at.value),
        );
    }
    Some(Imported {
        source: at.value,
        meta,
    })
}

/// An SP's metadata named by `source` (a file relative to `base_dir`, or a plain-http URL),
/// read and parsed; the error names the source and what is wrong. `fakta init --sp-metadata`
/// uses it too.
pub fn read_sp_metadata(source: &str, base_dir: &Path) -> Result<SpMetadata, String> {
    let text = read(source, base_dir)?;
    sp_metadata::parse(&text).map_err(|e| format!("the SP's metadata {source}: {e}"))
}

/// The document's text: a URL is fetched (http only), anything else is a file path.
fn read(source: &str, base_dir: &Path) -> Result<String, String> {
    let bytes = if source.contains("://") {
        let url = Url::parse(source).map_err(|e| format!("`{source}` is not a URL: {e}"))?;
        files::fetch_http(&url, MAX_REFERENCED_FILE_BYTES).map_err(|e| e.to_string())?
    } else {
        let path = base_dir.join(source);
        files::read_capped(&path, MAX_REFERENCED_FILE_BYTES).map_err(|e| match e {
            FileError::TooLarge { path, limit } => {
                format!("{path} is larger than {limit} bytes, the limit for SP metadata")
            }
            other => other.to_string(),
        })?
    };
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the SP's metadata {source} is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// A string key the metadata can fill: the file's value if set (with a warning where the two
/// differ), else the metadata's; without metadata the key is required as before.
pub(super) fn string_key(
    sink: &mut Sink,
    m: &Map<'_>,
    key: &str,
    what: &str,
    imported: Option<&Imported>,
    from_meta: impl Fn(&SpMetadata) -> String,
) -> Option<At<String>> {
    let Some(i) = imported else {
        // An unusable `sp_metadata` already has its error; a missing key would repeat it.
        return if m.get("sp_metadata").is_some() {
            m.string(sink, key)
        } else {
            m.req_string(sink, key, what)
        };
    };
    let there = from_meta(&i.meta);
    match m.string(sink, key) {
        Some(here) => {
            if !same_value(&here.value, &there) {
                i.disagree(sink, &here, key, &here.value, &there);
            }
            Some(here)
        }
        None => Some(At {
            value: there,
            pos: m.key_pos("sp_metadata"),
            path: m.key_path("sp_metadata"),
        }),
    }
}

/// Equal as written, or as URLs (`https://sp/acs` and `https://sp:443/acs` are one place).
fn same_value(a: &str, b: &str) -> bool {
    a == b || matches!((Url::parse(a), Url::parse(b)), (Ok(x), Ok(y)) if x == y)
}

/// The SP certificate: the file's `sp_certificate` if set (checked as before; a warning when the
/// metadata's signing certificate is another), else the metadata's.
pub(super) fn certificate(
    sink: &mut Sink,
    m: &Map<'_>,
    base_dir: &Path,
    imported: Option<&Imported>,
) -> Option<SpCertificate> {
    let from_meta = imported.and_then(|i| i.meta.signing_certificate.clone().map(|x509| (i, x509)));
    let Some(c) = m.string(sink, "sp_certificate") else {
        return from_meta.map(|(i, x509)| SpCertificate::Metadata {
            source: i.source.clone(),
            x509,
        });
    };
    match files::read_certificate(&base_dir.join(&c.value)) {
        Err(e) => sink.error(c.pos, &c.path, e.to_string()),
        Ok(here) => {
            if let Some((i, there)) = &from_meta {
                if der(&here) != der(there) {
                    sink.warning(
                        c.pos,
                        &c.path,
                        format!(
                            "sp_certificate is `{}` (SHA-256 {}) here, the SP's metadata ({}) has signing certificate SHA-256 {}; the file's value is used",
                            c.value,
                            fingerprint(&here),
                            i.source,
                            fingerprint(there)
                        ),
                    );
                }
            }
        }
    }
    Some(SpCertificate::File(c.value.into()))
}

fn der(c: &X509) -> Vec<u8> {
    c.to_der().unwrap_or_default()
}

/// The first 8 bytes of the certificate's SHA-256, enough to tell two apart in a message.
fn fingerprint(c: &X509) -> String {
    c.digest(openssl::hash::MessageDigest::sha256())
        .map(|d| {
            d.iter()
                .take(8)
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
                + ":…"
        })
        .unwrap_or_default()
}

/// What `sp_signs` is when the file leaves it out and the SP's metadata is given: AuthnRequests
/// when the metadata says `AuthnRequestsSigned="true"`; LogoutRequests and LogoutResponses
/// always, since SAML Profiles 4.4.3.1 and 4.4.3.4 require them signed (or authenticated by
/// the binding, which the front-channel bindings cannot do).
pub(super) fn default_sp_signs(meta: &SpMetadata) -> Vec<SpMessage> {
    SpMessage::ALL
        .iter()
        .copied()
        .filter(|k| *k != SpMessage::AuthnRequests || meta.authn_requests_signed)
        .collect()
}

/// The NameID format the metadata asks for: the first of its NameIDFormats fakta can issue.
pub(super) fn name_id_format(meta: &SpMetadata) -> Option<NameIdFormat> {
    meta.name_id_formats
        .iter()
        .find_map(|u| NameIdFormat::ALL.iter().copied().find(|f| f.urn() == u))
}
