//! SAML assertion encryption (W3C XML Encryption 1.0/1.1 over an `Assertion` element), as an
//! Okta app with "Assertion Encryption: Encrypted" sends it: the Assertion is signed first,
//! then replaced by `<saml2:EncryptedAssertion>` holding an `xenc:EncryptedData` (AES-CBC or
//! AES-GCM over the Assertion's bytes) whose `ds:KeyInfo` carries the `xenc:EncryptedKey` (the
//! content key wrapped for the SP's RSA certificate with RSA-OAEP-MGF1P or RSA PKCS#1 v1.5).
//! Okta's choices: Encryption Algorithm AES256-CBC, AES128-CBC, AES256-GCM, AES128-GCM; Key
//! Transport Algorithm RSA-OAEP, RSA15 ("SAML 2.0 Encryption",
//! <https://support.okta.com/help/Documentation/Knowledge_Article/102619923-SAML-2-0-Encryption-Early-Access>;
//! AES256-GCM for FIPS orgs,
//! <https://support.okta.com/help/s/article/okta-saml-error-your-request-resulted-in-an-error-error-encrypting-saml-assertion-causes-and-remediations>).
//!
//! Built on openssl's primitives (why not libxmlsec1: ARCHITECTURE.md, "Assertion
//! encryption"). Pure: the content key and IV are arguments ([`Secrets`]), drawn by the caller (the IdP);
//! the RSA padding is the one random part (as ECDSA is for signatures), so tests check
//! encrypted documents by decrypting them, with this module and with xmlsec1 and pysaml2.
//!
//! [`decrypt_assertion`] is the reference SP's side: every length is checked before use, the
//! ciphertext is capped in bytes, and a malformed `EncryptedData` is an error naming what is
//! wrong, never a panic.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Padding;
use openssl::symm::Cipher;

use super::ns;
use crate::config::{BlockCipher, KeyTransport};

/// The most base64 text a `CipherValue` of an encrypted Assertion may hold (an honest one is
/// a few KiB; a Response body is capped below this anyway).
pub const MAX_CIPHER_VALUE_BYTES: usize = 256 * 1024;

