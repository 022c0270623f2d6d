#!/usr/bin/env python3
"""A pysaml2 service provider that checks one SAML Response from fakta, for tests/interop_pysaml2.rs.

It plays the Qovery/Auth0 SP of scenarios/qovery-saml.yaml: entity id urn:auth0:qovery:acme, ACS
http://127.0.0.1:7100/login/callback?connection=acme (HTTP-POST), the IdP known ONLY from its
metadata file (keys come from the metadata, never from the Response), both the Response and the
Assertion required to be signed, unsolicited Responses refused, no clock slack, and the Response
must answer the one outstanding AuthnRequest ID given on the command line.

With --sp-key and --sp-cert (the SP's encryption key pair, PEM), it decrypts an
EncryptedAssertion with them (pysaml2's `encryption_keypairs`) and then checks the Assertion's
signature as usual.

Usage:
    pysaml2_sp.py --idp-metadata FILE --request-id ID [--sp-key FILE --sp-cert FILE] < SAMLResponse (base64, as POSTed)
    pysaml2_sp.py --check-env

Prints one JSON object on stdout:
    accepted: {"ok": true, "name_id": ..., "name_id_format": ..., "issuer": ..., "in_response_to": ...,
               "came_from": ..., "attributes": {name: [values]}, "pysaml2": version}
    rejected: {"ok": false, "error_type": ..., "error": ...}
Exit status: 0 accepted, 1 rejected, 2 the environment is not ready (pysaml2 or xmlsec1 missing;
run scripts/setup-deps).

PYSAML2_SP_LOG=DEBUG (or INFO, WARNING) sends pysaml2's own log to stderr, including the xmlsec1
commands it runs.
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys

SP_ENTITY_ID = "urn:auth0:qovery:acme"
ACS_URL = "http://127.0.0.1:7100/login/callback?connection=acme"
SETUP_HINT = "run scripts/setup-deps (it installs xmlsec1 and `pip install -r tests/interop/requirements.txt`)"


def env_problem(message):
    print(json.dumps({"ok": False, "error_type": "environment", "error": f"{message}; {SETUP_HINT}"}))
    sys.exit(2)


def xmlsec1_binary():
    path = os.environ.get("XMLSEC1") or shutil.which("xmlsec1")
    if not path:
        env_problem("the xmlsec1 binary (Debian package xmlsec1) is not on the PATH")
    return path


def import_pysaml2():
    try:
        import saml2  # noqa: F401
        from saml2 import BINDING_HTTP_POST
        from saml2.client import Saml2Client
        from saml2.config import SPConfig
    except ImportError as e:
        env_problem(f"cannot import pysaml2 ({e}) with {sys.executable}")
    return saml2.__version__, BINDING_HTTP_POST, Saml2Client, SPConfig


def sp_config(idp_metadata, xmlsec1, binding_post, sp_key=None, sp_cert=None):
    conf = {
        "entityid": SP_ENTITY_ID,
        "xmlsec_binary": xmlsec1,
        "crypto_backend": "xmlsec1",
        "metadata": {"local": [idp_metadata]},
        # Attribute names are sent as-is (NameFormat unspecified, like Okta): keep them, unmapped.
        "allow_unknown_attributes": True,
        # Strict: keys only from metadata, no clock slack.
        "only_use_keys_in_metadata": True,
        "accepted_time_diff": 0,
        "delete_tmpfiles": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(ACS_URL, binding_post)]},
                "want_response_signed": True,
                "want_assertions_signed": True,
                "want_assertions_or_response_signed": True,
                "allow_unsolicited": False,
                "authn_requests_signed": False,
            }
        },
    }
    if sp_key and sp_cert:
        conf["key_file"] = sp_key
        conf["cert_file"] = sp_cert
        conf["encryption_keypairs"] = [{"key_file": sp_key, "cert_file": sp_cert}]
    return conf


def check_env():
    xmlsec1 = xmlsec1_binary()
    version, *_ = import_pysaml2()
    try:
        out = subprocess.run([xmlsec1, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        env_problem(f"`{xmlsec1} --version` failed: {e}")
    print(json.dumps({"ok": True, "pysaml2": version, "xmlsec1": out, "python": sys.version.split()[0]}))


def check_response(idp_metadata, request_id, saml_response_b64, sp_key=None, sp_cert=None):
    xmlsec1 = xmlsec1_binary()
    version, binding_post, Saml2Client, SPConfig = import_pysaml2()
    conf = SPConfig()
    conf.load(sp_config(idp_metadata, xmlsec1, binding_post, sp_key, sp_cert))
    client = Saml2Client(config=conf)
    try:
        resp = client.parse_authn_request_response(
            saml_response_b64,
            binding_post,
            outstanding={request_id: "/after-login"},
        )
    except Exception as e:  # pysaml2 reports most refusals as exceptions
        return {"ok": False, "error_type": type(e).__name__, "error": str(e)}
    # ... and some by returning None, or a response without a valid assertion.
    if resp is None:
        return {"ok": False, "error_type": "None", "error": "pysaml2 returned no response (refused)"}
    if resp.assertion is None or resp.name_id is None:
        return {"ok": False, "error_type": "NoAssertion", "error": "pysaml2 kept no valid assertion"}
    name_id = resp.name_id
    return {
        "ok": True,
        "pysaml2": version,
        "name_id": name_id.text,
        "name_id_format": name_id.format,
        "issuer": resp.issuer(),
        "in_response_to": resp.in_response_to,
        "came_from": resp.came_from,
        "attributes": resp.get_identity(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-env", action="store_true", help="print tool versions and exit")
    p.add_argument("--idp-metadata", help="the IdP metadata XML file")
    p.add_argument("--request-id", help="the ID of the one outstanding AuthnRequest")
    p.add_argument("--sp-key", help="the SP's decryption key (PEM), for encrypted assertions")
    p.add_argument("--sp-cert", help="the SP's encryption certificate (PEM), with --sp-key")
    args = p.parse_args()
    level = os.environ.get("PYSAML2_SP_LOG")
    if level:
        logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.check_env:
        check_env()
        return
    if not args.idp_metadata or not args.request_id:
        p.error("--idp-metadata and --request-id are required")
    saml_response = sys.stdin.read().strip()
    result = check_response(args.idp_metadata, args.request_id, saml_response, args.sp_key, args.sp_cert)
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
