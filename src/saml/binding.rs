//! The HTTP-Redirect binding (DEFLATE + base64 in a query string, with an optional detached
//! signature over the query) and the HTTP-POST binding (base64 in an auto-submitting form).

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::read::DeflateDecoder;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;

use super::ns;
use super::untrusted;
use super::xml::escape;

/// Largest SAML message accepted, encoded or decoded.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindingError {
    #[error("the SAML message is {size} bytes; at most {MAX_MESSAGE_BYTES} are accepted")]
    TooLarge { size: usize },
    #[error("the SAML message is not valid base64: {0}")]
    Base64(String),
    #[error("the SAML message is not valid DEFLATE data (HTTP-Redirect binding): {0}")]
    Deflate(String),
    #[error("the SAML message inflates to more than {MAX_MESSAGE_BYTES} bytes")]
    InflatesTooLarge,
    #[error("the SAML message is not UTF-8 text")]
    NotUtf8,
    #[error("the XML nests deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("the query string has no `{0}` parameter")]
    MissingParameter(&'static str),
    #[error("the request carries `Signature` but no `SigAlg`")]
    MissingSigAlg,
    #[error("signature algorithm `{0}` is not accepted; expected {alg}", alg = ns::ALG_RSA_SHA256)]
    UnsupportedSigAlg(String),
    #[error("the request is not signed, but this app requires signed requests")]
    Unsigned,
    #[error("the request's signature does not verify with the SP certificate")]
    BadSignature,
}

/// Decodes the `SAMLRequest`/`SAMLResponse` value of an HTTP-Redirect binding (already
/// percent-decoded) into XML text, refusing anything over [`MAX_MESSAGE_BYTES`] at each stage
/// and anything nesting deeper than [`untrusted::MAX_DEPTH`] elements (checked on the text,
/// before any parser runs).
pub fn decode_redirect(value: &str) -> Result<String, BindingError> {
    let raw = decode_base64(value)?;
    let mut out = Vec::new();
    let mut dec = DeflateDecoder::new(&raw[..]).take(MAX_MESSAGE_BYTES as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| BindingError::Deflate(e.to_string()))?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(BindingError::InflatesTooLarge);
    }
    checked_text(out)
}

/// Decodes the `SAMLRequest`/`SAMLResponse` value of an HTTP-POST binding into XML text, with
/// the limits of [`decode_redirect`].
pub fn decode_post(value: &str) -> Result<String, BindingError> {
    checked_text(decode_base64(value)?)
}

fn checked_text(bytes: Vec<u8>) -> Result<String, BindingError> {
    let text = String::from_utf8(bytes).map_err(|_| BindingError::NotUtf8)?;
    untrusted::check_depth(&text).map_err(|_| BindingError::TooDeep {
        limit: untrusted::MAX_DEPTH,
    })?;
    Ok(text)
}

fn decode_base64(value: &str) -> Result<Vec<u8>, BindingError> {
    if value.len() > MAX_MESSAGE_BYTES {
        return Err(BindingError::TooLarge { size: value.len() });
    }
    // Line breaks and spaces are common in POSTed messages; `+` may arrive as space.
    let cleaned: String = value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\t'))
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| BindingError::Base64(e.to_string()))
}

/// Encodes XML for the HTTP-Redirect binding (DEFLATE, base64; not yet percent-encoded).
pub fn encode_redirect(xml: &str) -> String {
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use std::io::Write;
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(xml.as_bytes());
    let bytes = enc.finish().unwrap_or_default();
    STANDARD.encode(bytes)
}

/// Encodes XML for the HTTP-POST binding.
pub fn encode_post(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}