/// The content key and IV of one encryption, drawn fresh for every Response by the caller.
#[derive(Clone)]
pub struct Secrets {
    pub key: Vec<u8>,
    pub iv: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

impl Secrets {
    /// How many bytes of key and of IV `block` takes (the caller draws them).
    pub fn lengths(block: BlockCipher) -> (usize, usize) {
        (key_len(block), iv_len(block))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error("the document has no saml2:Assertion to encrypt")]
    NoAssertion,
    #[error("the content key is {got} bytes; {block} needs {want}")]
    KeyLength {
        block: &'static str,
        got: usize,
        want: usize,
    },
    #[error("the IV is {got} bytes; {block} needs {want}")]
    IvLength {
        block: &'static str,
        got: usize,
        want: usize,
    },
    #[error("the encryption certificate's key is not RSA")]
    NotRsa,
    #[error("cannot encrypt the Assertion: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// Why an `EncryptedAssertion` could not be decrypted: each names the element and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("the EncryptedAssertion has {0} xenc:EncryptedData elements; exactly one is accepted")]
    EncryptedDataCount(usize),
    #[error("the EncryptedData has {0} xenc:EncryptedKey elements; exactly one is accepted")]
    EncryptedKeyCount(usize),
    #[error("the {0} has no xenc:EncryptionMethod Algorithm")]
    NoMethod(&'static str),
    #[error("the {what} uses `{algorithm}`, which this SP does not accept")]
    Algorithm {
        what: &'static str,
        algorithm: String,
    },
    #[error("the {0} has no xenc:CipherData/xenc:CipherValue")]
    NoCipherValue(&'static str),
    #[error("the {what} CipherValue is {len} bytes of text, more than the {limit} accepted")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("the {0} CipherValue is not base64")]
    NotBase64(&'static str),
    #[error("the EncryptedKey is {got} bytes; the SP's RSA key takes {want}")]
    WrappedKeyLength { got: usize, want: usize },
    #[error(
        "the content key does not unwrap with the SP's private key (or is not {want} bytes for {block})"
    )]
    Unwrap { block: &'static str, want: usize },
    #[error("the ciphertext is {len} bytes, not a valid length for {block} (IV, blocks, tag)")]
    CipherLength { block: &'static str, len: usize },
    #[error(
        "the Assertion does not decrypt ({block}: wrong key, altered ciphertext or bad padding)"
    )]
    Decrypt { block: &'static str },
    #[error("the decrypted Assertion is not UTF-8 text")]
    NotUtf8,
    #[error("the SP's decryption key is not RSA")]
    NotRsa,
}

/// The XML Encryption URI of a block cipher.
pub fn block_uri(block: BlockCipher) -> &'static str {
    match block {
        BlockCipher::Aes128Cbc => ns::ALG_AES128_CBC,
        BlockCipher::Aes256Cbc => ns::ALG_AES256_CBC,
        BlockCipher::Aes128Gcm => ns::ALG_AES128_GCM,
        BlockCipher::Aes256Gcm => ns::ALG_AES256_GCM,
    }
}

/// The XML Encryption URI of a key transport.
pub fn transport_uri(t: KeyTransport) -> &'static str {
    match t {
        KeyTransport::RsaOaep => ns::ALG_RSA_OAEP_MGF1P,
        KeyTransport::Rsa15 => ns::ALG_RSA_1_5,
    }
}

fn key_len(block: BlockCipher) -> usize {
    match block {
        BlockCipher::Aes128Cbc | BlockCipher::Aes128Gcm => 16,
        BlockCipher::Aes256Cbc | BlockCipher::Aes256Gcm => 32,
    }
}

/// CBC: one block; GCM: 96 bits (XML Encryption 1.1 §5.2.4).
fn iv_len(block: BlockCipher) -> usize {
    match block {
        BlockCipher::Aes128Cbc | BlockCipher::Aes256Cbc => 16,
        BlockCipher::Aes128Gcm | BlockCipher::Aes256Gcm => 12,
    }
}

const GCM_TAG: usize = 16;

fn cipher(block: BlockCipher) -> Cipher {
    match block {
        BlockCipher::Aes128Cbc => Cipher::aes_128_cbc(),
        BlockCipher::Aes256Cbc => Cipher::aes_256_cbc(),
        BlockCipher::Aes128Gcm => Cipher::aes_128_gcm(),
        BlockCipher::Aes256Gcm => Cipher::aes_256_gcm(),
    }
}

fn is_gcm(block: BlockCipher) -> bool {
    matches!(block, BlockCipher::Aes128Gcm | BlockCipher::Aes256Gcm)
}

/// The first `<saml2:Assertion ...>...</saml2:Assertion>` of fakta's own document, to its own
/// closing tag: (start, end). Assertions nested in it (a forged wrapper holding the signed one,
/// `saml::faults` XSW4) are counted, so the whole outer element is taken. One pass over the
/// text, no recursion.
fn assertion_span(xml: &str) -> Option<(usize, usize)> {
    const OPEN: &str = "<saml2:Assertion ";
    const CLOSE: &str = "</saml2:Assertion>";
    let start = xml.find(OPEN)?;
    let mut depth = 0usize;
    let mut at = start;
    loop {
        let close = xml[at..].find(CLOSE)? + at;
        match xml[at..].find(OPEN).map(|o| o + at) {
            Some(open) if open < close => {
                depth += 1;
                at = open + OPEN.len();
            }
            _ => {
                depth = depth.checked_sub(1)?;
                at = close + CLOSE.len();
                if depth == 0 {
                    return Some((start, at));
                }
            }
        }
    }
}

/// Where the first Assertion of fakta's document `xml` is (nested ones within it), as
/// [`encrypt_assertion`] takes it.
pub fn first_assertion(xml: &str) -> Option<std::ops::Range<usize>> {
    assertion_span(xml).map(|(s, e)| s..e)
}

/// The content `CipherValue` text (the last one) of an `EncryptedAssertion` fakta wrote: the
/// random IV and ciphertext, so it names one encryption (the inspector matches plaintexts to
/// the EncryptedAssertions of the document sent with it).
pub fn content_cipher_value(encrypted_assertion: &str) -> Option<&str> {
    const OPEN: &str = "<xenc:CipherValue>";
    let start = encrypted_assertion.rfind(OPEN)? + OPEN.len();
    let end = encrypted_assertion[start..].find("</xenc:CipherValue>")? + start;
    Some(&encrypted_assertion[start..end])
}

/// `xml` (fakta's Response) with its Assertion replaced by an `EncryptedAssertion` for the
/// SP's RSA key. The Assertion declares every namespace it uses, so its text stands alone.
pub fn encrypt_assertion(
    xml: &str,
    block: BlockCipher,
    transport: KeyTransport,
    sp_key: &PKey<Public>,
    secrets: &Secrets,
) -> Result<String, EncryptError> {
    let (start, end) = assertion_span(xml).ok_or(EncryptError::NoAssertion)?;
    let encrypted = encrypt_element(&xml[start..end], block, transport, sp_key, secrets)?;
    Ok(format!("{}{encrypted}{}", &xml[..start], &xml[end..]))
}

/// The `<saml2:EncryptedAssertion>` holding `element` encrypted.
pub fn encrypt_element(
    element: &str,
    block: BlockCipher,
    transport: KeyTransport,
    sp_key: &PKey<Public>,
    secrets: &Secrets,
) -> Result<String, EncryptError> {
    let name = block_name(block);
    if secrets.key.len() != key_len(block) {
        return Err(EncryptError::KeyLength {
            block: name,
            got: secrets.key.len(),
            want: key_len(block),
        });
    }
    if secrets.iv.len() != iv_len(block) {
        return Err(EncryptError::IvLength {
            block: name,
            got: secrets.iv.len(),
            want: iv_len(block),
        });
    }
    // IV || ciphertext (|| tag): XML Encryption 1.0 §5.2 (CBC, padding per §5.2: PKCS#7 is
    // one valid choice of the arbitrary padding bytes) and 1.1 §5.2.4 (GCM).
    let mut value = secrets.iv.clone();
    if is_gcm(block) {
        let mut tag = [0u8; GCM_TAG];
        let ct = openssl::symm::encrypt_aead(
            cipher(block),
            &secrets.key,
            Some(&secrets.iv),
            &[],
            element.as_bytes(),
            &mut tag,
        )?;
        value.extend_from_slice(&ct);
        value.extend_from_slice(&tag);
    } else {
        let ct = openssl::symm::encrypt(
            cipher(block),
            &secrets.key,
            Some(&secrets.iv),
            element.as_bytes(),
        )?;
        value.extend_from_slice(&ct);
    }
    let rsa = sp_key.rsa().map_err(|_| EncryptError::NotRsa)?;
    let mut wrapped = vec![0; rsa.size() as usize];
    let padding = match transport {
        // RSA-OAEP-MGF1P: OAEP with SHA-1 and MGF1-SHA1, openssl's PKCS1_OAEP.
        KeyTransport::RsaOaep => Padding::PKCS1_OAEP,
        KeyTransport::Rsa15 => Padding::PKCS1,
    };
    let n = rsa.public_encrypt(&secrets.key, &mut wrapped, padding)?;
    wrapped.truncate(n);
    let digest = match transport {
        KeyTransport::RsaOaep => format!("<ds:DigestMethod Algorithm=\"{}\"/>", ns::ALG_SHA1),
        KeyTransport::Rsa15 => String::new(),
    };
    Ok(format!(
        "<saml2:EncryptedAssertion xmlns:saml2=\"{a}\"><xenc:EncryptedData xmlns:xenc=\"{x}\" Type=\"{t}\">\
<xenc:EncryptionMethod Algorithm=\"{b}\"/><ds:KeyInfo xmlns:ds=\"{ds}\"><xenc:EncryptedKey>\
<xenc:EncryptionMethod Algorithm=\"{k}\">{digest}</xenc:EncryptionMethod>\
<xenc:CipherData><xenc:CipherValue>{wk}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>\
<xenc:CipherData><xenc:CipherValue>{cv}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml2:EncryptedAssertion>",
        a = ns::ASSERTION,
        x = ns::XENC,
        t = ns::XENC_ELEMENT,
        b = block_uri(block),
        ds = ns::DSIG,
        k = transport_uri(transport),
        wk = STANDARD.encode(wrapped),
        cv = STANDARD.encode(value),
    ))
}

fn block_name(block: BlockCipher) -> &'static str {
    block.name()
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

fn is(n: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

/// The base64 bytes of `parent`'s `CipherData/CipherValue`, capped.
fn cipher_value(parent: Node<'_, '_>, what: &'static str) -> Result<Vec<u8>, DecryptError> {
    let value = parent
        .children()
        .find(|c| is(c, ns::XENC, "CipherData"))
        .and_then(|d| d.children().find(|c| is(c, ns::XENC, "CipherValue")))
        .ok_or(DecryptError::NoCipherValue(what))?;
    // Only text children count; the length is checked before anything is copied or decoded.
    let len: usize = value
        .children()
        .filter_map(|c| c.text())
        .map(str::len)
        .sum();
    if len > MAX_CIPHER_VALUE_BYTES {
        return Err(DecryptError::TooLarge {
            what,
            len,
            limit: MAX_CIPHER_VALUE_BYTES,
        });
    }
    let text: String = value
        .children()
        .filter_map(|c| c.text())
        .flat_map(|t| t.chars())
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(text)
        .map_err(|_| DecryptError::NotBase64(what))
}

fn method<'a>(parent: Node<'a, '_>, what: &'static str) -> Result<&'a str, DecryptError> {
    parent
        .children()
        .find(|c| is(c, ns::XENC, "EncryptionMethod"))
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or(DecryptError::NoMethod(what))
}

