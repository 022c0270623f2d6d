#!/usr/bin/env python3
"""Reads the documents fakta publishes for a flavor with independent libraries: an OIDC
discovery document with Authlib's OpenIDProviderMetadata (validate(): every required field,
URLs, response types), SAML IdP metadata with pysaml2's MetadataStore (schema-bound parse).
Prints what each library read, as JSON, for tests/flavors.rs to compare.

Usage:
    flavor_documents.py discovery FILE
    flavor_documents.py saml-metadata FILE
"""
import json
import os
import sys


def discovery(path):
    # http on loopback: Authlib wants https unless told the transport is a test's.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    from authlib.oidc.discovery import OpenIDProviderMetadata

    with open(path, encoding="utf-8") as f:
        md = OpenIDProviderMetadata(json.load(f))
    md.validate()
    keys = [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "end_session_endpoint",
    ]
    return {k: md.get(k) for k in keys}


def saml_metadata(path):
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import Config
    from saml2.mdstore import MetadataStore
    from saml2.s_utils import UnsupportedBinding
    from saml2.sigver import get_xmlsec_binary

    conf = Config()
    conf.xmlsec_binary = get_xmlsec_binary(["/usr/bin", "/usr/local/bin"])
    from saml2 import attribute_converter

    store = MetadataStore(attribute_converter.ac_factory(), conf)
    store.load("local", path)
    def locations(lookup, binding):
        # pysaml2 raises for a binding the entity does not list: none there.
        try:
            return [s["location"] for s in lookup(binding)]
        except UnsupportedBinding:
            return []

    out = {}
    for entity_id in store.identity_providers():
        sso = lambda b: store.single_sign_on_service(entity_id, b)  # noqa: E731
        slo = lambda b: store.single_logout_service(entity_id, b, "idpsso")  # noqa: E731
        out[entity_id] = {
            "sso_redirect": locations(sso, BINDING_HTTP_REDIRECT),
            "sso_post": locations(sso, BINDING_HTTP_POST),
            "slo_redirect": locations(slo, BINDING_HTTP_REDIRECT),
            "slo_post": locations(slo, BINDING_HTTP_POST),
        }
    return {"idps": out}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("discovery", "saml-metadata"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, path = sys.argv[1], sys.argv[2]
    result = discovery(path) if kind == "discovery" else saml_metadata(path)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
