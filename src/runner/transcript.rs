//! Failure transcripts: what was expected and observed, why the expectation is what it is, every
//! hop, and the decoded SAML messages; secrets (codes, signature values, keys) redacted.

use std::fmt::Write as _;

use super::browser::{Browser, Page};
use super::plan::TrialSpec;
use crate::config::{LoginOutcome, Step, User};

/// Most SAML messages a transcript shows, and most characters of each.
const MAX_SEEN_SHOWN: usize = 8;
const MAX_SEEN_CHARS: usize = 32 * 1024;

fn describe(step: &Step) -> String {
    match step {
        Step::Login {
            expect,
            from,
            browser,
            user,
        } => format!(
            "login{}{}{} (expect {})",
            user.as_ref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default(),
            if browser == "main" {
                String::new()
            } else {
                format!(" in browser `{browser}`")
            },
            if *from == crate::config::LoginFrom::Idp {
                " from the IdP"
            } else {
                ""
            },
            match expect {
                LoginOutcome::Accepted => "accepted",
                LoginOutcome::Rejected => "rejected",
                LoginOutcome::Either => "accepted or rejected, without an error",
            }
        ),
        Step::Logout {
            from,
            fault,
            binding,
        } => format!(
            "logout{}{}{}",
            if *from == crate::config::LoginFrom::Idp {
                " from the IdP"
            } else {
                ""
            },
            if *binding == crate::config::SloBinding::Post {
                " (HTTP-POST)"
            } else {
                ""
            },
            fault
                .map(|f| format!(" with fault {}", f.name()))
                .unwrap_or_default()
        ),
        Step::Revoke {
            expect_status,
            fault,
            format,
        } => format!(
            "revoke{}{} (expect {})",
            fault
                .map(|f| format!(" with fault {}", f.name()))
                .unwrap_or_default(),
            format
                .map(|f| format!(" subject format {f:?}"))
                .unwrap_or_default(),
            match (expect_status, fault) {
                (Some(s), _) => s.to_string(),
                (None, Some(f)) => format!("{:?}", f.accepted_statuses()),
                (None, None) => "204".into(),
            }
        ),
        Step::Replay => "replay the last SAMLResponse from a fresh browser (expect refused)".into(),
        Step::SetGroups { groups } => format!("set_groups [{}]", groups.join(", ")),
        Step::Expect(e) => {
            let mut parts = Vec::new();
            if let Some(s) = e.session {
                parts.push(format!("session {s:?}").to_lowercase());
            }
            for (k, v) in &e.values {
                let v = match v {
                    crate::config::ExpectedValue::One(s) => s.clone(),
                    crate::config::ExpectedValue::List(l) => format!("[{}]", l.join(", ")),
                };
                parts.push(format!("{k} {v}"));
            }
            format!("expect {}", parts.join(", "))
        }
    }
}

pub use crate::redact::redact;

fn pretty_xml(xml: &str) -> String {
    let mut out = String::new();
    let mut depth: usize = 0;
    for piece in xml.replace("><", ">\n<").lines() {
        let p = piece.trim();
        if p.starts_with("</") {
            depth = depth.saturating_sub(1);
        }
        // Lines holding a value only a forged document carries are marked.
        let mark = if crate::saml::faults::MARKERS.iter().any(|m| p.contains(m)) {
            ">>  "
        } else {
            "    "
        };
        let _ = writeln!(out, "{mark}{}{}", "  ".repeat(depth.min(12)), p);
        let opens = p.starts_with('<')
            && !p.starts_with("</")
            && !p.starts_with("<?")
            && !p.ends_with("/>");
        let closes_inline = p.contains("</");
        if opens && !closes_inline {
            depth += 1;
        }
    }
    out
}

/// What a transcript shows besides the step: the browser's hops and the documents it saw, the
/// last page, and forged documents the SP got over the back channel (title, shown).
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub browser: &'a Browser,
    pub last: Option<&'a Page>,
    pub documents: &'a [(String, String)],
}

/// The transcript of a failed step.
pub fn render(
    spec: &TrialSpec,
    user: &User,
    index: usize,
    step: &Step,
    what: &str,
    evidence: Evidence<'_>,
) -> String {
    let Evidence {
        browser,
        last,
        documents,
    } = evidence;
    let mut t = String::new();
    let _ = writeln!(t, "trial {}", spec.name);
    let _ = writeln!(
        t,
        "user {} ({}); IdP groups [{}]{}",
        user.id,
        user.email,
        user.groups.join(", "),
        if spec.emit.omit_attributes.is_empty() {
            String::new()
        } else {
            format!("; left out: {}", spec.emit.omit_attributes.join(", "))
        }
    );
    let _ = writeln!(t, "step {} `{}` failed:", index + 1, describe(step));
    for line in what.lines() {
        let _ = writeln!(t, "  {line}");
    }
    if let Some(why) = &spec.why {
        let _ = writeln!(t, "  because: {why}");
    }
    let _ = writeln!(t, "hops:");
    for h in &browser.hops {
        let url = redact(&h.url);
        let url = if url.chars().count() > 140 {
            format!("{}...", url.chars().take(140).collect::<String>())
        } else {
            url
        };
        let _ = writeln!(t, "  {} {} -> {}", h.method, url, h.status);
    }
    if let Some(page) = last {
        let text: String = page.body.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = regex::Regex::new(r"<[^>]+>")
            .map(|r| r.replace_all(&text, " ").into_owned())
            .unwrap_or(text);
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(
            t,
            "last page ({} {}): {}",
            page.status,
            redact(&page.url),
            text.chars().take(300).collect::<String>()
        );
    }
    // The SP chose what it sent: each message is shown up to a limit (fakta's Responses are
    // a few KiB), the latest ones first when there are many.
    let shown = browser.seen.len().min(MAX_SEEN_SHOWN);
    if shown < browser.seen.len() {
        let _ = writeln!(
            t,
            "({} earlier SAML messages left out)",
            browser.seen.len() - shown
        );
    }
    for seen in &browser.seen[browser.seen.len() - shown..] {
        let _ = writeln!(t, "{}:", seen.what);
        let text = super::fetch::at_most(&seen.text, MAX_SEEN_CHARS);
        t.push_str(&pretty_xml(&redact(&text)));
    }
    for (title, shown) in documents {
        let _ = writeln!(t, "{title}:");
        t.push_str(shown);
    }
    t
}
