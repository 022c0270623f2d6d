#!/usr/bin/env python3
"""A minimal SAML 2.0 service provider built on pysaml2's Saml2Client, as a WSGI app (wsgiref),
for `fakta test` (tests/independent_sps.rs, connection file tests/interop/pysaml2-sp.yaml).

pysaml2 makes every security decision: the IdP is known only from its metadata, which pysaml2
fetches itself from fakta's metadata URL at start ("remote" metadata); pysaml2 builds the
AuthnRequest (HTTP-Redirect) and, in `parse_authn_request_response`, checks the posted Response:
schema, signatures with the xmlsec1 binary and only the metadata's certificate (both the
Response and the Assertion must be signed), Issuer, Destination, InResponseTo against the
outstanding requests of this browser (unsolicited Responses refused), Audience, time windows and
the subject confirmation. Its options are as strict as pysaml2 allows (see `sp_config`); the time
checks use pysaml2's default (no slack).
The app itself only:
  - keeps, per browser (a random cookie), the IDs of the AuthnRequests it sent, and hands them
    to pysaml2 as `outstanding`; a request ID is spent once a Response to it is accepted; it
    passes no `conv_info`, as pysaml2's integrations usually do not (so pysaml2 does not compare
    SubjectConfirmationData's Recipient with the ACS URL: see tests/independent_sps.rs);
  - takes the NameID and the `email` attribute of what pysaml2 returns;
  - answers 403 and creates no session when pysaml2 raises or returns nothing.

Routes:
  GET  /login     302 to the IdP's SSO URL with an AuthnRequest (pysaml2's prepare_for_authenticate)
  POST /acs       the Assertion Consumer Service (HTTP-POST): 302 to /api/me, or 403
  GET  /api/me    200 {"subject": NameID, "email": email} with a session, else 401

Usage:
    sp_pysaml2_app.py --port PORT [--idp-url URL] [--app-id ID] [--entity-id ID]
    sp_pysaml2_app.py --check-env
The IdP URL defaults to $FAKTA_IDP_URL (set by `fakta test` for target.start commands); the
metadata is fetched from {idp-url}/app/{app-id}/sso/saml/metadata. The ACS URL is
http://127.0.0.1:PORT/acs. Listens on 127.0.0.1 only. PYSAML2_SP_LOG=DEBUG sends pysaml2's log
(with the xmlsec1 commands) to stderr. --check-env prints the versions as JSON (exit 2 when
pysaml2 or xmlsec1 is missing: run scripts/setup-deps).
"""

import argparse
import html
import json
import logging
import os
import secrets
import shutil
import socketserver
import subprocess
import sys
import threading
from http.cookies import SimpleCookie
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

SETUP_HINT = "run scripts/setup-deps (it installs xmlsec1 and `pip install -r tests/interop/requirements.txt`)"
COOKIE = "pysaml2_sp_session"
MAX_BODY = 256 * 1024


def env_problem(message):
    print(json.dumps({"ok": False, "error": f"{message}; {SETUP_HINT}"}))
    sys.exit(2)


def xmlsec1_binary():
    path = os.environ.get("XMLSEC1") or shutil.which("xmlsec1")
    if not path:
        env_problem("the xmlsec1 binary (Debian package xmlsec1) is not on the PATH")
    return path


def import_pysaml2():
    try:
        import saml2
        from saml2.client import Saml2Client
        from saml2.config import SPConfig
    except ImportError as e:
        env_problem(f"cannot import pysaml2 ({e}) with {sys.executable}")
    return saml2, Saml2Client, SPConfig


def check_env():
    xmlsec1 = xmlsec1_binary()
    saml2, _, _ = import_pysaml2()
    try:
        out = subprocess.run([xmlsec1, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        env_problem(f"`{xmlsec1} --version` failed: {e}")
    print(json.dumps({"ok": True, "pysaml2": saml2.__version__, "xmlsec1": out, "python": sys.version.split()[0]}))


def sp_config(saml2, entity_id, acs_url, metadata_url, xmlsec1):
    return {
        "entityid": entity_id,
        "xmlsec_binary": xmlsec1,
        "crypto_backend": "xmlsec1",
        # pysaml2 fetches the IdP metadata itself (unsigned: no metadata certificate to check).
        "metadata": {"remote": [{"url": metadata_url}]},
        # Attribute names as sent (NameFormat unspecified, like Okta): kept, unmapped.
        "allow_unknown_attributes": True,
        # Verification keys come from the metadata only, never from the Response's KeyInfo.
        "only_use_keys_in_metadata": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(acs_url, saml2.BINDING_HTTP_POST)]},
                "want_response_signed": True,
                "want_assertions_signed": True,
                "want_assertions_or_response_signed": True,
                "allow_unsolicited": False,
                "authn_requests_signed": False,
            }
        },
    }


