//! Okta's `response_mode=okta_post_message`: the authorization answer is a page whose script
//! hands the result to the window that asked for it with `postMessage`, instead of navigating
//! to the redirect URI. `@okta/okta-auth-js` uses it for `token.getWithoutPrompt` (a hidden
//! iframe, silent renew) and `token.getWithPopup` (a popup): it listens for `message` events
//! whose `data` is an object carrying its `state`, and takes them only when `event.origin` is
//! the issuer's origin (okta-auth-js `lib/oidc/util/browser.ts`, `addPostMessageListener`;
//! `getWithoutPrompt.ts` sets `responseMode: 'okta_post_message'`, `prompt: 'none'`).
//!
//! The message is sent with the registered redirect URI's origin as `targetOrigin`, never `*`:
//! a page that framed the authorize URL from another origin gets nothing (the browser drops a
//! message whose target origin is not the receiver's). Every value goes into the script as
//! JSON with `<`, `>`, `&` and the line separators escaped, so no value can close the script
//! element or break out of the string.
//!
//! The faults as data. [`Target::Foreign`]: the same result posted to an origin that is not the
//! redirect URI's. No conforming browser delivers it to the SPA (tests/okta_sdks.rs: with it,
//! okta-auth-js's silent renew times out), so no receiver can be caught by it.
//! [`Target::FromOpaqueOrigin`] (O25): the result posted to the redirect URI's origin, as Okta
//! does, but by a sandboxed frame inside the page, whose origin is opaque (`event.origin` is
//! `"null"`): the browser delivers it, and only the receiver's own origin check can refuse it
//! (HTML Living Standard, "Posting messages", security: authors check `event.origin`).

use serde_json::{Map, Value};
use url::Url;

/// Where the page posts the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The registered redirect URI's origin (Okta's behaviour).
    RedirectOrigin,
    /// Another origin (a fault): the browser must drop the message.
    Foreign(String),
    /// The redirect URI's origin, but sent from a sandboxed frame (an opaque origin, O25): the
    /// receiver must drop the message.
    FromOpaqueOrigin,
}

