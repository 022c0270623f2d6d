//! Interop: fakta's OpenID Connect provider used by an independent relying party, the
//! `openidconnect` crate (ramosbugs/openidconnect-rs). The crate does everything a real RP
//! does — discovery, JWKS, authorization URL with PKCE/nonce/state, code exchange, id_token
//! verification, userinfo — and its HTTP requests are routed into the IdP router with
//! `oneshot` (no socket). The browser part (authorize → login page → redirect with the code) is
//! driven through the same router. The IdP runs on the real clock: the crate checks `exp`
//! against now.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{get, pick_user};
use fakta::clock::SystemClock;
use fakta::idp::IdpState;
use http_body_util::BodyExt;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError,
    Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IdToken, IdTokenFields, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, SignatureVerificationError,
    StandardErrorResponse, StandardTokenResponse, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

const ORG_ISSUER: &str = "http://127.0.0.1:7000";
const CUSTOM_ISSUER: &str = "http://127.0.0.1:7000/oauth2/default";
const WEB: &str = "0oa1qoveryweb";
const WEB_SECRET: &str = "fakta-demo-secret-change-me";
const WEB_REDIRECT: &str = "http://127.0.0.1:7100/login/oidc/callback";
const SPA: &str = "0oa2qoveryspa";
const SPA_REDIRECT: &str = "http://127.0.0.1:7200/callback";

/// Okta's `groups` claim, typed through the crate's AdditionalClaims support.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupsClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
}
impl AdditionalClaims for GroupsClaims {}

type GroupsIdToken = IdToken<
    GroupsClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type GroupsTokenResponse = StandardTokenResponse<
    IdTokenFields<
        GroupsClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
/// `CoreClient` with the groups claim, in the state `from_provider_metadata` leaves it.
type GroupsClient = Client<
    GroupsClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    GroupsTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the shim could not do (a request for another host).
#[derive(Debug)]
struct RouteError(String);

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for RouteError {}

/// One request the crate sent: method, path, Authorization scheme, form body.
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

type Pending = Pin<Box<dyn Future<Output = Result<HttpResponse, RouteError>> + Send>>;

/// The crate's async HTTP client: every request to the IdP goes into its router with `oneshot`.
fn http_client(st: Arc<IdpState>, log: Arc<Mutex<Vec<Sent>>>) -> impl Fn(HttpRequest) -> Pending {
    move |req: HttpRequest| {
        let st = st.clone();
        let log = log.clone();
        Box::pin(async move {
            let authority = req.uri().authority().map(|a| a.as_str().to_owned());
            if authority.as_deref() != Some("127.0.0.1:7000") {
                return Err(RouteError(format!("not the IdP: {}", req.uri())));
            }
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned());
            log.lock().unwrap().push(Sent {
                method: req.method().to_string(),
                path: path.clone(),
                authorization: req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(' ').next())
                    .map(str::to_owned),
                body: String::from_utf8_lossy(req.body()).into_owned(),
            });
            let (mut parts, body) = req.into_parts();
            parts.uri = path.parse().map_err(|e| RouteError(format!("{e}")))?;
            let resp = fakta::idp::app(st)
                .oneshot(axum::http::Request::from_parts(parts, Body::from(body)))
                .await
                .map_err(|e| RouteError(format!("{e}")))?;
            let (parts, body) = resp.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| RouteError(format!("{e}")))?
                .to_bytes();
            Ok(HttpResponse::from_parts(parts, bytes.to_vec()))
        })
    }
}

/// The IdP of scenarios/qovery-oidc.yaml on the real clock.
fn idp() -> Arc<IdpState> {
    IdpState::new(
        common::oidc_example(),
        common::keys(),
        Arc::new(SystemClock),
    )
    .expect("state")
}

/// What one login as `user` left the RP with.
struct Login {
    http_log: Arc<Mutex<Vec<Sent>>>,
    client: GroupsClient,
    nonce: Nonce,
    tokens: GroupsTokenResponse,
    auth_url: url::Url,
}

