//! The `target` section: the SP under test, how a login starts and how its session is read.

use std::collections::BTreeMap;

use super::super::tree::Node;

use super::super::model::*;
use super::super::reader::{self, Map, Pos, Sink, join};
use super::Declared;
use super::values::{http_status, one_of, regex_error, url};

pub(super) fn target(sink: &mut Sink, node: &Node, declared: &Declared) -> Option<Target> {
    let m = Map::new(
        sink,
        node,
        "target",
        &[
            "app",
            "login_url",
            "logout_url",
            "session",
            "attacks",
            "start",
            "requires_signed_assertions",
            "allows_sha1",
            "return_param",
            "refresh_url",
            "silent_login_url",
            "response_type",
            "verifies_id_token_signature",
        ],
    )?;
    let attacks = m.bool(sink, "attacks").unwrap_or(false);
    let requires_signed_assertions = m.bool(sink, "requires_signed_assertions").unwrap_or(false);
    let allows_sha1 = m.bool(sink, "allows_sha1").unwrap_or(false);
    let verifies_id_token_signature = m.bool(sink, "verifies_id_token_signature").unwrap_or(false);
    let start = m.string(sink, "start").and_then(|s| {
        if s.value.trim().is_empty() {
            sink.error(
                s.pos,
                &s.path,
                "expected a shell command, found only spaces",
            );
            None
        } else {
            Some(s.value)
        }
    });
    let return_param = m.string(sink, "return_param").and_then(|s| {
        let ok = !s.value.is_empty()
            && s.value.len() <= 64
            && s.value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b));
        if ok {
            Some(s.value)
        } else {
            sink.error(
                s.pos,
                &s.path,
                "expected a query parameter name (letters, digits, `_-.[]`, at most 64 \
characters), e.g. return_to",
            );
            None
        }
    });
    let app = m.req_string(sink, "app", "the id of the app under test");
    if let (Some(a), Some(ids)) = (&app, &declared.apps) {
        if !ids.is_empty() && !ids.contains(&a.value) {
            sink.error(
                a.pos,
                &a.path,
                format!("no app with id `{}`; {}", a.value, declared.app_list()),
            );
        }
    }
    let login_url = m
        .req_string(sink, "login_url", "the SP URL where a login starts")
        .and_then(|s| url(sink, s));
    let logout_url = m.string(sink, "logout_url").and_then(|s| url(sink, s));
    let refresh_url = m.string(sink, "refresh_url").and_then(|s| url(sink, s));
    let silent_login_url = m
        .string(sink, "silent_login_url")
        .and_then(|s| url(sink, s));
    let choices: Vec<(&str, ResponseType)> =
        ResponseType::ALL.iter().map(|r| (r.name(), *r)).collect();
    let response_type = match m.string(sink, "response_type") {
        None => Some(ResponseType::default()),
        Some(s) => match ResponseType::parse(&s.value) {
            Some(r) => Some(r),
            None => {
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "`{}` is not a response type; expected one of: {}",
                        s.value,
                        choices
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                None
            }
        },
    };
    let session = m
        .required(
            sink,
            "session",
            "how to read the SP session (`probe`, `read`)",
        )
        .and_then(|n| session(sink, n));
    Some(Target {
        attacks,
        start,
        app: app?.value,
        login_url: login_url?,
        logout_url,
        session: session?,
        requires_signed_assertions,
        allows_sha1,
        verifies_id_token_signature,
        return_param,
        refresh_url,
        silent_login_url,
        response_type: response_type?,
    })
}

fn session(sink: &mut Sink, node: &Node) -> Option<SessionProbe> {
    let m = Map::new(
        sink,
        node,
        "target.session",
        &["probe", "logged_in_when", "read"],
    )?;
    let probe = m
        .req_string(
            sink,
            "probe",
            "a URL of the SP that shows the session, e.g. /api/me",
        )
        .and_then(|s| url(sink, s));
    let mut status = Some(200);
    let mut logged_in_js = None;
    if let Some(n) = m.get("logged_in_when") {
        let w = Map::new(sink, n, "target.session.logged_in_when", &["status", "js"]);
        if let Some(w) = w {
            logged_in_js = w.string(sink, "js").map(|s| s.value);
            if w.get("status").is_some() || logged_in_js.is_none() {
                status = w
                    .req_string(sink, "status", "an HTTP status code")
                    .and_then(|s| http_status(sink, s));
            }
        } else {
            status = None;
        }
    }
    let mut read = BTreeMap::new();
    if let Some(n) = m.get("read") {
        let rpath = "target.session.read";
        match n.as_mapping() {
            Some(map) => {
                for (k, v) in map.iter() {
                    let p = join(rpath, k.as_str());
                    if let Some(r) = session_reader(sink, v, &p) {
                        read.insert(k.as_str().to_owned(), r);
                    }
                }
            }
            None => sink.error(
                Pos::of(n.span()),
                rpath,
                format!(
                    "expected a mapping of value name to reader, found {}",
                    reader::kind(n)
                ),
            ),
        }
    }
    Some(SessionProbe {
        probe: probe?,
        logged_in_status: status?,
        logged_in_js,
        read,
    })
}

fn session_reader(sink: &mut Sink, node: &Node, path: &str) -> Option<Reader> {
    let (kind, s) = one_of(sink, node, path, &["json", "css", "regex", "header", "js"])?;
    Some(match kind {
        "json" => {
            if !s.value.starts_with('/') {
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "`{}` is not a JSON pointer; expected one starting with `/`, e.g. /role",
                        s.value
                    ),
                );
                return None;
            }
            Reader::Json(s.value)
        }
        "css" => Reader::Css(s.value),
        "regex" => match regex::Regex::new(&s.value) {
            Ok(r) => Reader::Regex(r),
            Err(e) => {
                sink.error(s.pos, &s.path, regex_error(&s.value, &e));
                return None;
            }
        },
        "js" => Reader::Js(s.value),
        _ => Reader::Header(s.value),
    })
}