/// The redirect URI's origin (`scheme://host[:port]`), `None` for an opaque one (a custom
/// scheme has no web origin to post to).
pub fn origin_of(redirect_uri: &str) -> Option<String> {
    let url = Url::parse(redirect_uri).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// `v` as JSON text safe inside an HTML `<script>` element.
fn script_json(v: &Value) -> String {
    let json = serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned());
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The page answering an authorization request in `okta_post_message` mode: `fields` (`code`
/// and `state`, or `error`, `error_description` and `state`) posted as one object to the
/// opener (a popup) or else the parent (an iframe). `None` when the redirect URI has no web
/// origin (the caller then answers with an error page: there is nowhere safe to post).
pub fn page(redirect_uri: &str, fields: &[(&str, &str)], target: &Target) -> Option<String> {
    let origin = match target {
        Target::RedirectOrigin | Target::FromOpaqueOrigin => origin_of(redirect_uri)?,
        Target::Foreign(o) => o.clone(),
    };
    // O25: the script that posts runs in a sandboxed frame (`allow-scripts` without
    // `allow-same-origin`: an opaque origin); from there the receiver is this page's opener or
    // parent. The values reach the frame's script as JSON with `<` escaped, so nothing closes it.
    let send = match target {
        Target::FromOpaqueOrigin => {
            r#"var frame = document.createElement('iframe');
  frame.setAttribute('sandbox', 'allow-scripts');
  frame.style.display = 'none';
  var send = function (data, origin) {
    var page = window.parent;
    var to = page.opener || (page.parent !== page ? page.parent : null);
    if (to) { to.postMessage(data, origin); }
  };
  var json = function (v) { return JSON.stringify(v).replace(/</g, '\\u003c'); };
  frame.srcdoc = '<script>(' + send + ')(' + json(data) + ', ' + json(origin) + ');<\/script>';
  document.body.appendChild(frame);"#
        }
        _ => {
            "var to = window.opener || (window.parent !== window ? window.parent : null);
  if (to) { to.postMessage(data, origin); }"
        }
    };
    let data: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    Some(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>fakta: okta_post_message</title></head>\
<body><script>\n\
(function () {{\n\
  var data = {data};\n\
  var origin = {origin};\n\
  {send}\n\
}})();\n\
</script><noscript><p>This page hands the sign-in result to the application that opened it; it needs JavaScript.</p></noscript></body></html>\n",
        data = script_json(&Value::Object(data)),
        origin = script_json(&Value::String(origin)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON literals of the page's `data` and `origin` variables, parsed back.
    fn vars(page: &str) -> (Value, Value) {
        let grab = |name: &str| {
            let start = page.find(&format!("var {name} = ")).unwrap() + name.len() + 7;
            let end = start + page[start..].find(";\n").unwrap();
            serde_json::from_str::<Value>(&page[start..end]).unwrap()
        };
        (grab("data"), grab("origin"))
    }

    #[test]
    fn posts_code_and_state_to_the_redirect_uris_origin_never_star() {
        let p = page(
            "https://app.example.com:8443/login/callback?x=1",
            &[("code", "abc"), ("state", "s1")],
            &Target::RedirectOrigin,
        )
        .unwrap();
        let (data, origin) = vars(&p);
        assert_eq!(data, serde_json::json!({"code": "abc", "state": "s1"}));
        assert_eq!(origin, "https://app.example.com:8443");
        assert!(!p.contains("\"*\""));
        assert!(p.contains("to.postMessage(data, origin)"));
        assert!(p.contains("window.opener"));
        assert!(p.contains("window.parent"));
    }

    #[test]
    fn nothing_can_close_the_script_or_break_the_string() {
        let evil = "</script><script>alert(1)</script>\u{2028}\"'&";
        let p = page(
            "http://127.0.0.1:3000/cb",
            &[("error", "access_denied"), ("state", evil)],
            &Target::RedirectOrigin,
        )
        .unwrap();
        // The only `</script` is the page's own.
        assert_eq!(p.matches("</script").count(), 1, "{p}");
        assert!(!p.contains('\u{2028}'));
        let (data, _) = vars(&p);
        assert_eq!(data["state"], evil);
    }

    #[test]
    fn no_web_origin_no_page() {
        assert_eq!(origin_of("com.example.app:/callback"), None);
        assert!(page("com.example.app:/callback", &[], &Target::RedirectOrigin).is_none());
        assert_eq!(
            origin_of("http://localhost:8080/a/b").as_deref(),
            Some("http://localhost:8080")
        );
    }

    #[test]
    fn o25_posts_to_the_redirect_origin_from_a_sandboxed_frame() {
        let evil = "</script><script>alert(1)</script>";
        let p = page(
            "https://localhost:7300/login/callback",
            &[("code", "c"), ("state", evil)],
            &Target::FromOpaqueOrigin,
        )
        .unwrap();
        let (data, origin) = vars(&p);
        assert_eq!(origin, "https://localhost:7300");
        assert_eq!(data["state"], evil);
        // The page itself posts nothing: a frame without allow-same-origin does.
        assert!(!p.contains("window.opener ||"), "{p}");
        assert!(
            p.contains("setAttribute('sandbox', 'allow-scripts')"),
            "{p}"
        );
        assert!(!p.contains("allow-same-origin"), "{p}");
        assert!(p.contains("to.postMessage(data, origin)"), "{p}");
        // `<` is escaped in what the frame's script gets, and the only `</script` is the page's.
        assert!(p.contains(r"replace(/</g, '\\u003c')"), "{p}");
        assert_eq!(p.matches("</script").count(), 1, "{p}");
    }

    #[test]
    fn the_fault_posts_to_the_origin_it_names() {
        let p = page(
            "http://127.0.0.1:3000/cb",
            &[("code", "c"), ("state", "s")],
            &Target::Foreign("http://evil.localhost:3000".to_owned()),
        )
        .unwrap();
        let (_, origin) = vars(&p);
        assert_eq!(origin, "http://evil.localhost:3000");
    }
}