/// The whole relying-party side of a code flow, done by the crate; the browser side through the
/// router. `secret: None` is a public client (client_id in the token request body).
async fn login(
    st: &Arc<IdpState>,
    issuer: &str,
    client_id: &str,
    secret: Option<&str>,
    redirect: &str,
    user: &str,
) -> Login {
    let log = Arc::new(Mutex::new(Vec::new()));
    let http = http_client(st.clone(), log.clone());
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned()).unwrap(), &http)
            .await
            .unwrap_or_else(|e| panic!("discovery of {issuer} failed: {}", chain(&e)));
    assert_eq!(metadata.issuer().as_str(), issuer);
    assert_eq!(
        metadata.jwks().keys().len(),
        2,
        "the JWKS from jwks_uri has the RSA and the EC key"
    );
    let mut client: GroupsClient = Client::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        secret.map(|s| ClientSecret::new(s.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).unwrap());
    if secret.is_none() {
        client = client.set_auth_type(AuthType::RequestBody);
    }

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("groups".into()))
        .set_pkce_challenge(challenge)
        .url();
    let q: std::collections::HashMap<String, String> =
        auth_url.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "openid email profile groups");
    assert_eq!(q["code_challenge_method"], "S256");

    // The browser: authorize → login page → pick the user → back to redirect_uri with the code.
    let path = &auth_url.as_str()[auth_url.origin().ascii_serialization().len()..];
    let start = get(st, path, None).await;
    let done = pick_user(st, &start, user).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let back = url::Url::parse(done.location()).expect("absolute redirect");
    assert!(
        back.as_str().starts_with(&format!("{redirect}?")),
        "redirected to {back}"
    );
    let back: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(
        back.get("state").map(String::as_str),
        Some(csrf.secret().as_str()),
        "state"
    );
    let code = back.get("code").expect("a code").clone();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("discovery gave a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {}", chain(&e)));
    Login {
        http_log: log,
        client,
        nonce,
        tokens,
        auth_url,
    }
}

/// An error with its sources, for failure messages (the crate's errors nest the useful part).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

fn id_token(l: &Login) -> &GroupsIdToken {
    l.tokens
        .id_token()
        .expect("the token response has an id_token")
}

/// Verifies the id_token like an RP that expects `alg`, checks at_hash, returns the claims'
/// sub, email, name and groups.
fn verified(
    l: &Login,
    alg: CoreJwsSigningAlgorithm,
) -> (String, String, String, Option<Vec<String>>) {
    let verifier = l.client.id_token_verifier().set_allowed_algs([alg.clone()]);
    let token = id_token(l);
    let claims = token
        .claims(&verifier, &l.nonce)
        .unwrap_or_else(|e| panic!("the crate refused the id_token: {}", chain(&e)));
    assert_eq!(token.signing_alg().unwrap(), &alg);
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        l.tokens.access_token(),
        token.signing_alg().unwrap(),
        token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected, "at_hash");
    (
        claims.subject().as_str().to_owned(),
        claims
            .email()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        claims.additional_claims().groups.clone(),
    )
}

async fn userinfo(
    st: &Arc<IdpState>,
    l: &Login,
    sub: &str,
) -> UserInfoClaims<GroupsClaims, CoreGenderClaim> {
    let http = http_client(st.clone(), l.http_log.clone());
    l.client
        .user_info(
            l.tokens.access_token().clone(),
            Some(openidconnect::SubjectIdentifier::new(sub.to_owned())),
        )
        .expect("discovery gave a userinfo endpoint")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("userinfo failed: {}", chain(&e)))
}

/// The id_token with one character of one claim changed, the signature kept.
fn tampered(token: &str, from: &str, to: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    assert!(payload.contains(from), "{payload}");
    parts[1] = URL_SAFE_NO_PAD.encode(payload.replacen(from, to, 1));
    parts.join(".")
}

