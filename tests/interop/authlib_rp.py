#!/usr/bin/env python3
"""An Authlib OpenID Connect relying party that logs in once through a running fakta, for
tests/oidc_interop_authlib.rs.

Given the issuer URL of a real, listening fakta it does what a web app with Authlib does:
  1. discovery: GET {issuer}/.well-known/openid-configuration; the document's `issuer` must be
     the issuer given (OIDC Discovery 4.3);
  2. the authorization URL, built by authlib's OAuth2Session (requests client) with PKCE S256
     (a fresh code_verifier), a nonce and a state, scope "openid email profile groups";
  3. the browser, with plain `requests` and its own cookie jar: GET the authorization URL
     (302 to the login page), GET the login page, POST its login form with the user, and capture
     the 302 to the redirect_uri WITHOUT following it (nothing listens there);
  4. the code exchange with OAuth2Session.fetch_token (it checks the returned state), the client
     authenticating with client_secret_basic, or `none` (client_id in the body) for a public
     client, or with a client assertion built by Authlib's own RFC 7523 code
     (authlib.oauth2.rfc7523 ClientSecretJWT / PrivateKeyJWT: iss = sub = client_id, aud = the
     token endpoint, exp, jti) for --auth-method client_secret_jwt / private_key_jwt; and the
     PKCE code_verifier;
  5. the id_token: signature checked with authlib.jose against the JWKS fetched from the
     discovery document's jwks_uri, only the expected alg allowed (RS256 unless --alg), then
     claims validated with authlib.jose's JWTClaims (iss, aud, nonce, sub essential; exp, iat
     against now, no leeway) and with authlib.oidc.core.CodeIDToken (OIDC Core 3.1.3.7: nonce,
     azp, auth_time, at_hash of the access token);
  6. userinfo: GET userinfo_endpoint with the access token (OAuth2Session sends it as a Bearer
     token); its `sub` must be the id_token's.

With --response-type other than `code` (`id_token token`, `code id_token`, ...), steps 2-6 are
the implicit or hybrid flow instead (run_front_channel): the answer in the redirect's fragment,
the id_token validated with authlib.oidc.core's ImplicitIDToken / HybridIDToken (nonce, at_hash,
c_hash), a code redeemed.

Usage:
    authlib_rp.py --issuer URL --client-id ID [--client-secret S] --redirect-uri URI
                  --user LOGIN [--alg RS256|ES256] [--wrong-nonce]
                  [--auth-method client_secret_jwt|private_key_jwt [--private-key PEM]
                   [--kid KID] [--assertion-alg ALG]]
                  [--response-type TYPE [--wrong-code] [--wrong-access-token]]
    authlib_rp.py --check-env

Prints one JSON object on stdout:
    success: {"ok": true, "authlib": version, "issuer": ..., "header": {alg, kid, ...},
              "claims": {id_token claims}, "userinfo": {...}, "token_endpoint_auth_method": ...,
              "notes": [...]}
    failure: {"ok": false, "stage": "discovery|authorize|login|token|id_token|userinfo",
              "error_type": ..., "error": ...}
Exit status: 0 success, 1 failure, 2 the environment is not ready (authlib or requests missing;
run scripts/setup-deps).

--wrong-nonce validates the id_token against another nonce than the one sent: a correct RP then
fails at stage id_token (the test uses it to show the nonce is really checked).
"""

import argparse
import json
import sys
import warnings
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

SETUP_HINT = "run scripts/setup-deps (it runs `pip install -r tests/interop/requirements.txt`)"
SCOPE = "openid email profile groups"
NOTES = []


def env_problem(message):
    print(json.dumps({"ok": False, "stage": "environment", "error_type": "environment",
                      "error": f"{message}; {SETUP_HINT}"}))
    sys.exit(2)


def import_libs():
    try:
        import requests
        import authlib
        # authlib.jose warns on import that it is deprecated in favour of joserfc (to be kept
        # until Authlib 2.0). The script uses it on purpose, as the brief asks: note it once in
        # the JSON output instead of printing the warning on stderr.
        import authlib.deprecate
        warnings.filterwarnings("ignore", message="authlib.jose module is deprecated",
                                category=authlib.deprecate.AuthlibDeprecationWarning)
        from authlib.integrations.requests_client import OAuth2Session
        from authlib.jose import JsonWebKey, JsonWebToken
        from authlib.oidc.core import CodeIDToken
        from authlib.common.security import generate_token
        from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
    except ImportError as e:
        env_problem(f"cannot import authlib/requests ({e}) with {sys.executable}")
    NOTES.append("authlib.jose is deprecated in favour of joserfc (AuthlibDeprecationWarning); "
                 "it is still Authlib's own JOSE code and is what this RP verifies with")
    return {
        "requests": requests,
        "authlib_version": authlib.__version__,
        "OAuth2Session": OAuth2Session,
        "JsonWebKey": JsonWebKey,
        "JsonWebToken": JsonWebToken,
        "CodeIDToken": CodeIDToken,
        "generate_token": generate_token,
        "ClientSecretJWT": ClientSecretJWT,
        "PrivateKeyJWT": PrivateKeyJWT,
    }


