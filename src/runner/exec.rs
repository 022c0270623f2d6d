//! Running one trial: a fresh browser, the scenario's IdP-side changes (private to the trial),
//! then each step and its expectation; a failure carries the transcript.

use rand::Rng;
use serde_json::Value;

use super::browser::{Browser, Page};
use super::plan::TrialSpec;
use super::transcript;
use crate::config::{ExpectedValue, LoginFrom, LoginOutcome, Reader, SessionState, Step, Target};
use crate::idp::IdpState;

/// What the probe said about the session.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub body: String,
    pub logged_in: bool,
}

/// Runs a trial against the IdP `idp` (in this process) and the SP the target names.
pub async fn run(spec: &TrialSpec, idp: &IdpState) -> Result<(), String> {
    let trial: String = {
        let b: [u8; 12] = rand::rng().random();
        b.iter().map(|x| format!("{x:02x}")).collect()
    };
    if !spec.emit.omit_attributes.is_empty() {
        idp.set_trial_emit(&trial, &spec.user, spec.emit.clone());
    }
    if let Some(g) = &spec.groups {
        idp.set_trial_groups(&trial, &spec.user, g.clone());
    }
    let result = steps(spec, idp, &trial).await;
    idp.end_trial(&trial);
    result
}

async fn steps(spec: &TrialSpec, idp: &IdpState, trial: &str) -> Result<(), String> {
    let conn = &spec.conn;
    let target = conn
        .target
        .as_ref()
        .ok_or_else(|| "the connection file has no `target`: nothing to test against".to_owned())?;
    let user = idp
        .user_view(Some(trial), &spec.user)
        .ok_or_else(|| format!("no user `{}` in the directory", spec.user))?;
    let mut browser = Browser::new(conn.idp.base(), trial).map_err(|e| e.to_string())?;
    let mut last_page: Option<Page> = None;
    for (i, step) in spec.steps.iter().enumerate() {
        let fail = |browser: &Browser, what: String, last: &Option<Page>| {
            transcript::render(spec, &user, i, step, &what, browser, last.as_ref())
        };
        match step {
            Step::Login { expect, from } => {
                let start = match from {
                    LoginFrom::Sp => target.login_url.to_string(),
                    LoginFrom::Idp => {
                        let app = conn
                            .app(&spec.app)
                            .filter(|a| a.saml().is_some())
                            .ok_or_else(|| {
                                fail(
                                    &browser,
                                    "an IdP-initiated login needs a SAML app".into(),
                                    &last_page,
                                )
                            })?;
                        idp.url(&IdpState::sso_path(app))
                    }
                };
                let page = browser.navigate(&start, &user.login).await.map_err(|e| {
                    fail(
                        &browser,
                        format!("the login could not complete: {e}"),
                        &last_page,
                    )
                })?;
                let seen = probe(&mut browser, target)
                    .await
                    .map_err(|e| fail(&browser, e, &last_page))?;
                last_page = Some(page);
                match (expect, seen.logged_in) {
                    (LoginOutcome::Accepted, true) | (LoginOutcome::Rejected, false) => {}
                    (LoginOutcome::Accepted, false) => {
                        return Err(fail(
                            &browser,
                            format!(
                                "expected the SP to accept the login; the session probe answered {} (logged in means {})",
                                seen.status, target.session.logged_in_status
                            ),
                            &last_page,
                        ));
                    }
                    (LoginOutcome::Rejected, true) => {
                        return Err(fail(
                            &browser,
                            format!(
                                "expected the SP to refuse the login, but it started a session (probe {}: {})",
                                seen.status,
                                short(&seen.body)
                            ),
                            &last_page,
                        ));
                    }
                }
            }
            Step::Expect(e) => {
                let seen = probe(&mut browser, target)
                    .await
                    .map_err(|e| fail(&browser, e, &last_page))?;
                if let Some(state) = e.session {
                    let want = state == SessionState::Active;
                    if seen.logged_in != want {
                        return Err(fail(
                            &browser,
                            format!(
                                "expected session {}, observed {} (probe {})",
                                if want { "active" } else { "ended" },
                                if seen.logged_in { "active" } else { "ended" },
                                seen.status
                            ),
                            &last_page,
                        ));
                    }
                }
                for (name, expected) in &e.values {
                    let reader = target.session.read.get(name).ok_or_else(|| {
                        fail(
                            &browser,
                            format!("target.session.read has no `{name}`: cannot read it"),
                            &last_page,
                        )
                    })?;
                    let got = read_value(reader, &seen);
                    if !matches(expected, &got) {
                        return Err(fail(
                            &browser,
                            format!(
                                "expected {name} = {}\nobserved {name} = {}",
                                show_expected(expected),
                                got.as_ref()
                                    .map(show_value)
                                    .unwrap_or_else(|| "(nothing)".into())
                            ),
                            &last_page,
                        ));
                    }
                }
            }
            Step::SetGroups { groups } => idp.set_trial_groups(trial, &spec.user, groups.clone()),
            Step::Logout => {
                let url = target.logout_url.as_ref().ok_or_else(|| {
                    fail(
                        &browser,
                        "the step logs out, but target.logout_url is not set".into(),
                        &last_page,
                    )
                })?;
                let page = browser
                    .navigate(url.as_str(), &user.login)
                    .await
                    .map_err(|e| fail(&browser, format!("logout failed: {e}"), &last_page))?;
                last_page = Some(page);
            }
            Step::Revoke { expect_status } => {
                let status = revoke(spec, idp, &user)
                    .await
                    .map_err(|e| fail(&browser, e, &last_page))?;
                let want = expect_status.unwrap_or(204);
                if status != want {
                    return Err(fail(
                        &browser,
                        format!(
                            "expected the revocation endpoint to answer {want}, it answered {status}"
                        ),
                        &last_page,
                    ));
                }
            }
        }
    }
    Ok(())
}