/// Finds a parameter in a raw query string, returning its still percent-encoded value.
pub fn raw_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// Checks the detached signature of an HTTP-Redirect binding message (SAML Bindings 3.4.4.1):
/// RSA-SHA256 over `SAMLRequest=..&RelayState=..&SigAlg=..` exactly as the values were sent.
/// `required` makes an unsigned message an error.
pub fn verify_redirect_signature(
    raw_query: &str,
    message_param: &'static str,
    sp_cert: &X509,
    required: bool,
) -> Result<bool, BindingError> {
    let Some(sig) = raw_param(raw_query, "Signature") else {
        return if required {
            Err(BindingError::Unsigned)
        } else {
            Ok(false)
        };
    };
    let sig_alg = raw_param(raw_query, "SigAlg").ok_or(BindingError::MissingSigAlg)?;
    let alg = percent_decode(sig_alg);
    if alg != ns::ALG_RSA_SHA256 {
        return Err(BindingError::UnsupportedSigAlg(alg));
    }
    let message =
        raw_param(raw_query, message_param).ok_or(BindingError::MissingParameter(message_param))?;
    let mut signed = format!("{message_param}={message}");
    if let Some(rs) = raw_param(raw_query, "RelayState") {
        signed.push_str("&RelayState=");
        signed.push_str(rs);
    }
    signed.push_str("&SigAlg=");
    signed.push_str(sig_alg);
    let sig = decode_base64(&percent_decode(sig))?;
    let key = sp_cert
        .public_key()
        .map_err(|_| BindingError::BadSignature)?;
    let ok = Verifier::new(MessageDigest::sha256(), &key)
        .and_then(|mut v| {
            v.update(signed.as_bytes())?;
            v.verify(&sig)
        })
        .unwrap_or(false);
    if ok {
        Ok(true)
    } else {
        Err(BindingError::BadSignature)
    }
}

/// Percent-decodes a query value (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The HTML page of the HTTP-POST binding: a form that posts itself to `action` with
/// `field` (SAMLResponse or SAMLRequest) and RelayState, and a button for browsers without
/// JavaScript.
pub fn post_form(action: &str, field: &str, value_b64: &str, relay_state: Option<&str>) -> String {
    let mut fields = vec![(field, value_b64)];
    if let Some(rs) = relay_state {
        fields.push(("RelayState", rs));
    }
    post_form_fields(action, &fields)
}

/// An auto-submitting form posting `fields` to `action` (also OAuth's `form_post` mode).
pub fn post_form_fields(action: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>",
                escape(name),
                escape(value)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>fakta: posting to the service provider</title></head>\
<body onload=\"document.forms[0].submit()\">\
<noscript><p>JavaScript is off: press Continue to go on to the service provider.</p></noscript>\
<form method=\"post\" action=\"{action}\">{inputs}\
<noscript><input type=\"submit\" value=\"Continue\"/></noscript>\
</form></body></html>\n",
        action = escape(action),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_round_trip() {
        let xml =
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\"/>";
        assert_eq!(decode_redirect(&encode_redirect(xml)).unwrap(), xml);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(matches!(
            decode_redirect("%%%"),
            Err(BindingError::Base64(_))
        ));
        assert!(matches!(
            decode_redirect(&STANDARD.encode(b"not deflate at all")),
            Err(BindingError::Deflate(_))
        ));
        let big = "A".repeat(MAX_MESSAGE_BYTES + 4);
        assert!(matches!(
            decode_redirect(&big),
            Err(BindingError::TooLarge { .. })
        ));
    }

    #[test]
    fn deep_messages_are_refused_by_both_decoders() {
        let deep = format!("{}{}", "<a>".repeat(3100), "</a>".repeat(3100));
        let redirect = encode_redirect(&deep);
        assert!(redirect.len() < 300, "a tiny message: {}", redirect.len());
        let too_deep = Err(BindingError::TooDeep {
            limit: untrusted::MAX_DEPTH,
        });
        assert_eq!(decode_redirect(&redirect), too_deep);
        assert_eq!(decode_post(&encode_post(&deep)), too_deep);
    }

    #[test]
    fn deflate_bombs_stop_at_the_limit() {
        let bomb = encode_redirect(&" ".repeat(10 * MAX_MESSAGE_BYTES));
        assert!(bomb.len() < MAX_MESSAGE_BYTES);
        assert_eq!(decode_redirect(&bomb), Err(BindingError::InflatesTooLarge));
    }

    #[test]
    fn post_form_escapes_relay_state() {
        let html = post_form(
            "http://sp/acs?a=1&b=2",
            "SAMLResponse",
            "QUJD",
            Some("\"><script>"),
        );
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains("action=\"http://sp/acs?a=1&amp;b=2\""));
    }
}