class Sessions:
    """Per-browser state, by a random cookie: outstanding AuthnRequest IDs and the user."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_id = {}

    def get(self, environ):
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        sid = cookie[COOKIE].value if COOKIE in cookie else None
        with self.lock:
            if sid and sid in self.by_id:
                return sid, self.by_id[sid], False
            sid = secrets.token_urlsafe(24)
            self.by_id[sid] = {"outstanding": {}, "user": None}
            return sid, self.by_id[sid], True

    def renew(self, old):
        """A new id for a session at login (no session fixation): the old id is dropped."""
        with self.lock:
            sess = self.by_id.pop(old, None) or {"outstanding": {}, "user": None}
            sid = secrets.token_urlsafe(24)
            self.by_id[sid] = sess
            return sid, sess


def make_app(idp_url, app_id, entity_id, port):
    saml2, Saml2Client, SPConfig = import_pysaml2()
    acs_url = f"http://127.0.0.1:{port}/acs"
    metadata_url = f"{idp_url.rstrip('/')}/app/{app_id}/sso/saml/metadata"
    conf = SPConfig()
    conf.load(sp_config(saml2, entity_id, acs_url, metadata_url, xmlsec1_binary()))
    client = Saml2Client(config=conf)
    idps = list(conf.metadata.identity_providers())
    if len(idps) != 1:
        raise SystemExit(f"expected one IdP in {metadata_url}, found {idps}")
    idp_entity_id = idps[0]
    # Saml2Client keeps caches (users, state): one call at a time.
    client_lock = threading.Lock()
    sessions = Sessions()

    def app(environ, start_response):
        sid, sess, fresh = sessions.get(environ)
        headers = []
        if fresh:
            headers.append(("Set-Cookie", f"{COOKIE}={sid}; Path=/; HttpOnly"))

        def answer(status, body, ctype="text/plain; charset=utf-8", extra=()):
            data = body.encode()
            start_response(status, headers + [("Content-Type", ctype), ("Content-Length", str(len(data)))] + list(extra))
            return [data]

        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if method == "GET" and path == "/login":
            sess["user"] = None
            with client_lock:
                reqid, info = client.prepare_for_authenticate(entityid=idp_entity_id, relay_state="/api/me")
            sess["outstanding"][reqid] = "/api/me"
            location = dict(info["headers"])["Location"]
            return answer("302 Found", "", extra=[("Location", location)])
        if method == "POST" and path == "/acs":
            sess["user"] = None
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
            form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
            try:
                posted = form["SAMLResponse"][0]
                with client_lock:
                    resp = client.parse_authn_request_response(
                        posted, saml2.BINDING_HTTP_POST, outstanding=dict(sess["outstanding"])
                    )
                if resp is None or resp.assertion is None or resp.name_id is None:
                    raise ValueError("pysaml2 returned no valid assertion")
            except Exception as e:  # pysaml2 reports refusals as exceptions (or returns None)
                print(f"sp_pysaml2_app: login refused: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                return answer("403 Forbidden", f"login refused: {type(e).__name__}: {html.escape(str(e))}\n")
            sess["outstanding"].pop(resp.in_response_to, None)
            identity = resp.get_identity()
            email = (identity.get("email") or [None])[0]
            # A new session id at login: the one the browser had before is never signed in.
            sid, sess = sessions.renew(sid)
            headers[:] = [("Set-Cookie", f"{COOKIE}={sid}; Path=/; HttpOnly")]
            sess["user"] = {"subject": resp.name_id.text, "email": email}
            print(f"sp_pysaml2_app: logged in NameID={resp.name_id.text!r}", file=sys.stderr, flush=True)
            return answer("302 Found", "", extra=[("Location", "/api/me")])
        if method == "GET" and path == "/api/me":
            if not sess["user"]:
                return answer("401 Unauthorized", json.dumps({"error": "not logged in"}), "application/json")
            return answer("200 OK", json.dumps(sess["user"]), "application/json")
        return answer("404 Not Found", "not found\n")

    return app


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("sp_pysaml2_app: %s\n" % (fmt % args))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-env", action="store_true", help="print tool versions and exit")
    p.add_argument("--port", type=int, help="the port to listen on (127.0.0.1)")
    p.add_argument("--idp-url", default=os.environ.get("FAKTA_IDP_URL"),
                   help="the IdP's base URL (default: $FAKTA_IDP_URL)")
    p.add_argument("--app-id", default="pysaml2-sp", help="the app id in fakta's connection file")
    p.add_argument("--entity-id", default="urn:fakta:interop:pysaml2-sp", help="this SP's entity id")
    args = p.parse_args()
    level = os.environ.get("PYSAML2_SP_LOG")
    if level:
        logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.check_env:
        check_env()
        return
    if not args.port or not args.idp_url:
        p.error("--port and --idp-url (or FAKTA_IDP_URL) are required")
    app = make_app(args.idp_url, args.app_id, args.entity_id, args.port)
    server = make_server("127.0.0.1", args.port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    print(f"sp_pysaml2_app: listening on http://127.0.0.1:{args.port}, IdP {args.idp_url}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