async fn probe(browser: &mut Browser, target: &Target) -> Result<Observed, String> {
    let page = browser
        .get(target.session.probe.as_str())
        .await
        .map_err(|e| format!("the session probe failed: {e}"))?;
    Ok(Observed {
        logged_in: page.status == target.session.logged_in_status,
        status: page.status,
        body: page.body,
    })
}

fn short(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 200 {
        format!("{}...", one.chars().take(200).collect::<String>())
    } else {
        one
    }
}

/// A value read from the probe by a reader: a JSON value (strings, arrays) or text.
pub fn read_value(reader: &Reader, seen: &Observed) -> Option<Value> {
    match reader {
        Reader::Json(ptr) => serde_json::from_str::<Value>(&seen.body)
            .ok()?
            .pointer(ptr)
            .cloned()
            .filter(|v| !v.is_null()),
        Reader::Css(sel) => {
            let doc = scraper::Html::parse_document(&seen.body);
            let s = scraper::Selector::parse(sel).ok()?;
            let text = doc.select(&s).next()?.text().collect::<String>();
            Some(Value::String(text.trim().to_owned()))
        }
        Reader::Regex(re) => {
            let c = re.captures(&seen.body)?;
            let m = c.get(1).or_else(|| c.get(0))?;
            Some(Value::String(m.as_str().to_owned()))
        }
        Reader::Header(_) => None,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn matches(expected: &ExpectedValue, got: &Option<Value>) -> bool {
    match (expected, got) {
        (ExpectedValue::One(e), Some(v)) => *e == as_text(v),
        (ExpectedValue::List(e), Some(Value::Array(a))) => {
            let mut want: Vec<String> = e.clone();
            let mut have: Vec<String> = a.iter().map(as_text).collect();
            want.sort();
            have.sort();
            want == have
        }
        (ExpectedValue::List(e), None) => e.is_empty(),
        _ => false,
    }
}

fn show_expected(e: &ExpectedValue) -> String {
    match e {
        ExpectedValue::One(s) => s.clone(),
        ExpectedValue::List(v) => format!("[{}]", v.join(", ")),
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(as_text).collect::<Vec<_>>().join(", ")),
        other => as_text(other),
    }
}

/// Sends an honest Global Token Revocation request for the trial's user; returns the status.
async fn revoke(
    spec: &TrialSpec,
    idp: &IdpState,
    user: &crate::config::User,
) -> Result<u16, String> {
    let app = spec.conn.app(&spec.app).ok_or("unknown app")?;
    let g = app
        .global_token_revocation
        .as_ref()
        .ok_or_else(|| format!("app `{}` has no global_token_revocation endpoint", app.id))?;
    let base = spec.conn.idp.base();
    let (app_sub, subject_issuer, subject) = match (app.saml(), app.oidc()) {
        (Some(s), _) => {
            let name_id = user
                .field(&s.name_id.value)
                .unwrap_or(&user.email)
                .to_owned();
            (app.id.clone(), s.issuer.clone(), name_id)
        }
        (_, Some(o)) => (o.client_id.clone(), o.server.issuer(base), user.id.clone()),
        _ => return Err("the app has no protocol".into()),
    };
    let jti = format!("{}", rand::rng().random::<u64>());
    let req = crate::revocation::Request {
        issuer: base,
        app: &app_sub,
        endpoint: g.endpoint.as_str(),
        jti: &jti,
        now: idp.now(),
        format: g.subject_format,
        subject_issuer: &subject_issuer,
        subject: &subject,
        email: &user.email,
    };
    let token = crate::oidc::jwt::sign(
        crate::config::SigningAlg::RS256,
        &idp.rsa_kid,
        Some(crate::revocation::TYP),
        idp.keys.current.pkey(),
        &crate::revocation::claims(&req),
    )
    .map_err(|e| e.to_string())?;
    let resp = reqwest::Client::new()
        .post(g.endpoint.as_str())
        .bearer_auth(token)
        .json(&crate::revocation::body(&req))
        .send()
        .await
        .map_err(|e| format!("POST {} failed: {e}", g.endpoint))?;
    Ok(resp.status().as_u16())
}
