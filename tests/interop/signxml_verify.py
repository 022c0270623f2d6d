#!/usr/bin/env python3
"""Verifies one XML signature of a SAML Response with signxml, for tests/interop_pysaml2.rs.

xmlsec1 and pysaml2 (which runs xmlsec1) verify with libxmlsec1, the same C library fakta signs
with (through samael). signxml is a separate XML-DSig implementation (lxml for parsing and
canonicalization, `cryptography` for RSA), so a signature it accepts does not depend on a
libxmlsec1 quirk.

Usage:
    signxml_verify.py --cert IDP_CERT.pem --signature response|assertion < Response.xml
    signxml_verify.py --check-env

The certificate is the only key trusted (pinned); the one in the document's KeyInfo is ignored
unless it is that same certificate. `response` checks the Signature that is a child of the
Response, `assertion` the one that is a child of the Assertion; each must have exactly one
Reference, to the ID of its parent element.

Prints one JSON object: {"ok": true, "signed": local name of the signed element, "id": its ID} or
{"ok": false, "error_type": ..., "error": ...}. Exit status: 0 verified, 1 refused, 2 the
environment is not ready (run scripts/setup-deps).
"""

import argparse
import json
import sys

SETUP_HINT = "run scripts/setup-deps (it runs `pip install -r tests/interop/requirements.txt`)"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion"


def env_problem(message):
    print(json.dumps({"ok": False, "error_type": "environment", "error": f"{message}; {SETUP_HINT}"}))
    sys.exit(2)


def imports():
    try:
        from importlib.metadata import version

        import signxml
        from lxml import etree
    except ImportError as e:
        env_problem(f"cannot import signxml/lxml ({e}) with {sys.executable}")
    return signxml, etree, version("signxml"), version("lxml")


def verify(cert_pem, which, xml_bytes):
    signxml, etree, _, _ = imports()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(xml_bytes, parser=parser)
    if root.tag != f"{{{PROTOCOL}}}Response":
        return {"ok": False, "error_type": "NotAResponse", "error": f"root is {root.tag}"}
    if which == "response":
        element = root
    else:
        found = root.findall(f"{{{ASSERTION}}}Assertion")
        if len(found) != 1:
            return {"ok": False, "error_type": "Assertion", "error": f"{len(found)} Assertions"}
        element = found[0]
    # The signature must be a direct child of the element it signs, with one Reference.
    config = signxml.SignatureConfiguration(location="./", expect_references=1)
    try:
        result = signxml.XMLVerifier().verify(
            element,
            x509_cert=cert_pem,
            id_attribute="ID",
            expect_config=config,
        )
    except signxml.exceptions.InvalidInput as e:
        return {"ok": False, "error_type": type(e).__name__, "error": str(e)}
    except signxml.exceptions.InvalidSignature as e:
        return {"ok": False, "error_type": type(e).__name__, "error": str(e)}
    signed = result.signed_xml
    expected_id = element.get("ID")
    if signed is None or signed.get("ID") != expected_id:
        got = None if signed is None else signed.get("ID")
        return {"ok": False, "error_type": "WrongReference", "error": f"signed {got}, not {expected_id}"}
    return {"ok": True, "signed": etree.QName(signed).localname, "id": expected_id}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-env", action="store_true")
    p.add_argument("--cert", help="PEM certificate of the IdP (the only trusted key)")
    p.add_argument("--signature", choices=["response", "assertion"])
    args = p.parse_args()
    if args.check_env:
        _, _, signxml_version, lxml_version = imports()
        print(json.dumps({"ok": True, "signxml": signxml_version, "lxml": lxml_version}))
        return
    if not args.cert or not args.signature:
        p.error("--cert and --signature are required")
    with open(args.cert, encoding="ascii") as f:
        cert_pem = f.read()
    result = verify(cert_pem, args.signature, sys.stdin.buffer.read())
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
