#!/usr/bin/env python3
"""Writes a service provider's SAML metadata with pysaml2's own generator, for
tests/sp_metadata_import.rs: fakta's `apps[].sp_metadata` must read a document written by an
independent SAML library, not one shaped after fakta's reader.

The SP: entity id, an HTTP-POST ACS (index 0, plus an HTTP-Artifact one fakta must pass over),
SingleLogoutService on HTTP-Redirect and HTTP-POST, a signing certificate (the PEM given), the
NameID format persistent, AuthnRequestsSigned and WantAssertionsSigned true. pysaml2 fills the
KeyDescriptor from the certificate and key files its config names (`cert_file`, `key_file`).

Usage:
    pysaml2_sp_metadata.py --entity-id URI --base URL --cert PEM --key PEM --out FILE
    pysaml2_sp_metadata.py --check-env

Prints one JSON object on stdout: {"ok": true, "pysaml2": version, ...}. Exit status 2 when the
environment is not ready (run scripts/setup-deps).
"""

import argparse
import json
import sys

SETUP_HINT = "run scripts/setup-deps (`pip install -r tests/interop/requirements.txt`)"


def import_pysaml2():
    try:
        import saml2
        from saml2 import BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
        from saml2.config import SPConfig
        from saml2.metadata import create_metadata_string
    except ImportError as e:
        print(json.dumps({"ok": False, "error": f"cannot import pysaml2 ({e}); {SETUP_HINT}"}))
        sys.exit(2)
    return saml2.__version__, (BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT), SPConfig, create_metadata_string


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--check-env", action="store_true")
    p.add_argument("--entity-id")
    p.add_argument("--base", help="the SP's base URL, e.g. http://127.0.0.1:7100")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--out")
    args = p.parse_args()
    version, (artifact, post, redirect), SPConfig, create_metadata_string = import_pysaml2()
    if args.check_env:
        print(json.dumps({"ok": True, "pysaml2": version, "python": sys.version.split()[0]}))
        return
    base = args.base.rstrip("/")
    config = {
        "entityid": args.entity_id,
        "cert_file": args.cert,
        "key_file": args.key,
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [
                        (f"{base}/saml/artifact", artifact),
                        (f"{base}/saml/acs", post),
                    ],
                    "single_logout_service": [
                        (f"{base}/saml/slo", redirect),
                        (f"{base}/saml/slo", post),
                    ],
                },
                "authn_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "name_id_format": ["urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"],
            }
        },
    }
    conf = SPConfig()
    conf.load(config)
    xml = create_metadata_string(None, config=conf, valid=None, sign=False)
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(xml)
    print(json.dumps({"ok": True, "pysaml2": version, "out": args.out}))


if __name__ == "__main__":
    main()