#[tokio::test]
async fn confidential_rs256_client_on_the_org_server() {
    let st = idp();
    let l = login(
        &st,
        ORG_ISSUER,
        WEB,
        Some(WEB_SECRET),
        WEB_REDIRECT,
        "00u1alice",
    )
    .await;
    assert!(
        l.auth_url
            .as_str()
            .starts_with("http://127.0.0.1:7000/oauth2/v1/authorize?")
    );

    let (sub, email, name, groups) = verified(&l, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    assert_eq!(sub, "00u1alice");
    assert_eq!(email, "alice@acme.test");
    assert_eq!(name, "Alice Admin");
    assert_eq!(groups, Some(vec!["Qovery-Admins".to_owned()]));

    let ui = userinfo(&st, &l, &sub).await;
    assert_eq!(ui.subject().as_str(), "00u1alice");
    assert_eq!(ui.email().map(|e| e.as_str()), Some("alice@acme.test"));
    assert_eq!(
        ui.additional_claims().groups,
        Some(vec!["Qovery-Admins".to_owned()])
    );

    // What the crate sent: discovery, JWKS, the token request with Basic authentication and the
    // PKCE verifier, userinfo.
    let log = l.http_log.lock().unwrap().clone();
    let paths: Vec<&str> = log.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/.well-known/openid-configuration",
            "/oauth2/v1/keys",
            "/oauth2/v1/token",
            "/oauth2/v1/userinfo"
        ]
    );
    let token_req = &log[2];
    assert_eq!(token_req.method, "POST");
    assert_eq!(token_req.authorization.as_deref(), Some("Basic"));
    assert!(
        token_req.body.contains("code_verifier="),
        "{}",
        token_req.body
    );
    assert!(
        !token_req.body.contains("client_secret"),
        "{}",
        token_req.body
    );
    assert_eq!(log[3].authorization.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn public_es256_client_with_pkce_on_the_custom_server() {
    let st = idp();
    let l = login(&st, CUSTOM_ISSUER, SPA, None, SPA_REDIRECT, "00u3dora").await;
    assert!(
        l.auth_url
            .as_str()
            .starts_with("http://127.0.0.1:7000/oauth2/default/v1/authorize?")
    );

    let (sub, email, name, groups) = verified(&l, CoreJwsSigningAlgorithm::EcdsaP256Sha256);
    assert_eq!(sub, "00u3dora");
    assert_eq!(email, "dora@acme.test");
    assert_eq!(name, "Dora DevOps");
    assert_eq!(groups, Some(vec!["Qovery-DevOps".to_owned()]));

    let ui = userinfo(&st, &l, &sub).await;
    assert_eq!(ui.subject().as_str(), "00u3dora");
    assert_eq!(
        ui.additional_claims().groups,
        Some(vec!["Qovery-DevOps".to_owned()])
    );

    let log = l.http_log.lock().unwrap().clone();
    let token_req = log
        .iter()
        .find(|s| s.path == "/oauth2/default/v1/token")
        .expect("a token request");
    assert_eq!(
        token_req.authorization, None,
        "a public client does not authenticate"
    );
    assert!(
        token_req.body.contains("client_id=0oa2qoveryspa"),
        "{}",
        token_req.body
    );
    assert!(
        token_req.body.contains("code_verifier="),
        "{}",
        token_req.body
    );
    assert_eq!(log[1].path, "/oauth2/default/v1/keys");

    // An RP that only accepts RS256 refuses the ES256 id_token.
    let rs_only = l
        .client
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    let err = id_token(&l).claims(&rs_only, &l.nonce).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::DisallowedAlg(_)
            )
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn tampered_id_tokens_and_wrong_nonces_are_refused() {
    let st = idp();
    for (issuer, client, secret, redirect, alg) in [
        (
            ORG_ISSUER,
            WEB,
            Some(WEB_SECRET),
            WEB_REDIRECT,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ),
        (
            CUSTOM_ISSUER,
            SPA,
            None,
            SPA_REDIRECT,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ),
    ] {
        let l = login(&st, issuer, client, secret, redirect, "00u1alice").await;
        let verifier = l.client.id_token_verifier().set_allowed_algs([alg]);
        let honest = id_token(&l).to_string();
        // The honest token passes (so the refusals below are about the change alone).
        id_token(&l)
            .claims(&verifier, &l.nonce)
            .expect("honest id_token");

        for (from, to) in [
            ("Alice Admin", "Alice Admim"),
            ("\"sub\":\"00u1alice\"", "\"sub\":\"00u1alicf\""),
            ("Qovery-Admins", "Qovery-Admint"),
        ] {
            let forged: GroupsIdToken = tampered(&honest, from, to).parse().expect("still a JWT");
            let err = forged.claims(&verifier, &l.nonce).unwrap_err();
            assert!(
                matches!(
                    err,
                    ClaimsVerificationError::SignatureVerification(
                        SignatureVerificationError::CryptoError(_)
                    )
                ),
                "{client}: a token with {from} changed to {to} must fail the signature check: {err:?}"
            );
        }

        let err = id_token(&l)
            .claims(&verifier, &Nonce::new("not-the-nonce-of-this-login".into()))
            .unwrap_err();
        assert!(
            matches!(err, ClaimsVerificationError::InvalidNonce(_)),
            "{client}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_id_token_of_one_server_is_refused_by_the_rp_of_the_other() {
    // Issuer and audience both differ: the crate must refuse an org-server id_token when it
    // expects the custom server's (the key is the same, so only the claims tell them apart).
    let st = idp();
    let web = login(
        &st,
        ORG_ISSUER,
        WEB,
        Some(WEB_SECRET),
        WEB_REDIRECT,
        "00u1alice",
    )
    .await;
    let spa = login(&st, CUSTOM_ISSUER, SPA, None, SPA_REDIRECT, "00u1alice").await;
    let spa_verifier = spa.client.id_token_verifier().allow_any_alg();
    let err = id_token(&web)
        .claims(&spa_verifier, &web.nonce)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsVerificationError::InvalidIssuer(_) | ClaimsVerificationError::InvalidAudience(_)
        ),
        "{err:?}"
    );
}
