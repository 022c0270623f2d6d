//! Typed scalar values shared by the sections: URLs, slugs, durations, status codes, regexes
//! and single-kind mappings (`{ regex: ... }`).

use super::super::tree::Node;
use url::Url;

use super::super::reader::{At, Map, Sink};

/// The reason a regex does not compile, without the regex crate's multi-line drawing.
pub(super) fn regex_error(source: &str, e: &regex::Error) -> String {
    let detail = e.to_string();
    let last = detail.lines().last().unwrap_or("").trim();
    let reason = last.strip_prefix("error: ").unwrap_or(last);
    format!("invalid regex `{source}`: {reason}")
}

/// An absolute http(s) URL with a host, a port other than 0 and no credentials.
pub(super) fn url(sink: &mut Sink, s: At<String>) -> Option<Url> {
    match Url::parse(&s.value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
            if u.host_str().is_none_or(str::is_empty) {
                sink.error(s.pos, &s.path, format!("URL `{}` has no host", s.value));
                return None;
            }
            if u.port() == Some(0) {
                // Port 0 asks the OS for any free port when listening; nothing can be reached there.
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "URL `{}` has port 0, where nothing can be reached; write the port the server listens on",
                        s.value
                    ),
                );
                return None;
            }
            if !u.username().is_empty() || u.password().is_some() {
                // The password is not repeated in the message: check output ends up in CI logs.
                let who = match u.password() {
                    Some(_) => format!("{}:...@", u.username()),
                    None => format!("{}@", u.username()),
                };
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "the URL has credentials (`{who}`) before its host; fakta never sends credentials in a URL: remove them"
                    ),
                );
                return None;
            }
            Some(u)
        }
        Ok(u) => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "expected an http or https URL, found scheme `{}`",
                    u.scheme()
                ),
            );
            None
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "`{}` is a relative URL; expected an absolute URL such as http://127.0.0.1:7100/acs",
                    s.value
                ),
            );
            None
        }
        Err(e) => {
            sink.error(s.pos, &s.path, format!("invalid URL `{}`: {e}", s.value));
            None
        }
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn slug(sink: &mut Sink, s: Option<At<String>>) -> Option<At<String>> {
    let s = s?;
    if is_slug(&s.value) {
        Some(s)
    } else {
        sink.error(
            s.pos,
            &s.path,
            format!(
                "`{}` cannot appear in a URL path; expected letters, digits, `_` or `-`",
                s.value
            ),
        );
        None
    }
}

/// A number of seconds in `1..=max`, or `default` when absent.
pub(super) fn seconds(
    sink: &mut Sink,
    m: &Map<'_>,
    key: &str,
    default: i64,
    max: i64,
) -> Option<i64> {
    match m.string(sink, key) {
        Some(s) => match s.value.parse::<i64>() {
            Ok(v) if (1..=max).contains(&v) => Some(v),
            _ => {
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "expected a number of seconds from 1 to {max}, found `{}`",
                        s.value
                    ),
                );
                None
            }
        },
        None => Some(default),
    }
}

/// An HTTP status code (100-599).
pub(super) fn http_status(sink: &mut Sink, s: At<String>) -> Option<u16> {
    match s.value.parse::<u16>() {
        Ok(v) if (100..=599).contains(&v) => Some(v),
        _ => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "expected an HTTP status code (100-599), found `{}`",
                    s.value
                ),
            );
            None
        }
    }
}

/// A mapping with exactly one of `kinds` as its key (`{ regex: ... }`): the kind and its value.
pub(super) fn one_of(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    kinds: &[&'static str],
) -> Option<(&'static str, At<String>)> {
    let m = Map::new(sink, node, path, kinds)?;
    let present: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| m.get(k).is_some())
        .collect();
    if present.len() != 1 {
        sink.error(
            m.pos,
            path,
            format!(
                "expected exactly one of {}; found {}",
                kinds.join(", "),
                if present.is_empty() {
                    "none".to_owned()
                } else {
                    present.join(", ")
                }
            ),
        );
        return None;
    }
    let s = m.string(sink, present[0])?;
    Some((present[0], s))
}
