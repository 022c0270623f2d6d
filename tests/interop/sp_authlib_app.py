#!/usr/bin/env python3
"""A minimal OpenID Connect relying party built on Authlib's Flask client, for `fakta test`
(tests/independent_sps.rs, connection file tests/interop/authlib-sp.yaml).

Authlib makes every security decision: the app registers the IdP with `server_metadata_url` (the
discovery URL), so Authlib fetches discovery and the JWKS itself, builds the authorization
request (state, nonce, PKCE S256), checks the state on the way back, exchanges the code
(client_secret_basic) and validates the id_token in `authorize_access_token()`, with Authlib's
defaults (leeway 120 s): signature against the JWKS (fetched again on an unknown kid), alg among
discovery's `id_token_signing_alg_values_supported`, iss, sub, aud, exp and iat required,
iss = discovery's `issuer`, exp, nonce, at_hash, and azp (an aud that is not the client_id needs
azp = client_id: the only way Authlib compares aud with the client_id).
The app itself only:
  - takes `sub` and `email` from the claims Authlib returns (`token["userinfo"]`, the validated
    id_token); when the id_token has no email it asks userinfo through Authlib
    (`oauth.fakta.userinfo(token=token)`), as an Okta RP does with a thin id_token;
  - answers 403 and creates no session when Authlib raises anything.

Routes:
  GET /login                  302 to the IdP's authorization endpoint (Authlib's authorize_redirect)
  GET /login/oidc/callback    the redirect_uri: authorize_access_token(); 302 to /api/me, or 403
  GET /api/me                 200 {"subject": sub, "email": email} with a session, else 401

Usage:
    sp_authlib_app.py --port PORT [--idp-url URL] [--client-id ID] [--client-secret S]
    sp_authlib_app.py --check-env
The IdP URL defaults to $FAKTA_IDP_URL (set by `fakta test` for target.start commands); the
discovery URL is {idp-url}/.well-known/openid-configuration (the org authorization server).
Listens on 127.0.0.1 only. --check-env prints the library versions as JSON (exit 2 when a
library is missing: run scripts/setup-deps).
"""

import argparse
import json
import os
import secrets
import sys

SETUP_HINT = "run scripts/setup-deps (it runs `pip install -r tests/interop/requirements.txt`)"
CALLBACK_PATH = "/login/oidc/callback"


def import_libs():
    try:
        import authlib
        import flask
        import werkzeug
        from authlib.integrations.flask_client import OAuth
    except ImportError as e:
        print(json.dumps({"ok": False, "error": f"cannot import Authlib/Flask ({e}) with {sys.executable}; {SETUP_HINT}"}))
        sys.exit(2)
    return authlib, flask, werkzeug, OAuth


def check_env():
    authlib, flask, werkzeug, _ = import_libs()
    from importlib.metadata import version

    print(json.dumps({
        "ok": True,
        "authlib": authlib.__version__,
        "joserfc": version("joserfc"),
        "flask": version("flask"),
        "werkzeug": version("werkzeug"),
        "python": sys.version.split()[0],
    }))


def make_app(idp_url, client_id, client_secret, port):
    _, _, _, OAuth = import_libs()
    from flask import Flask, jsonify, redirect, session

    app = Flask("sp_authlib_app")
    # A fresh key per start: a restart (fakta restarts the SP for O13) ends every session.
    app.secret_key = secrets.token_bytes(32)
    # Not `session`: cookies are per host, not per port, and the IdP is on 127.0.0.1 too.
    app.config["SESSION_COOKIE_NAME"] = "authlib_sp_session"
    oauth = OAuth(app)
    oauth.register(
        "fakta",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=idp_url.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )
    redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"

    @app.get("/login")
    def login():
        session.pop("user", None)
        return oauth.fakta.authorize_redirect(redirect_uri)

    @app.route(CALLBACK_PATH, methods=["GET", "POST"])
    def callback():
        session.pop("user", None)
        try:
            token = oauth.fakta.authorize_access_token()
            claims = token.get("userinfo")
            if claims is None:
                raise ValueError("the token response has no id_token")
            email = claims.get("email")
            if email is None:
                # A thin id_token: the profile is at userinfo (Authlib's own call).
                email = oauth.fakta.userinfo(token=token).get("email")
        except Exception as e:  # Authlib reports every refusal as an exception
            print(f"sp_authlib_app: login refused: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            return f"login refused: {type(e).__name__}: {e}\n", 403, {"Content-Type": "text/plain"}
        session["user"] = {"subject": claims["sub"], "email": email}
        print(f"sp_authlib_app: logged in sub={claims['sub']} iss={claims.get('iss')}", file=sys.stderr, flush=True)
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
    p.add_argument("--client-id", default="0oa1authlibrp")
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
    print(f"sp_authlib_app: listening on http://127.0.0.1:{args.port}, IdP {args.idp_url}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
