//! The `scenarios` section: named sequences of steps (login, logout, revoke, expect, ...).

use super::super::tree::Node;

use super::super::model::*;
use super::super::reader::{self, At, Map, Pos, Sink, index, join};
use super::Declared;
use super::values::http_status;

pub(super) fn scenarios(
    sink: &mut Sink,
    node: &Node,
    directory: &Directory,
    declared: &Declared,
    has_target: bool,
) -> Vec<Scenario> {
    let Some(list) = reader::seq(sink, node, "scenarios") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut names = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = index("scenarios", i);
        if let Some((s, name)) = scenario(sink, item, &path, directory, declared, has_target) {
            out.push(s);
            names.push(name);
        }
    }
    reader::report_duplicates(sink, &names, "scenario name");
    out
}

fn scenario(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    directory: &Directory,
    declared: &Declared,
    has_target: bool,
) -> Option<(Scenario, At<String>)> {
    let m = Map::new(sink, node, path, &["name", "user", "app", "emit", "steps"])?;
    let name = m.req_string(sink, "name", "a name for the scenario");
    if let Some(n) = &name {
        if !n
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            sink.error(
                n.pos,
                &n.path,
                format!("scenario names become test names; expected letters, digits and `_`, found `{}`", n.value),
            );
        }
    }
    let user = m.req_string(sink, "user", "the id of a user of the directory");
    if let (Some(u), Some(names)) = (&user, &declared.users) {
        if directory.find(&u.value).is_none() && !names.contains(&u.value) {
            let users = if declared.user_ids.is_empty() {
                "the directory has no users".to_owned()
            } else {
                format!("users are: {}", declared.user_ids.join(", "))
            };
            sink.error(
                u.pos,
                &u.path,
                format!("no user `{}` in the directory; {users}", u.value),
            );
        }
    }
    let app = m.string(sink, "app");
    if let Some(a) = &app {
        if declared
            .apps
            .as_ref()
            .is_some_and(|ids| !ids.contains(&a.value))
        {
            sink.error(
                a.pos,
                &a.path,
                format!("no app with id `{}`; {}", a.value, declared.app_list()),
            );
        }
    } else if !has_target {
        sink.error(
            m.pos,
            path,
            "the scenario names no `app` and the file has no `target`: which app does it use?",
        );
    }
    let emit = match m.get("emit") {
        Some(n) => emit(sink, n, &m.key_path("emit")),
        None => Some(Emit::default()),
    };
    let steps_path = m.key_path("steps");
    let steps = m.seq(sink, "steps").map(|list| {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| step(sink, s, &index(&steps_path, i)))
            .collect::<Vec<_>>()
    });
    if m.get("steps").is_none() {
        sink.error(
            m.pos,
            path,
            "missing key `steps`: expected a list of steps (login, expect, ...)",
        );
    }
    let name = name?;
    Some((
        Scenario {
            name: name.value.clone(),
            user: user?.value,
            app: app.map(|a| a.value),
            emit: emit?,
            steps: steps?,
            pos: m.pos,
        },
        name,
    ))
}

fn emit(sink: &mut Sink, node: &Node, path: &str) -> Option<Emit> {
    let m = Map::new(sink, node, path, &["omit_attributes"])?;
    let omit = m.strings(sink, "omit_attributes").unwrap_or_default();
    Some(Emit {
        omit_attributes: omit.into_iter().map(|a| a.value).collect(),
        ..Emit::default()
    })
}

const STEP_NAMES: &str = "login, logout, revoke, replay, set_groups, expect";

fn step(sink: &mut Sink, node: &Node, path: &str) -> Option<Step> {
    if let Some(s) = node.as_scalar() {
        return match s.as_str() {
            "login" => Some(Step::Login {
                expect: LoginOutcome::Accepted,
                from: LoginFrom::Sp,
                browser: "main".into(),
                user: None,
            }),
            "logout" => Some(Step::Logout {
                from: LoginFrom::Sp,
                fault: None,
                binding: SloBinding::Redirect,
            }),
            "replay" => Some(Step::Replay),
            "revoke" => Some(Step::Revoke {
                expect_status: None,
                fault: None,
                format: None,
            }),
            other => {
                sink.error(
                    Pos::of(node.span()),
                    path,
                    format!("unknown step `{other}`; expected one of: {STEP_NAMES}"),
                );
                None
            }
        };
    }
    let Some(map) = node.as_mapping() else {
        sink.error(
            Pos::of(node.span()),
            path,
            format!(
                "expected a step (a word or a one-key mapping), found {}",
                reader::kind(node)
            ),
        );
        return None;
    };
    if map.len() != 1 {
        sink.error(
            Pos::of(node.span()),
            path,
            format!(
                "a step is a mapping with exactly one key ({STEP_NAMES}); found {} keys ({}): write each step as its own list item",
                map.len(),
                map.keys().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            ),
        );
        return None;
    }
    let (key, value) = map.iter().next()?;
    let p = join(path, key.as_str());
    match key.as_str() {
        "login" => step_login(sink, value, &p),
        "logout" => step_logout(sink, value, &p),
        "revoke" => step_revoke(sink, value, &p),
        "set_groups" => {
            let groups = reader::strings(sink, value, &p)?;
            Some(Step::SetGroups {
                groups: groups.into_iter().map(|g| g.value).collect(),
            })
        }
        "expect" => step_expect(sink, value, &p),
        other => {
            sink.error(
                Pos::of(key.span()),
                &p,
                format!("unknown step `{other}`; expected one of: {STEP_NAMES}"),
            );
            None
        }
    }
}

