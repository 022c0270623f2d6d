//! The authorization request (OIDC Core 3.1.2.1 with PKCE): parsed and checked against the
//! client. Errors come in two kinds: those that must never redirect (unknown client, a
//! redirect_uri that is not registered) and those sent back to the client's redirect_uri.

use super::discovery::SCOPES;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::pkce;
use crate::config::{OidcApp, ResponseType};

/// The scopes of a `scope` parameter, each once, in their first order: a scope repeated 27,000
/// times is one scope (and the tokens stay small).
pub fn scope_list(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum ResponseMode {
    Query,
    /// In the redirect's `#fragment` (the default for the implicit and hybrid flows: OIDC Core
    /// §3.2.2.5, §3.3.2.5).
    Fragment,
    FormPost,
    /// Okta's `okta_post_message`: a page that posts the result to the window that opened the
    /// request (okta-auth-js's silent renew and popup; `crate::idp::post_message`).
    OktaPostMessage,
}

impl ResponseMode {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The `response_mode` value naming this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
            ResponseMode::OktaPostMessage => "okta_post_message",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// No prompt parameter: log in only if there is no IdP session.
    Default,
    /// `prompt=none`: never show a page; `login_required` without a session.
    None,
    /// `prompt=login`: always show the login page.
    Login,
}

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// What the authorization endpoint returns: a code, tokens, or both.
    pub response_type: ResponseType,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<(String, pkce::Method)>,
    pub response_mode: ResponseMode,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// Shown as a page: redirecting would send a user to an unverified place.
    #[error("{0}")]
    Page(String),
    /// Sent back to the client's (registered) redirect_uri.
    #[error("{error}")]
    Redirect {
        redirect_uri: String,
        response_mode: ResponseMode,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Checks `params` for the client found by `find_client`. A repeated or oversized parameter
/// is an `invalid_request` sent to the client, unless it is the client_id or redirect_uri
/// (then nothing tells where to send it).
pub fn parse<'a>(
    params: &Params,
    find_client: impl Fn(&str) -> Option<&'a OidcApp>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let problem = params.problem.as_ref();
    if let Some(p) = problem {
        if matches!(p.name(), None | Some("client_id" | "redirect_uri")) {
            return Err(AuthorizeError::Page(p.to_string()));
        }
    }
    let params = &params.map;
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = get("client_id")
        .ok_or_else(|| AuthorizeError::Page("the request has no client_id".to_owned()))?;
    let app = find_client(client_id).ok_or_else(|| {
        AuthorizeError::Page(format!(
            "there is no client `{client_id}` on this authorization server"
        ))
    })?;
    let redirect_uri = get("redirect_uri")
        .ok_or_else(|| AuthorizeError::Page("the request has no redirect_uri".to_owned()))?;
    if !app
        .redirect_uris
        .iter()
        .any(|u| redirect_matches(u, redirect_uri, app.wildcard_redirect))
    {
        return Err(AuthorizeError::Page(format!(
            "redirect_uri `{redirect_uri}` is not registered for client `{client_id}`; registered: {}",
            app.redirect_uris
                .iter()
                .map(|u| u.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let state = get("state").map(str::to_owned);
    let asked_type = get("response_type").map(|v| (v, ResponseType::parse(v)));
    // Tokens default to the fragment (OIDC Core §3.2.2.5, §3.3.2.5); a code to the query.
    let default_mode = match asked_type {
        Some((_, Some(r))) if r.returns_tokens() => ResponseMode::Fragment,
        _ => ResponseMode::Query,
    };
    let fail = |mode: ResponseMode, code: ErrorCode, msg: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        response_mode: mode,
        state: state.clone(),
        error: OAuthError::new(code, msg),
    };
    if let Some(p) = problem {
        // RFC 6749 §4.1.2.1: invalid_request, "includes a parameter more than once".
        return Err(fail(default_mode, ErrorCode::InvalidRequest, p.to_string()));
    }
    let response_mode = match get("response_mode") {
        None => default_mode,
        Some(m) => match ResponseMode::ALL.iter().copied().find(|x| x.as_str() == m) {
            Some(mode) => mode,
            None => {
                return Err(fail(
                    default_mode,
                    ErrorCode::InvalidRequest,
                    format!(
                        "response_mode `{m}` is not supported; use {}",
                        ResponseMode::ALL
                            .iter()
                            .copied()
                            .map(ResponseMode::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        },
    };
    let response_type = match asked_type {
        None => {
            return Err(fail(
                response_mode,
                ErrorCode::InvalidRequest,
                "the request has no response_type".to_owned(),
            ));
        }
        Some((other, None)) => {
            return Err(fail(
                response_mode,
                ErrorCode::UnsupportedResponseType,
                format!(
                    "response_type `{other}` is not supported; use {}",
                    ResponseType::ALL
                        .iter()
                        .copied()
                        .map(ResponseType::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Some((_, Some(r))) => r,
    };
    // RFC 6749 §4.1.2.1: unauthorized_client, "The client is not authorized to request an
    // authorization code using this method" (Okta: the app's grant type is not ticked; the
    // implicit flow needs "Implicit (hybrid)", the hybrid flow that and "Authorization Code").
    if let Some(missing) = response_type
        .grants()
        .iter()
        .find(|g| !app.grant_types.contains(g))
    {
        return Err(fail(
            response_mode,
            ErrorCode::UnauthorizedClient,
            format!(
                "client `{client_id}` may not use response_type `{}`: it needs the {} grant (its grant_types: {})",
                response_type.name(),
                missing.name(),
                crate::oidc::grant_names(&app.grant_types)
            ),
        ));
    }
    if response_type.returns_tokens() && response_mode == ResponseMode::Query {
        // Tokens never go in a query string, which servers and proxies log: fragment is the
        // default where tokens are returned (Multiple Response Type Encoding Practices §2.1),
        // and Okta takes fragment, form_post or okta_post_message for them.
        return Err(fail(
            ResponseMode::Fragment,
            ErrorCode::InvalidRequest,
            format!(
                "response_mode query cannot carry the tokens of response_type `{}`; use fragment, form_post or okta_post_message",
                response_type.name()
            ),
        ));
    }
    // OIDC Core §3.2.2.1 (implicit) and §3.3.2.11 (hybrid): nonce is REQUIRED when the
    // authorization endpoint returns an id_token (Okta: "required if you request an ID token
    // and the response type is not code").
    let nonce = get("nonce").map(str::to_owned);
    if response_type.has_id_token() && nonce.is_none() {
        return Err(fail(
            response_mode,
            ErrorCode::InvalidRequest,
            format!(
                "response_type `{}` returns an id_token from the authorization endpoint: the request must carry a nonce (OpenID Connect Core 3.2.2.1, 3.3.2.11)",
                response_type.name()
            ),
        ));
    }
    let scopes = scope_list(get("scope").unwrap_or(""));
    if !scopes.iter().any(|s| s == "openid") {
        return Err(fail(
            response_mode,
            ErrorCode::InvalidScope,
            "the scope must include openid".to_owned(),
        ));
    }
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(fail(
            response_mode,
            ErrorCode::InvalidScope,
            format!(
                "scope `{unknown}` is not supported; supported: {}",
                SCOPES.join(" ")
            ),
        ));
    }
    let code_challenge = match get("code_challenge") {
        Some(challenge) => {
            let method = match get("code_challenge_method") {
                None => pkce::Method::Plain,
                Some(m) => pkce::Method::parse(m).ok_or_else(|| {
                    fail(
                        response_mode,
                        ErrorCode::InvalidRequest,
                        format!("code_challenge_method `{m}` is not supported; use S256 or plain"),
                    )
                })?,
            };
            if let Err(e) = pkce::check_challenge(method, challenge) {
                return Err(fail(
                    response_mode,
                    ErrorCode::InvalidRequest,
                    e.to_string(),
                ));
            }
            Some((challenge.to_owned(), method))
        }
        None if app.require_pkce => {
            return Err(fail(
                response_mode,
                ErrorCode::InvalidRequest,
                format!("client `{client_id}` must use PKCE: the request has no code_challenge"),
            ));
        }
        None => None,
    };
    let prompt = match get("prompt") {
        None => Prompt::Default,
        Some("none") => Prompt::None,
        Some("login") => Prompt::Login,
        Some("consent") | Some("login consent") | Some("consent login") => Prompt::Login,
        Some(other) => {
            return Err(fail(
                response_mode,
                ErrorCode::InvalidRequest,
                format!("prompt `{other}` is not supported; use none, login or consent"),
            ));
        }
    };
    let max_age = match get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    response_mode,
                    ErrorCode::InvalidRequest,
                    format!("max_age must be a number of seconds, found `{v}`"),
                ));
            }
        },
    };
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        response_type,
        scopes,
        state,
        nonce,
        code_challenge,
        response_mode,
        prompt,
        max_age,
        login_hint: get("login_hint").map(str::to_owned),
    })
}

/// Whether `asked` is the registered redirect URI `registered`: exactly (RFC 6749 §3.1.2.3), or,
/// with Okta's "Allow wildcard * in sign-in URI redirect" on, a registered host `*.rest` stands
/// for exactly one more DNS label before `rest`: never `rest` itself, never a label with a dot
/// (Okta help, "Create OpenID Connect app integrations": the wildcard matches one subdomain).
/// Everything else (scheme, port, path, query) must be the same.
pub fn redirect_matches(registered: &url::Url, asked: &str, wildcard: bool) -> bool {
    if registered.as_str() == asked {
        return true;
    }
    let Some(rest) = registered
        .host_str()
        .and_then(|h| h.strip_prefix("*."))
        .filter(|_| wildcard)
    else {
        return false;
    };
    let Ok(asked) = url::Url::parse(asked) else {
        return false;
    };
    let label_ok = asked
        .host_str()
        .and_then(|h| h.strip_suffix(rest))
        .and_then(|h| h.strip_suffix('.'))
        .is_some_and(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    label_ok
        && asked.scheme() == registered.scheme()
        && asked.port_or_known_default() == registered.port_or_known_default()
        && asked.path() == registered.path()
        && asked.query() == registered.query()
        && asked.fragment().is_none()
        && asked.username().is_empty()
        && asked.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GrantType;

    fn app(grants: &[GrantType]) -> OidcApp {
        let conn = crate::config::load_str(
            include_str!("../../scenarios/qovery-oidc.yaml"),
            "qovery-oidc.yaml",
            std::path::Path::new("."),
        )
        .unwrap()
        .0;
        let mut o = conn.apps[0].oidc().unwrap().clone();
        o.grant_types = grants.to_vec();
        o
    }

    fn ask(app: &OidcApp, extra: &[(&str, &str)]) -> Result<AuthorizeRequest, AuthorizeError> {
        let mut pairs = vec![
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", app.redirect_uris[0].as_str()),
            ("scope", "openid"),
            ("state", "s"),
            ("nonce", "n"),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        parse(&super::super::params::parse(q.as_bytes()), |_| Some(app))
    }

    fn refused(r: Result<AuthorizeRequest, AuthorizeError>) -> (ResponseMode, ErrorCode) {
        match r {
            Err(AuthorizeError::Redirect {
                response_mode,
                error,
                ..
            }) => (response_mode, error.error),
            other => panic!("expected an error sent to the client, got {other:?}"),
        }
    }

    #[test]
    fn implicit_and_hybrid_need_their_grants_a_nonce_and_no_query() {
        use GrantType::{AuthorizationCode as Code, Implicit};
        let both = app(&[Code, Implicit]);
        let r = ask(&both, &[("response_type", "id_token code")]).unwrap();
        assert_eq!(r.response_type, ResponseType::CodeIdToken);
        assert_eq!(
            r.response_mode,
            ResponseMode::Fragment,
            "the default for tokens"
        );
        let r = ask(&both, &[("response_type", "code")]).unwrap();
        assert_eq!(r.response_mode, ResponseMode::Query);
        let r = ask(
            &both,
            &[("response_type", "code"), ("response_mode", "fragment")],
        )
        .unwrap();
        assert_eq!(r.response_mode, ResponseMode::Fragment);
        let r = ask(
            &both,
            &[
                ("response_type", "id_token token"),
                ("response_mode", "form_post"),
            ],
        )
        .unwrap();
        assert_eq!(r.response_mode, ResponseMode::FormPost);
        // Hybrid needs both grants; implicit only its own.
        let implicit_only = app(&[Implicit]);
        assert!(ask(&implicit_only, &[("response_type", "id_token")]).is_ok());
        for (grants, rt) in [
            (&implicit_only, "code id_token"),
            (&implicit_only, "code"),
            (&app(&[Code]), "id_token"),
            (&app(&[Code]), "code token"),
        ] {
            assert_eq!(
                refused(ask(grants, &[("response_type", rt)])).1,
                ErrorCode::UnauthorizedClient,
                "{rt}"
            );
        }
        // A nonce whenever an id_token comes from the authorization endpoint (OIDC Core
        // §3.2.2.1, §3.3.2.11); `code token` returns none.
        for rt in [
            "id_token",
            "id_token token",
            "code id_token",
            "code id_token token",
        ] {
            assert_eq!(
                refused(ask(&both, &[("response_type", rt), ("nonce", "")])),
                (ResponseMode::Fragment, ErrorCode::InvalidRequest),
                "{rt}"
            );
        }
        assert!(ask(&both, &[("response_type", "code token"), ("nonce", "")]).is_ok());
        assert_eq!(
            refused(ask(
                &both,
                &[("response_type", "id_token"), ("response_mode", "query")]
            )),
            (ResponseMode::Fragment, ErrorCode::InvalidRequest)
        );
        assert_eq!(
            refused(ask(&both, &[("response_type", "token")])).1,
            ErrorCode::UnsupportedResponseType
        );
    }

    #[test]
    fn a_wildcard_redirect_uri_matches_one_label_only_when_allowed() {
        let reg = url::Url::parse("https://*.example.com/callback").unwrap();
        assert_eq!(reg.host_str(), Some("*.example.com"));
        let m = |asked: &str| redirect_matches(&reg, asked, true);
        assert!(m("https://tenant-1.example.com/callback"));
        assert!(!redirect_matches(
            &reg,
            "https://tenant-1.example.com/callback",
            false
        ));
        for bad in [
            "https://example.com/callback",
            "https://a.b.example.com/callback",
            "https://.example.com/callback",
            "https://evil-example.com/callback",
            "https://a.example.com.evil.test/callback",
            "http://a.example.com/callback",
            "https://a.example.com:8443/callback",
            "https://a.example.com/callback/more",
            "https://a.example.com/callback?x=1",
            "https://u@a.example.com/callback",
        ] {
            assert!(!m(bad), "{bad} must not match");
        }
        let exact = url::Url::parse("https://app.test/cb").unwrap();
        assert!(redirect_matches(&exact, "https://app.test/cb", false));
        assert!(!redirect_matches(&exact, "https://x.app.test/cb", true));
    }
}