/// The plaintext (an Assertion's text) of an `EncryptedAssertion` element, with the SP's RSA
/// private key. The `EncryptedKey` may sit in the `EncryptedData`'s `ds:KeyInfo` (as Okta
/// sends it) or beside the `EncryptedData` (SAML core §2.3.4 allows both). Blocking (RSA):
/// callers on an async runtime run it on the blocking pool.
pub fn decrypt_assertion(
    encrypted_assertion: Node<'_, '_>,
    key: &PKey<Private>,
) -> Result<String, DecryptError> {
    let datas: Vec<_> = encrypted_assertion
        .children()
        .filter(|c| is(c, ns::XENC, "EncryptedData"))
        .collect();
    let [data] = datas[..] else {
        return Err(DecryptError::EncryptedDataCount(datas.len()));
    };
    let block_alg = method(data, "EncryptedData")?;
    let block = BlockCipher::ALL
        .iter()
        .copied()
        .find(|b| block_uri(*b) == block_alg)
        .ok_or_else(|| DecryptError::Algorithm {
            what: "EncryptedData",
            algorithm: block_alg.to_owned(),
        })?;
    let inside = data
        .children()
        .filter(|c| is(c, ns::DSIG, "KeyInfo"))
        .flat_map(|k| k.children().filter(|c| is(c, ns::XENC, "EncryptedKey")));
    let beside = encrypted_assertion
        .children()
        .filter(|c| is(c, ns::XENC, "EncryptedKey"));
    let keys: Vec<_> = inside.chain(beside).collect();
    let [encrypted_key] = keys[..] else {
        return Err(DecryptError::EncryptedKeyCount(keys.len()));
    };
    let transport_alg = method(encrypted_key, "EncryptedKey")?;
    let transport = KeyTransport::ALL
        .iter()
        .copied()
        .find(|t| transport_uri(*t) == transport_alg)
        .ok_or_else(|| DecryptError::Algorithm {
            what: "EncryptedKey",
            algorithm: transport_alg.to_owned(),
        })?;
    // OAEP's digest: SHA-1 is the one rsa-oaep-mgf1p defines (and the default when absent).
    if transport == KeyTransport::RsaOaep {
        let digest = encrypted_key
            .children()
            .find(|c| is(c, ns::XENC, "EncryptionMethod"))
            .and_then(|m| m.children().find(|c| is(c, ns::DSIG, "DigestMethod")))
            .and_then(|d| d.attribute("Algorithm"));
        if let Some(d) = digest.filter(|d| *d != ns::ALG_SHA1) {
            return Err(DecryptError::Algorithm {
                what: "EncryptedKey's OAEP digest",
                algorithm: d.to_owned(),
            });
        }
    }
    let wrapped = cipher_value(encrypted_key, "EncryptedKey")?;
    let rsa = key.rsa().map_err(|_| DecryptError::NotRsa)?;
    let size = rsa.size() as usize;
    if wrapped.len() != size {
        return Err(DecryptError::WrappedKeyLength {
            got: wrapped.len(),
            want: size,
        });
    }
    let padding = match transport {
        KeyTransport::RsaOaep => Padding::PKCS1_OAEP,
        KeyTransport::Rsa15 => Padding::PKCS1,
    };
    let name = block_name(block);
    let unwrap = DecryptError::Unwrap {
        block: name,
        want: key_len(block),
    };
    let mut content_key = vec![0; size];
    let n = rsa
        .private_decrypt(&wrapped, &mut content_key, padding)
        .map_err(|_| unwrap.clone())?;
    content_key.truncate(n);
    if content_key.len() != key_len(block) {
        return Err(unwrap);
    }
    let value = cipher_value(data, "EncryptedData")?;
    let iv = iv_len(block);
    let bad_length = DecryptError::CipherLength {
        block: name,
        len: value.len(),
    };
    let failed = DecryptError::Decrypt { block: name };
    let plain = if is_gcm(block) {
        if value.len() < iv + GCM_TAG {
            return Err(bad_length);
        }
        let (nonce, rest) = value.split_at(iv);
        let (ct, tag) = rest.split_at(rest.len() - GCM_TAG);
        openssl::symm::decrypt_aead(cipher(block), &content_key, Some(nonce), &[], ct, tag)
            .map_err(|_| failed)?
    } else {
        // At least one block after the IV, whole blocks only.
        if value.len() < 2 * iv || value.len() % iv != 0 {
            return Err(bad_length);
        }
        let (nonce, ct) = value.split_at(iv);
        let mut c = openssl::symm::Crypter::new(
            cipher(block),
            openssl::symm::Mode::Decrypt,
            &content_key,
            Some(nonce),
        )
        .map_err(|_| failed.clone())?;
        // XML Encryption padding: only the last byte (the pad length) is defined.
        c.pad(false);
        let mut out = vec![0; ct.len() + iv];
        let mut n = c.update(ct, &mut out).map_err(|_| failed.clone())?;
        n += c.finalize(&mut out[n..]).map_err(|_| failed.clone())?;
        out.truncate(n);
        let pad = usize::from(*out.last().ok_or_else(|| failed.clone())?);
        if pad == 0 || pad > iv || pad > out.len() {
            return Err(failed);
        }
        out.truncate(out.len() - pad);
        out
    };
    String::from_utf8(plain).map_err(|_| DecryptError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Secrets {
        fn random(block: BlockCipher) -> Result<Secrets, EncryptError> {
            let (k, i) = Secrets::lengths(block);
            let (mut key, mut iv) = (vec![0; k], vec![0; i]);
            openssl::rand::rand_bytes(&mut key)?;
            openssl::rand::rand_bytes(&mut iv)?;
            Ok(Secrets { key, iv })
        }
    }

    fn keypair() -> (PKey<Private>, PKey<Public>) {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let private = PKey::from_rsa(rsa.clone()).unwrap();
        let public = PKey::public_key_from_der(&private.public_key_to_der().unwrap()).unwrap();
        (private, public)
    }

    const DOC: &str = "<saml2p:Response xmlns:saml2p=\"urn:oasis:names:tc:SAML:2.0:protocol\"><saml2:Assertion xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"a1\"><saml2:Subject>Zoë &amp; co</saml2:Subject></saml2:Assertion></saml2p:Response>";

    fn encrypted_of(doc: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(doc).unwrap()
    }

    fn the_encrypted_assertion<'a, 'i>(d: &'a roxmltree::Document<'i>) -> Node<'a, 'i> {
        d.descendants()
            .find(|n| is(n, ns::ASSERTION, "EncryptedAssertion"))
            .unwrap()
    }

    #[test]
    fn every_block_and_transport_round_trips() {
        let (private, public) = keypair();
        let (start, end) = assertion_span(DOC).unwrap();
        for block in BlockCipher::ALL {
            for transport in KeyTransport::ALL {
                let secrets = Secrets::random(*block).unwrap();
                let xml = encrypt_assertion(DOC, *block, *transport, &public, &secrets).unwrap();
                // Words of the plain Assertion (a two-letter one shows up in random base64).
                assert!(
                    !xml.contains("<saml2:Assertion") && !xml.contains("Subject"),
                    "{xml}"
                );
                assert!(xml.contains(block_uri(*block)) && xml.contains(transport_uri(*transport)));
                let doc = encrypted_of(&xml);
                let plain = decrypt_assertion(the_encrypted_assertion(&doc), &private).unwrap();
                assert_eq!(plain, &DOC[start..end], "{block:?} {transport:?}");
            }
        }
    }

    #[test]
    fn wrong_key_lengths_are_refused_when_encrypting() {
        let (_, public) = keypair();
        let short = Secrets {
            key: vec![1; 16],
            iv: vec![0; 16],
        };
        assert!(matches!(
            encrypt_assertion(
                DOC,
                BlockCipher::Aes256Cbc,
                KeyTransport::RsaOaep,
                &public,
                &short
            ),
            Err(EncryptError::KeyLength { want: 32, .. })
        ));
        assert!(matches!(
            encrypt_assertion(
                "<x/>",
                BlockCipher::Aes128Cbc,
                KeyTransport::RsaOaep,
                &public,
                &short
            ),
            Err(EncryptError::NoAssertion)
        ));
    }

    /// Truncated, altered, oversized and oddly shaped EncryptedData: an error naming the
    /// problem each time, never a panic.
    #[test]
    fn malformed_encrypted_data_is_an_error_never_a_panic() {
        let (private, public) = keypair();
        let (other, _) = keypair();
        for block in BlockCipher::ALL {
            let secrets = Secrets::random(*block).unwrap();
            let xml =
                encrypt_assertion(DOC, *block, KeyTransport::RsaOaep, &public, &secrets).unwrap();
            let doc = encrypted_of(&xml);
            let ea = the_encrypted_assertion(&doc);
            let values: Vec<&str> = doc
                .descendants()
                .filter(|n| is(n, ns::XENC, "CipherValue"))
                .filter_map(|n| n.text())
                .collect();
            let (wrapped, content) = (values[0], values[1]);
            let run = |x: &str| {
                let d = roxmltree::Document::parse(x).unwrap();
                decrypt_assertion(the_encrypted_assertion(&d), &private)
            };
            // Another SP's key.
            assert!(matches!(
                decrypt_assertion(ea, &other),
                Err(DecryptError::Unwrap { .. })
            ));
            // The content truncated at every length class, altered, emptied.
            let raw = STANDARD.decode(content).unwrap();
            for cut in [0, 1, 11, 12, 15, 16, 17, 27, 28, 31, raw.len() - 1] {
                let x = xml.replace(content, &STANDARD.encode(&raw[..cut.min(raw.len())]));
                assert!(run(&x).is_err(), "{block:?} cut at {cut}");
            }
            let mut flipped = raw.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(run(&xml.replace(content, &STANDARD.encode(&flipped))).is_err());
            assert_eq!(
                run(&xml.replace(content, "not base64!")),
                Err(DecryptError::NotBase64("EncryptedData"))
            );
            let big = "A".repeat(MAX_CIPHER_VALUE_BYTES + 4);
            assert!(matches!(
                run(&xml.replace(content, &big)),
                Err(DecryptError::TooLarge { .. })
            ));
            // The wrapped key truncated, or not a key of the right length.
            let wk = STANDARD.decode(wrapped).unwrap();
            assert!(matches!(
                run(&xml.replace(wrapped, &STANDARD.encode(&wk[..10]))),
                Err(DecryptError::WrappedKeyLength { got: 10, .. })
            ));
            // Unknown algorithms, a missing key, two EncryptedData.
            assert!(matches!(
                run(&xml.replace(
                    block_uri(*block),
                    "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"
                )),
                Err(DecryptError::Algorithm { .. })
            ));
            let (k0, k1) = (
                xml.find("<ds:KeyInfo").unwrap(),
                xml.find("</ds:KeyInfo>").unwrap(),
            );
            let keyless = format!("{}{}", &xml[..k0], &xml[k1 + "</ds:KeyInfo>".len()..]);
            assert_eq!(run(&keyless), Err(DecryptError::EncryptedKeyCount(0)));
            let d0 = xml.find("<xenc:EncryptedData").unwrap();
            let d1 = xml.find("</saml2:EncryptedAssertion>").unwrap();
            let twice = format!("{}{}{}", &xml[..d1], &xml[d0..d1], &xml[d1..]);
            assert_eq!(run(&twice), Err(DecryptError::EncryptedDataCount(2)));
            let valueless = xml.replace(
                &format!("<xenc:CipherValue>{content}</xenc:CipherValue>"),
                "",
            );
            assert_eq!(
                run(&valueless),
                Err(DecryptError::NoCipherValue("EncryptedData"))
            );
        }
    }

    #[test]
    fn the_span_of_an_assertion_is_its_own_element_nested_ones_included() {
        let a = |id: &str, inner: &str| {
            format!("<saml2:Assertion ID=\"{id}\">{inner}</saml2:Assertion>")
        };
        let wrapper = a("evil", &a("signed", "<x/>"));
        let doc = format!("<r>{wrapper}{}</r>", a("second", ""));
        let (s, e) = assertion_span(&doc).unwrap();
        assert_eq!(&doc[s..e], wrapper);
        let (s, e) = assertion_span(&doc[e..])
            .map(|(s, x)| (s + e, x + e))
            .unwrap();
        assert_eq!(&doc[s..e], a("second", ""));
        // Unbalanced text has no span (and no panic).
        assert_eq!(
            assertion_span("<saml2:Assertion ID=\"x\"><saml2:Assertion >"),
            None
        );
        assert_eq!(assertion_span("</saml2:Assertion><saml2:Assertion >"), None);
    }
}