/// `login: { expect, from, browser, as }`.
fn step_login(sink: &mut Sink, value: &Node, p: &str) -> Option<Step> {
    let m = Map::new(sink, value, p, &["expect", "from", "browser", "as"])?;
    let browser = m
        .string(sink, "browser")
        .map(|b| b.value)
        .unwrap_or_else(|| "main".into());
    let user = m.string(sink, "as").map(|u| u.value);
    let from = m
        .choice(
            sink,
            "from",
            &[("sp", LoginFrom::Sp), ("idp", LoginFrom::Idp)],
        )
        .map(|c| c.value)
        .unwrap_or(LoginFrom::Sp);
    let expect = m
        .choice(
            sink,
            "expect",
            &[
                ("accepted", LoginOutcome::Accepted),
                ("rejected", LoginOutcome::Rejected),
                ("either", LoginOutcome::Either),
            ],
        )
        .map(|c| c.value)
        .unwrap_or(LoginOutcome::Accepted);
    Some(Step::Login {
        expect,
        from,
        browser,
        user,
    })
}

/// `logout: { from, fault, binding }`.
fn step_logout(sink: &mut Sink, value: &Node, p: &str) -> Option<Step> {
    let m = Map::new(sink, value, p, &["from", "fault", "binding"])?;
    let from = m
        .choice(
            sink,
            "from",
            &[("sp", LoginFrom::Sp), ("idp", LoginFrom::Idp)],
        )
        .map(|c| c.value)
        .unwrap_or(LoginFrom::Sp);
    let fault = m.string(sink, "fault").and_then(|f| {
        let found = LogoutFault::ALL
            .iter()
            .find(|(n, _)| *n == f.value)
            .map(|(_, x)| *x);
        if found.is_none() {
            let names: Vec<&str> = LogoutFault::ALL.iter().map(|(n, _)| *n).collect();
            sink.error(
                f.pos,
                &f.path,
                format!(
                    "unknown logout fault `{}`; expected one of: {}",
                    f.value,
                    names.join(", ")
                ),
            );
        }
        found
    });
    if fault.is_some() && from == LoginFrom::Sp {
        sink.error(
            m.pos,
            p,
            "a logout fault is sent by the IdP: add `from: idp`",
        );
    }
    let binding = m.choice(
        sink,
        "binding",
        &[
            ("redirect", SloBinding::Redirect),
            ("post", SloBinding::Post),
        ],
    );
    if let (Some(b), LoginFrom::Sp) = (&binding, from) {
        sink.error(
            b.pos,
            &b.path,
            "the binding is that of the IdP's LogoutRequest: add `from: idp`",
        );
    }
    Some(Step::Logout {
        from,
        fault,
        binding: binding.map(|b| b.value).unwrap_or_default(),
    })
}

/// `revoke: { expect_status, fault, format }`.
fn step_revoke(sink: &mut Sink, value: &Node, p: &str) -> Option<Step> {
    let m = Map::new(sink, value, p, &["expect_status", "fault", "format"])?;
    let fault = match m.string(sink, "fault") {
        Some(f) => match crate::revocation::Fault::parse(&f.value) {
            Some(x) => Some(x),
            None => {
                let names: Vec<&str> = crate::revocation::Fault::ALL
                    .iter()
                    .map(|f| f.name())
                    .collect();
                sink.error(
                    f.pos,
                    &f.path,
                    format!(
                        "unknown fault `{}`; expected one of: {}",
                        f.value,
                        names.join(", ")
                    ),
                );
                None
            }
        },
        None => None,
    };
    let format = m
        .choice(
            sink,
            "format",
            &[
                ("iss_sub", SubjectFormat::IssSub),
                ("email", SubjectFormat::Email),
            ],
        )
        .map(|c| c.value);
    let status = m
        .string(sink, "expect_status")
        .and_then(|s| http_status(sink, s));
    Some(Step::Revoke {
        expect_status: status,
        fault,
        format,
    })
}

/// `expect: { session, idp_session, browser, <value>: ... }`: what must hold after the steps so far.
fn step_expect(sink: &mut Sink, value: &Node, p: &str) -> Option<Step> {
    let Some(map) = value.as_mapping() else {
        sink.error(
            Pos::of(value.span()),
            p,
            format!(
                "expected a mapping (`session: ended`, `role: admin`, ...), found {}",
                reader::kind(value)
            ),
        );
        return None;
    };
    let mut exp = SessionExpectation::default();
    for (k, v) in map.iter() {
        let kp = join(p, k.as_str());
        if k.as_str() == "session" || k.as_str() == "idp_session" {
            let s = reader::string(sink, v, &kp)?;
            let state = reader::choice(
                sink,
                s,
                &[
                    ("active", SessionState::Active),
                    ("ended", SessionState::Ended),
                ],
            )
            .map(|c| c.value);
            if k.as_str() == "session" {
                exp.session = state;
            } else {
                exp.idp_session = state;
            }
        } else if k.as_str() == "browser" {
            exp.browser = reader::string(sink, v, &kp).map(|b| b.value);
        } else if let Some(list) = v.as_sequence() {
            let items = list
                .iter()
                .enumerate()
                .filter_map(|(i, x)| reader::scalar(sink, x, &index(&kp, i)))
                .map(|x| x.as_str().to_owned())
                .collect();
            exp.values
                .insert(k.as_str().to_owned(), ExpectedValue::List(items));
        } else if let Some(s) = reader::scalar(sink, v, &kp) {
            exp.values.insert(
                k.as_str().to_owned(),
                ExpectedValue::One(s.as_str().to_owned()),
            );
        }
    }
    Some(Step::Expect(exp))
}