class Failure(Exception):
    def __init__(self, stage, error, error_type="Failure"):
        super().__init__(error)
        self.stage = stage
        self.error = error
        self.error_type = error_type


class Forms(HTMLParser):
    """The forms of a page: action, method and the named inputs/buttons with their values."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "id": a.get("id"), "inputs": {}})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            self.forms[-1]["inputs"].setdefault(a["name"], {"type": a.get("type", "text"),
                                                           "value": a.get("value", "")})


def check_env():
    libs = import_libs()
    print(json.dumps({"ok": True, "authlib": libs["authlib_version"],
                      "requests": libs["requests"].__version__,
                      "python": sys.version.split()[0]}))


def step(stage, fn, *args, **kwargs):
    """Runs one stage; any exception becomes a Failure naming it."""
    try:
        return fn(*args, **kwargs)
    except Failure:
        raise
    except Exception as e:  # the libraries report refusals as exceptions
        raise Failure(stage, str(e) or repr(e), type(e).__name__) from e


def expect_redirect(resp, what):
    if resp.status_code not in (302, 303):
        raise Failure(what, f"expected a redirect, got HTTP {resp.status_code}: {resp.text[:500]}")
    return urljoin(resp.url, resp.headers["Location"])


def login_through(requests, auth_url, args, sep):
    """The browser: GET the authorization URL (302 to the login page), POST its login form with
    the user, and return the 302 to the redirect_uri (not followed), which must carry the answer
    after `sep` (`?` for the query, `#` for the fragment)."""
    browser = requests.Session()
    r = browser.get(auth_url, allow_redirects=False, timeout=10)
    login_url = expect_redirect(r, "authorize")
    page = browser.get(login_url, allow_redirects=False, timeout=10)
    if page.status_code != 200:
        raise Failure("login", f"the login page answered HTTP {page.status_code}: {page.text[:500]}")
    parser = Forms()
    parser.feed(page.text)
    form = next((f for f in parser.forms if f["inputs"].get("username", {}).get("type") == "text"), None)
    if form is None:
        raise Failure("login", f"no login form with a username field on {login_url}")
    fields = {name: i["value"] for name, i in form["inputs"].items() if i["type"] == "hidden"}
    fields["username"] = args.user
    fields["password"] = "any"
    done = browser.post(urljoin(page.url, form["action"]), data=fields, allow_redirects=False, timeout=10)
    back = expect_redirect(done, "login")
    if not back.startswith(args.redirect_uri + sep):
        raise Failure("login", f"the IdP sent the browser to {back}, not to {args.redirect_uri}{sep}...")
    return back


def fetch_discovery(requests, issuer):
    r = requests.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10)
    r.raise_for_status()
    meta = r.json()
    if meta.get("issuer") != issuer:
        raise Failure("discovery", f"the discovery document says issuer {meta.get('issuer')!r}, "
                                   f"expected {issuer!r}")
    return meta


def run_front_channel(args):
    """The implicit or hybrid flow (--response-type other than code): the answer comes in the
    redirect's fragment; the id_token is verified against the JWKS and validated with
    authlib.oidc.core's ImplicitIDToken (nonce REQUIRED, at_hash of the access token) or
    HybridIDToken (also c_hash of the code), given the values that came with it (or, with
    --wrong-code / --wrong-access-token, other ones: a correct RP then fails at stage id_token);
    a code is then redeemed at the token endpoint."""
    libs = import_libs()
    requests = libs["requests"]
    from authlib.oidc.core import HybridIDToken, ImplicitIDToken
    meta = step("discovery", fetch_discovery, requests, args.issuer)
    if args.response_type not in meta.get("response_types_supported", []):
        raise Failure("discovery", f"{args.response_type!r} is not in response_types_supported")
    nonce = libs["generate_token"](20)
    state = libs["generate_token"](20)
    from urllib.parse import urlencode
    auth_url = meta["authorization_endpoint"] + "?" + urlencode({
        "client_id": args.client_id, "redirect_uri": args.redirect_uri,
        "response_type": args.response_type, "scope": SCOPE, "state": state, "nonce": nonce})
    callback = step("login", login_through, requests, auth_url, args, "#")
    got = {k: v[0] for k, v in parse_qs(urlsplit(callback).fragment).items()}
    if "error" in got:
        raise Failure("login", f"the IdP answered error={got['error']} {got.get('error_description')}")
    if got.get("state") != state:
        raise Failure("login", f"state {got.get('state')} is not the one sent ({state})")
    words = args.response_type.split()
    for word, field in (("code", "code"), ("id_token", "id_token"), ("token", "access_token")):
        if (word in words) != (field in got):
            raise Failure("login", f"response_type {args.response_type!r}, and the answer has {sorted(got)}")

    def validate_id_token():
        jwks = requests.get(meta["jwks_uri"], timeout=10)
        jwks.raise_for_status()
        keys = libs["JsonWebKey"].import_key_set(jwks.json())
        claims = libs["JsonWebToken"]([args.alg]).decode(got["id_token"], keys)
        params = {"nonce": nonce, "client_id": args.client_id}
        if "access_token" in got:
            params["access_token"] = "another-access-token" if args.wrong_access_token else got["access_token"]
        if "code" in got:
            params["code"] = "another-code" if args.wrong_code else got["code"]
        cls = HybridIDToken if "code" in got else ImplicitIDToken
        options = {"iss": {"essential": True, "value": args.issuer},
                   "aud": {"essential": True, "value": args.client_id}}
        token = cls(dict(claims), dict(claims.header), options, params)
        token.validate(leeway=0)
        return dict(token)

    # `code token` brings no id_token from the authorization endpoint (the token endpoint's is
    # the code flow's).
    claims = step("id_token", validate_id_token) if "id_token" in got else {}
    redeemed = None
    if "code" in got:
        def redeem():
            r = requests.post(meta["token_endpoint"], timeout=10, auth=(args.client_id, args.client_secret),
                              data={"grant_type": "authorization_code", "code": got["code"],
                                    "redirect_uri": args.redirect_uri})
            if r.status_code != 200:
                raise Failure("token", f"HTTP {r.status_code}: {r.text[:500]}")
            return sorted(r.json())
        redeemed = step("token", redeem)
    return {"ok": True, "authlib": libs["authlib_version"], "issuer": args.issuer,
            "response_type": args.response_type, "fields": sorted(got), "claims": claims,
            "redeemed": redeemed, "notes": NOTES}


def run(args):
    if args.response_type != "code":
        return run_front_channel(args)
    libs = import_libs()
    requests = libs["requests"]
    issuer = args.issuer

    # 1. Discovery.
    def discover():
        r = requests.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10)
        r.raise_for_status()
        meta = r.json()
        if meta.get("issuer") != issuer:
            raise Failure("discovery", f"the discovery document says issuer {meta.get('issuer')!r}, "
                                       f"expected {issuer!r}")
        for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
            if not meta.get(k):
                raise Failure("discovery", f"the discovery document has no {k}")
        if "S256" not in meta.get("code_challenge_methods_supported", []):
            raise Failure("discovery", "S256 is not in code_challenge_methods_supported")
        if args.alg not in meta.get("id_token_signing_alg_values_supported", []):
            raise Failure("discovery", f"{args.alg} is not in id_token_signing_alg_values_supported")
        return meta

    meta = step("discovery", discover)
    auth_method = args.auth_method or ("client_secret_basic" if args.client_secret else "none")
    if auth_method not in meta.get("token_endpoint_auth_methods_supported", []):
        raise Failure("discovery", f"{auth_method} is not in token_endpoint_auth_methods_supported")
    secret = args.client_secret
    assertion = None
    if auth_method in ("client_secret_jwt", "private_key_jwt"):
        cls = libs["ClientSecretJWT" if auth_method == "client_secret_jwt" else "PrivateKeyJWT"]
        alg = args.assertion_alg or cls.alg
        if alg not in meta.get("token_endpoint_auth_signing_alg_values_supported", []):
            raise Failure("discovery", f"{alg} is not in token_endpoint_auth_signing_alg_values_supported")
        if auth_method == "private_key_jwt":
            with open(args.private_key, encoding="ascii") as f:
                secret = f.read()
            if alg.startswith("ES"):
                from joserfc.jwk import ECKey
                secret = ECKey.import_key(secret)
        assertion = cls(meta["token_endpoint"], headers={"kid": args.kid} if args.kid else None, alg=alg)

    # 2. The authorization URL.
    session = libs["OAuth2Session"](
        client_id=args.client_id,
        client_secret=secret,
        scope=SCOPE,
        redirect_uri=args.redirect_uri,
        token_endpoint_auth_method=auth_method,
        code_challenge_method="S256",
    )
    if assertion is not None:
        session.register_client_auth_method(assertion)
    code_verifier = libs["generate_token"](48)
    nonce = libs["generate_token"](20)
    auth_url, state = step("authorize", session.create_authorization_url,
                           meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce)
    q = parse_qs(urlsplit(auth_url).query)
    if q.get("code_challenge_method") != ["S256"] or "code_challenge" not in q or q.get("nonce") != [nonce]:
        raise Failure("authorize", f"authlib built an unexpected authorization URL: {auth_url}")

    # 3. The browser.
    callback = step("login", login_through, requests, auth_url, args, "?")
    got = parse_qs(urlsplit(callback).query)
    if "error" in got:
        raise Failure("login", f"the IdP answered error={got['error']} {got.get('error_description')}")
    if got.get("state") != [state]:
        raise Failure("login", f"state {got.get('state')} is not the one sent ({state})")

    # 4. The code exchange (fetch_token checks the state of the callback URL again).
    token = step("token", session.fetch_token, meta["token_endpoint"], authorization_response=callback,
                 state=state, code_verifier=code_verifier)
    if "id_token" not in token or "access_token" not in token:
        raise Failure("token", f"the token response has no id_token or access_token: {sorted(token)}")
    if str(token.get("token_type", "")).lower() != "bearer":
        raise Failure("token", f"token_type is {token.get('token_type')!r}")

    # 5. The id_token.
    def validate_id_token():
        jwks = requests.get(meta["jwks_uri"], timeout=10)
        jwks.raise_for_status()
        keys = libs["JsonWebKey"].import_key_set(jwks.json())
        jwt = libs["JsonWebToken"]([args.alg])
        expected_nonce = "not-the-nonce-that-was-sent" if args.wrong_nonce else nonce
        options = lambda: {  # noqa: E731  (fresh dicts: authlib pops hooks out of them)
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": args.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "nonce": {"essential": True, "value": expected_nonce},
        }
        claims = jwt.decode(token["id_token"], keys, claims_options=options())
        claims.validate(leeway=0)
        oidc = libs["CodeIDToken"](dict(claims), dict(claims.header), options(), {
            "nonce": expected_nonce,
            "client_id": args.client_id,
            "access_token": token["access_token"],
        })
        oidc.validate(leeway=0)
        if "at_hash" not in claims:
            NOTES.append("the id_token has no at_hash")
        return claims

    claims = step("id_token", validate_id_token)

    # 6. Userinfo.
    def userinfo():
        r = session.get(meta["userinfo_endpoint"], timeout=10)
        r.raise_for_status()
        if not r.headers.get("Content-Type", "").startswith("application/json"):
            raise Failure("userinfo", f"userinfo Content-Type is {r.headers.get('Content-Type')!r}")
        info = r.json()
        if info.get("sub") != claims["sub"]:
            raise Failure("userinfo", f"userinfo sub {info.get('sub')!r} is not the id_token's {claims['sub']!r}")
        return info

    info = step("userinfo", userinfo)
    return {
        "ok": True,
        "authlib": libs["authlib_version"],
        "issuer": issuer,
        "token_endpoint_auth_method": auth_method,
        "header": dict(claims.header),
        "claims": dict(claims),
        "userinfo": info,
        "scope": token.get("scope"),
        "notes": NOTES,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-env", action="store_true", help="print library versions and exit")
    p.add_argument("--issuer", help="the issuer URL (discovery at {issuer}/.well-known/openid-configuration)")
    p.add_argument("--client-id")
    p.add_argument("--client-secret", help="for client_secret_basic; without it the client is public")
    p.add_argument("--redirect-uri")
    p.add_argument("--user", help="what to type in the login form's username field")
    p.add_argument("--alg", default="RS256", help="the only id_token signing alg accepted")
    p.add_argument("--wrong-nonce", action="store_true", help="validate against another nonce (must fail)")
    p.add_argument("--auth-method", choices=["client_secret_basic", "client_secret_jwt", "private_key_jwt", "none"],
                   help="client authentication (default client_secret_basic with a secret, none without)")
    p.add_argument("--private-key", help="the client's private key (PEM) for private_key_jwt")
    p.add_argument("--kid", help="the kid of the client assertion's header")
    p.add_argument("--assertion-alg", help="the client assertion's alg (Authlib's default: HS256 / RS256)")
    p.add_argument("--response-type", default="code",
                   help="code (the code flow), or an implicit / hybrid type answered in the fragment")
    p.add_argument("--wrong-code", action="store_true", help="check c_hash against another code (must fail)")
    p.add_argument("--wrong-access-token", action="store_true",
                   help="check at_hash against another access token (must fail)")
    args = p.parse_args()
    if args.check_env:
        check_env()
        return
    missing = [n for n in ("issuer", "client_id", "redirect_uri", "user") if not getattr(args, n)]
    if missing:
        p.error("required: " + ", ".join("--" + m.replace("_", "-") for m in missing))
    try:
        result = run(args)
    except Failure as f:
        result = {"ok": False, "stage": f.stage, "error_type": f.error_type, "error": f.error}
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
