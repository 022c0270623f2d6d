//! Running one trial: a fresh browser, the scenario's IdP-side changes (private to the trial),
//! then each step and its expectation; a failure carries the transcript.

use rand::Rng;
use serde_json::Value;

use super::browser::{Browser, Page};
use super::plan::TrialSpec;
use super::transcript;
use crate::config::{
    ExpectedValue, LoginFrom, LoginOutcome, Reader, SessionState, Step, Target, User,
};
use crate::idp::IdpState;

/// What the probe said about the session.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
    pub logged_in: bool,
}

/// Runs a trial against the IdP `idp` (in this process) and the SP the target names.
pub async fn run(spec: &TrialSpec, idp: &IdpState) -> Result<(), String> {
    let trial: String = {
        let b: [u8; 12] = rand::rng().random();
        b.iter().map(|x| format!("{x:02x}")).collect()
    };
    if spec.isolate {
        idp.isolate_trial(&trial);
    }
    if !spec.emit.omit_attributes.is_empty() {
        idp.set_trial_emit(&trial, &spec.user, spec.emit.clone());
    }
    if let Some(g) = &spec.groups {
        idp.set_trial_groups(&trial, &spec.user, g.clone());
    }
    if let Some(f) = spec.saml_fault {
        idp.set_trial_saml_fault(&trial, f);
    }
    if let Some(f) = spec.oidc_fault {
        idp.set_trial_oidc_fault(&trial, f);
    }
    let mut result = steps(spec, idp, &trial).await;
    // S24: a refusal is not enough; the SP must not have fetched the external entity either.
    let fetched = idp.xxe_fetches(&trial);
    if fetched > 0 {
        let note = format!(
            "the SP fetched the external entity of the forged DOCTYPE ({fetched} request(s) to {}): \
it resolves external entities (XXE), whatever it did with the Response",
            idp.xxe_url(&trial)
        );
        result = Err(match result {
            Ok(()) => format!("trial {}\n  {note}", spec.name),
            Err(t) => format!("{t}\n  {note}"),
        });
    }
    idp.end_trial(&trial);
    result
}

/// The trial's browsers by name, each with the user signed in there.
struct Browsers {
    all: Vec<(String, Browser, User)>,
}

