//! OAuth request parameters (a query string or a form body) read once, with their limits: each
//! parameter at most once (RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT
//! be included more than once"), each at most [`MAX_PARAM_BYTES`], at most [`MAX_PARAMS`] of
//! them. What fakta keeps from a request (a pending login's `state`, `nonce`, scopes) is so
//! bounded in bytes, whatever a client sends.

use std::collections::HashMap;

/// The most bytes of one parameter's name or (decoded) value. Generous for every value OAuth
/// defines (a redirect_uri, a state, a token); a 190 KB `state` is refused.
pub const MAX_PARAM_BYTES: usize = 4096;
/// The most parameters one request may carry.
pub const MAX_PARAMS: usize = 64;

/// How a request's parameters break the rules; the first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error(
        "parameter `{0}` appears more than once (RFC 6749 §3.1: parameters MUST NOT be included more than once)"
    )]
    Repeated(String),
    #[error(
        "parameter `{name}` is {bytes} bytes long; fakta accepts at most {MAX_PARAM_BYTES} bytes per parameter"
    )]
    TooLong { name: String, bytes: usize },
    #[error("the request has more than {MAX_PARAMS} parameters")]
    TooMany,
}

impl ParamError {
    /// The parameter the problem is about, if one.
    pub fn name(&self) -> Option<&str> {
        match self {
            ParamError::Repeated(n) | ParamError::TooLong { name: n, .. } => Some(n),
            ParamError::TooMany => None,
        }
    }
}

/// Parameters by name (the first value of each), and the first rule they break.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub map: HashMap<String, String>,
    pub problem: Option<ParamError>,
}

impl Params {
    pub fn checked(&self) -> Result<&HashMap<String, String>, &ParamError> {
        match &self.problem {
            Some(p) => Err(p),
            None => Ok(&self.map),
        }
    }
}

/// Reads `application/x-www-form-urlencoded` text (a body or a query string). Values over the
/// limit are not kept, and reading stops at [`MAX_PARAMS`].
pub fn parse(raw: &[u8]) -> Params {
    let mut out = Params::default();
    let note = |p: &mut Option<ParamError>, e: ParamError| {
        if p.is_none() {
            *p = Some(e);
        }
    };
    for (i, (k, v)) in url::form_urlencoded::parse(raw).enumerate() {
        if i >= MAX_PARAMS {
            note(&mut out.problem, ParamError::TooMany);
            break;
        }
        let name = shown(&k);
        let bytes = k.len().max(v.len());
        if bytes > MAX_PARAM_BYTES {
            note(&mut out.problem, ParamError::TooLong { name, bytes });
            continue;
        }
        if out.map.contains_key(k.as_ref()) {
            note(&mut out.problem, ParamError::Repeated(name));
            continue;
        }
        out.map.insert(k.into_owned(), v.into_owned());
    }
    out
}

/// A parameter name as an error message shows it: at most 64 characters.
fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(64).collect();
    if s.len() < name.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_parameter_is_named() {
        let p = parse(b"scope=openid&client_id=a&scope=email");
        assert_eq!(p.problem, Some(ParamError::Repeated("scope".into())));
        assert_eq!(p.map["scope"], "openid", "the first value is kept");
        assert!(parse(b"scope=openid&client_id=a").problem.is_none());
    }

    #[test]
    fn a_long_value_is_refused_with_the_limit_and_not_kept() {
        let raw = format!("state={}&client_id=a", "x".repeat(190_000));
        let p = parse(raw.as_bytes());
        assert_eq!(
            p.problem,
            Some(ParamError::TooLong {
                name: "state".into(),
                bytes: 190_000
            })
        );
        assert!(!p.map.contains_key("state"));
        assert!(
            p.problem
                .unwrap()
                .to_string()
                .contains("at most 4096 bytes")
        );
        let at_limit = format!("state={}", "x".repeat(MAX_PARAM_BYTES));
        assert!(parse(at_limit.as_bytes()).problem.is_none());
    }

    #[test]
    fn many_parameters_are_refused() {
        let raw: Vec<String> = (0..MAX_PARAMS + 1).map(|i| format!("p{i}=1")).collect();
        let p = parse(raw.join("&").as_bytes());
        assert_eq!(p.problem, Some(ParamError::TooMany));
        assert_eq!(p.map.len(), MAX_PARAMS);
    }
}
