#!/usr/bin/env python3
"""A minimal OpenID Connect relying party whose id_token check is PyJWT's, for `fakta test`
(tests/independent_sps.rs, connection file tests/interop/pyjwt-sp.yaml).

It reproduces the setting of PyJWT's advisory GHSA-ffqj-6fqr-9h24 (CVE-2022-29217): the app keeps
the IdP's signing keys as OpenSSH public-key lines (cryptography's `Encoding.OpenSSH`, as a key
pinned in a config file often is) and lets PyJWT pick the algorithm among all it supports
(`algorithms=list(jwt.algorithms.get_default_algorithms())`). PyJWT 2.3.0 then takes an
`ecdsa-sha2-nistp256 ...` line as an HMAC secret for HS256; 2.4.0 refuses any PEM or OpenSSH key
as an HMAC secret (`is_pem_format`, `is_ssh_key` in `HMACAlgorithm.prepare_key`).

PyJWT makes the token decisions: signature, alg, iss, aud, exp, iat, sub (required claims). The
app itself only: reads discovery and the JWKS at start (the JWKS again on an unknown kid),
refuses a token whose kid names no key of the JWKS, sends state and nonce and checks them on the
way back, exchanges the code (client_secret_basic).

Routes:
  GET /login                  302 to the IdP's authorization endpoint
  GET /login/oidc/callback    the redirect_uri: 302 to /api/me, or 403 when the login is refused
  GET /api/me                 200 {"subject": sub, "email": email} with a session, else 401

Usage:
    sp_pyjwt_app.py --port PORT [--idp-url URL] [--client-id ID] [--client-secret S]
    sp_pyjwt_app.py --check-env
PyJWT is imported from the interpreter's path: tests/independent_sps.rs puts the pinned release
first on PYTHONPATH (scripts/setup-deps installs each under target/interop-python/). Listens on
127.0.0.1 only.
"""

import argparse
import base64
import json
import os
import secrets
import sys
import urllib.parse
import urllib.request

SETUP_HINT = "run scripts/setup-deps (it installs the pinned PyJWT releases under target/interop-python/)"
CALLBACK_PATH = "/login/oidc/callback"


def import_libs():
    try:
        import flask
        import jwt
        from cryptography.hazmat.primitives import serialization
    except ImportError as e:
        print(json.dumps({"ok": False, "error": f"cannot import PyJWT/Flask/cryptography ({e}); {SETUP_HINT}"}))
        sys.exit(2)
    return flask, jwt, serialization


def check_env():
    _, jwt, _ = import_libs()
    from importlib.metadata import version

    print(json.dumps({
        "ok": True,
        "pyjwt": jwt.__version__,
        "pyjwt_path": os.path.dirname(jwt.__file__),
        "cryptography": version("cryptography"),
        "python": sys.version.split()[0],
    }))


def get_json(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Keys:
    """The IdP's signing keys by kid, each as an OpenSSH public-key line."""

    def __init__(self, jwks_uri):
        self.jwks_uri = jwks_uri
        self.by_kid = {}
        self.fetch()

    def fetch(self):
        _, jwt, serialization = import_libs()
        keys = {}
        for k in get_json(self.jwks_uri).get("keys", []):
            text = json.dumps(k)
            if k.get("kty") == "EC":
                public = jwt.algorithms.ECAlgorithm.from_jwk(text)
            elif k.get("kty") == "RSA":
                public = jwt.algorithms.RSAAlgorithm.from_jwk(text)
            else:
                continue
            keys[k.get("kid")] = public.public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            ).decode()
        self.by_kid = keys

    def get(self, kid):
        if kid not in self.by_kid:
            self.fetch()
        return self.by_kid.get(kid)


def make_app(idp_url, client_id, client_secret, port):
    flask, jwt, _ = import_libs()
    from flask import Flask, jsonify, redirect, request, session

    discovery = get_json(idp_url.rstrip("/") + "/.well-known/openid-configuration")
    keys = Keys(discovery["jwks_uri"])
    app = Flask("sp_pyjwt_app")
    app.secret_key = secrets.token_bytes(32)
    app.config["SESSION_COOKIE_NAME"] = "pyjwt_sp_session"
    redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"

    @app.get("/login")
    def login():
        session.clear()
        session["state"] = secrets.token_urlsafe(16)
        session["nonce"] = secrets.token_urlsafe(16)
        query = urllib.parse.urlencode({
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": session["state"],
            "nonce": session["nonce"],
        })
        return redirect(f"{discovery['authorization_endpoint']}?{query}")

    def check_id_token(id_token):
        kid = jwt.get_unverified_header(id_token).get("kid")
        key = keys.get(kid)
        if key is None:
            raise ValueError(f"no key with kid {kid!r} in the IdP's JWKS")
        # The setting of the advisory: the algorithm is whatever PyJWT supports.
        claims = jwt.decode(
            id_token,
            key,
            algorithms=list(jwt.algorithms.get_default_algorithms()),
            audience=client_id,
            issuer=discovery["issuer"],
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        if claims.get("nonce") != session.get("nonce"):
            raise ValueError("the nonce is not the one sent")
        return claims

    @app.get(CALLBACK_PATH)
    def callback():
        state, nonce = session.pop("state", None), session.get("nonce")
        session.clear()
        session["nonce"] = nonce
        try:
            if not state or request.args.get("state") != state:
                raise ValueError("the state is not the one sent")
            basic = base64.b64encode(
                f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(client_secret)}".encode()
            ).decode()
            token = get_json(
                discovery["token_endpoint"],
                data=urllib.parse.urlencode({
                    "grant_type": "authorization_code",
                    "code": request.args.get("code", ""),
                    "redirect_uri": redirect_uri,
                }).encode(),
                headers={"Authorization": f"Basic {basic}",
                         "Content-Type": "application/x-www-form-urlencoded"},
            )
            claims = check_id_token(token["id_token"])
        except Exception as e:  # PyJWT reports every refusal as an exception
            session.clear()
            print(f"sp_pyjwt_app: login refused: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            return f"login refused: {type(e).__name__}: {e}\n", 403, {"Content-Type": "text/plain"}
        session.clear()
        session["user"] = {"subject": claims["sub"], "email": claims.get("email")}
        print(f"sp_pyjwt_app: logged in sub={claims['sub']}", file=sys.stderr, flush=True)
        return redirect("/api/me")

    @app.get("/api/me")
    def me():
        user = session.get("user")
        if not user:
            return jsonify({"error": "not logged in"}), 401
        return jsonify(user)

    return app


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-env", action="store_true", help="print library versions and exit")
    p.add_argument("--port", type=int, help="the port to listen on (127.0.0.1)")
    p.add_argument("--idp-url", default=os.environ.get("FAKTA_IDP_URL"),
                   help="the IdP's base URL (default: $FAKTA_IDP_URL)")
    p.add_argument("--client-id", default="0oa1pyjwtrp")
    p.add_argument("--client-secret", default="fakta-interop-secret-not-a-real-one")
    args = p.parse_args()
    if args.check_env:
        check_env()
        return
    if not args.port or not args.idp_url:
        p.error("--port and --idp-url (or FAKTA_IDP_URL) are required")
    app = make_app(args.idp_url, args.client_id, args.client_secret, args.port)
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"sp_pyjwt_app: listening on http://127.0.0.1:{args.port}, IdP {args.idp_url}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