impl Browsers {
    fn get(&mut self, name: &str) -> Option<&mut (String, Browser, User)> {
        self.all.iter_mut().find(|(n, _, _)| n == name)
    }
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
    let main = Browser::new(conn.idp.base(), trial).map_err(|e| e.to_string())?;
    let mut browsers = Browsers {
        all: vec![("main".to_owned(), main, user.clone())],
    };
    let mut last_page: Option<Page> = None;
    let mut notes: Vec<String> = Vec::new();
    let mut last_revocation: Option<super::revoke::Sent> = None;
    for (i, step) in spec.steps.iter().enumerate() {
        let fail = |browsers: &Browsers, what: String, last: &Option<Page>, notes: &[String]| {
            let b = &browsers.all[0].1;
            let mut what = what;
            for a in idp.altered(trial) {
                what.push_str("\nforged: ");
                what.push_str(&a);
            }
            for n in notes {
                what.push('\n');
                what.push_str(n);
            }
            let documents = idp.documents(trial);
            let evidence = transcript::Evidence {
                browser: b,
                last: last.as_ref(),
                documents: &documents,
            };
            transcript::render(spec, &user, i, step, &what, evidence)
        };
        match step {
            Step::Login {
                expect,
                from,
                browser,
                user: other,
            } => {
                if browsers.get(browser).is_none() {
                    let who = match other {
                        Some(u) => idp
                            .user_view(Some(trial), u)
                            .ok_or_else(|| format!("no user `{u}` in the directory"))?,
                        None => user.clone(),
                    };
                    let b = Browser::new(conn.idp.base(), trial).map_err(|e| e.to_string())?;
                    browsers.all.push((browser.clone(), b, who));
                }
                let start = match from {
                    LoginFrom::Sp => target.login_url.to_string(),
                    LoginFrom::Idp => {
                        let app = conn
                            .app(&spec.app)
                            .filter(|a| a.saml().is_some())
                            .ok_or_else(|| {
                                fail(
                                    &browsers,
                                    "an IdP-initiated login needs a SAML app".into(),
                                    &last_page,
                                    &notes,
                                )
                            })?;
                        idp.url(&IdpState::sso_path(app))
                    }
                };
                let outcome = {
                    let Some((_, b, who)) = browsers.get(browser) else {
                        return Err(format!("no browser `{browser}`"));
                    };
                    let login = who.login.clone();
                    match b.navigate(&start, &login).await {
                        Ok(page) => probe(b, target).await.map(|seen| (page, seen)),
                        Err(e) => Err(format!("the login could not complete: {e}")),
                    }
                };
                let (page, seen) = outcome.map_err(|e| fail(&browsers, e, &last_page, &notes))?;
                last_page = Some(page);
                let final_status = last_page.as_ref().map(|p| p.status).unwrap_or(0);
                if *expect == LoginOutcome::Either && final_status >= 500 {
                    return Err(fail(
                        &browsers,
                        format!(
                            "the SP failed with {final_status} instead of accepting or refusing"
                        ),
                        &last_page,
                        &notes,
                    ));
                }
                match (expect, seen.logged_in) {
                    (LoginOutcome::Accepted, true)
                    | (LoginOutcome::Rejected, false)
                    | (LoginOutcome::Either, _) => {}
                    (LoginOutcome::Accepted, false) => {
                        return Err(fail(
                            &browsers,
                            format!(
                                "expected the SP to accept the login; the session probe answered {} (logged in means {})",
                                seen.status, target.session.logged_in_status
                            ),
                            &last_page,
                            &notes,
                        ));
                    }
                    (LoginOutcome::Rejected, true) => {
                        return Err(fail(
                            &browsers,
                            format!(
                                "expected the SP to refuse the login, but it started a session (probe {}: {})",
                                seen.status,
                                short(&seen.body)
                            ),
                            &last_page,
                            &notes,
                        ));
                    }
                }
            }
            Step::Expect(e) => {
                let name = e.browser.clone().unwrap_or_else(|| "main".into());
                let seen = {
                    let Some((_, b, _)) = browsers.get(&name) else {
                        return Err(fail(
                            &browsers,
                            format!("no browser `{name}` signed in yet"),
                            &last_page,
                            &notes,
                        ));
                    };
                    probe(b, target).await
                };
                let seen = seen.map_err(|e| fail(&browsers, e, &last_page, &notes))?;
                if let Some(state) = e.session {
                    let want = state == SessionState::Active;
                    if seen.logged_in != want {
                        return Err(fail(
                            &browsers,
                            format!(
                                "expected the SP session{} {}, observed {} (probe {})",
                                if name == "main" {
                                    String::new()
                                } else {
                                    format!(" of browser `{name}`")
                                },
                                if want { "active" } else { "ended" },
                                if seen.logged_in { "active" } else { "ended" },
                                seen.status
                            ),
                            &last_page,
                            &notes,
                        ));
                    }
                }
                if let Some(state) = e.idp_session {
                    let want = state == SessionState::Active;
                    let live = browsers
                        .get(&name)
                        .and_then(|(_, b, _)| b.cookie(conn.idp.base(), crate::idp::SESSION_COOKIE))
                        .is_some_and(|sid| idp.session(&sid).is_some());
                    if live != want {
                        return Err(fail(
                            &browsers,
                            format!(
                                "expected the IdP session {}, observed {}",
                                if want { "active" } else { "ended" },
                                if live { "active" } else { "ended" }
                            ),
                            &last_page,
                            &notes,
                        ));
                    }
                }
                for (vname, expected) in &e.values {
                    let reader = target.session.read.get(vname).ok_or_else(|| {
                        fail(
                            &browsers,
                            format!("target.session.read has no `{vname}`: cannot read it"),
                            &last_page,
                            &notes,
                        )
                    })?;
                    let got = read_value(reader, &seen);
                    if !matches(expected, &got) {
                        return Err(fail(
                            &browsers,
                            format!(
                                "expected {vname} = {}\nobserved {vname} = {}",
                                show_expected(expected),
                                got.as_ref()
                                    .map(show_value)
                                    .unwrap_or_else(|| "(nothing)".into())
                            ),
                            &last_page,
                            &notes,
                        ));
                    }
                }
            }
            Step::SetGroups { groups } => idp.set_trial_groups(trial, &spec.user, groups.clone()),
            Step::Replay => {
                let Some((action, fields)) = browsers.all[0].1.last_saml_post.clone() else {
                    return Err(fail(
                        &browsers,
                        "nothing to replay: no SAMLResponse was posted yet".into(),
                        &last_page,
                        &notes,
                    ));
                };
                let mut fresh = Browser::new(conn.idp.base(), trial).map_err(|e| e.to_string())?;
                let page = fresh.post_form(&action, &fields).await.map_err(|e| {
                    fail(
                        &browsers,
                        format!("the replay could not be posted: {e}"),
                        &last_page,
                        &notes,
                    )
                })?;
                let seen = probe(&mut fresh, target)
                    .await
                    .map_err(|e| fail(&browsers, e, &last_page, &notes))?;
                notes.push(format!(
                    "replayed the SAMLResponse to {action}: the SP answered {}",
                    page.status
                ));
                if seen.logged_in {
                    return Err(fail(
                        &browsers,
                        "expected the SP to refuse the replayed Response, but it started a session"
                            .into(),
                        &Some(page),
                        &notes,
                    ));
                }
            }
            Step::Logout {
                from,
                fault,
                binding,
            } => match from {
                LoginFrom::Sp => {
                    let url = target.logout_url.as_ref().ok_or_else(|| {
                        fail(
                            &browsers,
                            "the step logs out, but target.logout_url is not set".into(),
                            &last_page,
                            &notes,
                        )
                    })?;
                    let (_, b, who) = &mut browsers.all[0];
                    let login = who.login.clone();
                    let page = b.navigate(url.as_str(), &login).await;
                    let page = page.map_err(|e| {
                        fail(&browsers, format!("logout failed: {e}"), &last_page, &notes)
                    })?;
                    last_page = Some(page);
                }
                LoginFrom::Idp => {
                    let done = {
                        let (_, b, who) = &mut browsers.all[0];
                        let who = who.clone();
                        super::logout::idp_initiated(spec, idp, trial, &who, b, *fault, *binding)
                            .await
                    };
                    let mut done = done.map_err(|e| fail(&browsers, e, &last_page, &notes))?;
                    notes.push(done.description.clone());
                    if let Some(page) = done.page.take() {
                        last_page = Some(page);
                    }
                    // An honest logout must complete: the IdP refusing the SP's LogoutResponse
                    // is the SP's failure, whatever happened to its session.
                    if let (None, Some(super::logout::SloAnswer::Refused { status, reason })) =
                        (fault, &done.slo_answer)
                    {
                        return Err(fail(
                            &browsers,
                            format!(
                                "the SP answered the IdP's LogoutRequest with a LogoutResponse that the IdP's SLO endpoint refused ({status}): {reason}"
                            ),
                            &last_page,
                            &notes,
                        ));
                    }
                    let app_is_oidc = conn.app(&spec.app).is_some_and(|a| a.oidc().is_some());
                    if app_is_oidc {
                        let want = if fault.is_some() { 400 } else { 200 };
                        if done.status != want {
                            return Err(fail(
                                &browsers,
                                format!(
                                    "expected the back-channel logout endpoint to answer {want}, it answered {}",
                                    done.status
                                ),
                                &last_page,
                                &notes,
                            ));
                        }
                    }
                }
            },
            Step::Revoke {
                expect_status,
                fault,
                format,
            } => {
                let sent = match (fault, &last_revocation) {
                    (Some(crate::revocation::Fault::ReplayedJti), Some(earlier)) => {
                        super::revoke::replay(earlier).await
                    }
                    (Some(crate::revocation::Fault::ReplayedJti), None) => Err(
                        "a replayed_jti revocation needs an earlier revoke step to replay".into(),
                    ),
                    _ => super::revoke::send(spec, idp, &user, *fault, *format).await,
                }
                .map_err(|e| fail(&browsers, e, &last_page, &notes))?;
                last_revocation = Some(sent.clone());
                notes.push(sent.describe());
                let ok = match (expect_status, fault) {
                    (Some(want), _) => sent.status == *want,
                    (None, Some(f)) => f.accepted_statuses().contains(&sent.status),
                    (None, None) => sent.status == 204,
                };
                if !ok {
                    let want = match (expect_status, fault) {
                        (Some(w), _) => w.to_string(),
                        (None, Some(f)) => f
                            .accepted_statuses()
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(" or "),
                        (None, None) => "204".into(),
                    };
                    return Err(fail(
                        &browsers,
                        format!(
                            "expected the revocation endpoint to answer {want}, it answered {}",
                            sent.status
                        ),
                        &last_page,
                        &notes,
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
        headers: page.headers,
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
        Reader::Header(name) => seen
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(|v| Value::String(v.to_owned())),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seen() -> Observed {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-role", "admin".parse().unwrap());
        Observed {
            status: 200,
            body: r#"<html><body><span id="role">devops</span> {"role":"x"}</body></html>"#.into(),
            headers,
            logged_in: true,
        }
    }

    #[test]
    fn every_reader_kind_reads() {
        let s = seen();
        assert_eq!(
            read_value(&Reader::Header("x-role".into()), &s),
            Some(Value::String("admin".into()))
        );
        assert_eq!(
            read_value(&Reader::Css("#role".into()), &s),
            Some(Value::String("devops".into()))
        );
        let re = regex::Regex::new(r#""role":"([a-z]+)""#).unwrap();
        assert_eq!(
            read_value(&Reader::Regex(re), &s),
            Some(Value::String("x".into()))
        );
        let json = Observed {
            body: r#"{"role":"admin","groups":["a","b"]}"#.into(),
            ..seen()
        };
        assert_eq!(
            read_value(&Reader::Json("/role".into()), &json),
            Some(Value::String("admin".into()))
        );
        assert!(matches(
            &ExpectedValue::List(vec!["b".into(), "a".into()]),
            &read_value(&Reader::Json("/groups".into()), &json)
        ));
        assert!(!matches(
            &ExpectedValue::One("viewer".into()),
            &read_value(&Reader::Json("/role".into()), &json)
        ));
        assert_eq!(read_value(&Reader::Json("/missing".into()), &json), None);
    }
}
