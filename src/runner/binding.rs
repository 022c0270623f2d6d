//! The session-binding attacks: not forged documents but honest ones delivered to the wrong
//! browser, or a browser the SP should not trust. The IdP signs nothing differently; the runner
//! moves state and codes between browsers (O15-O17), replays the cookies the SP set before a
//! login from a fresh browser (O20, S26), and asks the SP to go on to another site after the
//! login (S25, O21).

/// An attack on how the SP binds a login to the browser that started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum BindingAttack {
    /// O15: the callback carries the right code but the state of another browser's login
    /// (login CSRF, RFC 6749 §10.12).
    StateOfAnotherBrowser,
    /// O16: the request carried state; the callback carries none.
    StateDropped,
    /// O17: the code issued to another browser's request (its own PKCE challenge and nonce)
    /// is delivered to this browser's callback, with this browser's state (RFC 9700 §4.5).
    CodeOfAnotherBrowser,
    /// O20 (OIDC) and S26 (SAML): the cookies the SP set before the login, replayed from a
    /// fresh browser once the user is signed in, must carry no session.
    SessionFixation,
    /// S25 (SAML: the RelayState) and O21 (OIDC: the file's `target.return_param`): the login
    /// asks to go on to `https://evil.test/...`; the SP must not send the browser there.
    OffSiteReturnHttps,
    /// As `OffSiteReturnHttps`, scheme-relative: `//evil.test/...`.
    OffSiteReturnSchemeRelative,
}

/// Where the off-site trials ask the SP to go after the login (a name under `.test`, which
/// never resolves: the runner stops before it anyway).
pub const OFF_SITE: &str = "//evil.test/fakta-open-redirect";

impl BindingAttack {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The case id, for an app of this protocol; `None` where the attack does not apply
    /// (state and codes are OIDC's).
    pub fn case(self, saml: bool) -> Option<&'static str> {
        match (self, saml) {
            (BindingAttack::StateOfAnotherBrowser, false) => Some("O15"),
            (BindingAttack::StateDropped, false) => Some("O16"),
            (BindingAttack::CodeOfAnotherBrowser, false) => Some("O17"),
            (BindingAttack::SessionFixation, false) => Some("O20"),
            (BindingAttack::SessionFixation, true) => Some("S26"),
            (BindingAttack::OffSiteReturnHttps | BindingAttack::OffSiteReturnSchemeRelative, s) => {
                Some(if s { "S25" } else { "O21" })
            }
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BindingAttack::StateOfAnotherBrowser => "state_of_another_browser",
            BindingAttack::StateDropped => "state_dropped",
            BindingAttack::CodeOfAnotherBrowser => "code_of_another_browser",
            BindingAttack::SessionFixation => "session_fixation",
            BindingAttack::OffSiteReturnHttps => "off_site_return_https",
            BindingAttack::OffSiteReturnSchemeRelative => "off_site_return_scheme_relative",
        }
    }

    /// Whether the attack takes something from another browser's login, held at its
    /// callback (never delivered).
    pub fn needs_another_login(self) -> bool {
        matches!(
            self,
            BindingAttack::StateOfAnotherBrowser | BindingAttack::CodeOfAnotherBrowser
        )
    }

    /// The callback parameters to set (or, `None`, remove) in this browser's callback, given
    /// the other browser's held callback parameters; empty for attacks that change no callback.
    pub fn callback_changes(
        self,
        other: &[(String, String)],
    ) -> Result<Vec<(String, Option<String>)>, String> {
        let take = |k: &str| {
            other
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("the other browser's callback carried no `{k}`"))
        };
        Ok(match self {
            BindingAttack::StateOfAnotherBrowser => vec![("state".into(), Some(take("state")?))],
            BindingAttack::StateDropped => vec![("state".into(), None)],
            BindingAttack::CodeOfAnotherBrowser => vec![("code".into(), Some(take("code")?))],
            BindingAttack::SessionFixation
            | BindingAttack::OffSiteReturnHttps
            | BindingAttack::OffSiteReturnSchemeRelative => Vec::new(),
        })
    }

    /// What the attack does, for the transcript.
    pub fn describe(self) -> &'static str {
        match self {
            BindingAttack::StateOfAnotherBrowser => {
                "the callback's state replaced by the state of a second browser's login (held at \
its callback, never delivered)"
            }
            BindingAttack::StateDropped => "the state removed from the callback",
            BindingAttack::CodeOfAnotherBrowser => {
                "the callback's code replaced by the code the IdP issued to a second browser's \
authorization request (its own PKCE challenge and nonce); this browser's state kept"
            }
            BindingAttack::SessionFixation => {
                "the cookies the SP set before the login, with their pre-login values, sent from a \
fresh browser once the user is signed in"
            }
            BindingAttack::OffSiteReturnHttps | BindingAttack::OffSiteReturnSchemeRelative => {
                "the login asks the SP to go on to another site afterwards (SAML: the RelayState \
posted to the ACS; OIDC: the login URL's target.return_param)"
            }
        }
    }

    /// The off-site address this attack asks for, if it is an off-site one.
    pub fn off_site(self) -> Option<String> {
        match self {
            BindingAttack::OffSiteReturnHttps => Some(format!("https:{OFF_SITE}")),
            BindingAttack::OffSiteReturnSchemeRelative => Some(OFF_SITE.to_owned()),
            _ => None,
        }
    }
}

/// The `name=value` cookies set by answers from `origin` among `hops` (the last value of each
/// name wins; a cookie being deleted, with an empty value, is left out).
pub fn cookies_set_by(origin: &url::Url, hops: &[super::browser::Hop]) -> Vec<String> {
    let same_origin = |u: &str| {
        url::Url::parse(u).is_ok_and(|u| {
            u.scheme() == origin.scheme()
                && u.host_str() == origin.host_str()
                && u.port_or_known_default() == origin.port_or_known_default()
        })
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for h in hops.iter().filter(|h| same_origin(&h.url)) {
        for c in &h.set_cookies {
            let Some((k, v)) = c.split_once('=') else {
                continue;
            };
            out.retain(|(n, _)| n != k);
            if !v.is_empty() {
                out.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::browser::Hop;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_attack_changes_the_callback_as_it_says() {
        let other = pairs(&[("code", "c-b"), ("state", "s-b")]);
        use BindingAttack::*;
        assert_eq!(
            StateOfAnotherBrowser.callback_changes(&other).unwrap(),
            vec![("state".to_owned(), Some("s-b".to_owned()))]
        );
        assert_eq!(
            StateDropped.callback_changes(&[]).unwrap(),
            vec![("state".to_owned(), None)]
        );
        assert_eq!(
            CodeOfAnotherBrowser.callback_changes(&other).unwrap(),
            vec![("code".to_owned(), Some("c-b".to_owned()))]
        );
        assert!(CodeOfAnotherBrowser.callback_changes(&[]).is_err());
        assert!(SessionFixation.callback_changes(&other).unwrap().is_empty());
        // Every attack has a case for some protocol; state and codes are OIDC's only.
        for a in BindingAttack::ALL {
            assert!(a.case(false).is_some() || a.case(true).is_some());
        }
        assert_eq!(StateDropped.case(true), None);
        assert_eq!(SessionFixation.case(true), Some("S26"));
    }

    #[test]
    fn a_rewrite_changes_only_requests_to_its_endpoints() {
        use crate::runner::browser::Rewrite;
        let rw = Rewrite {
            endpoints: vec![url::Url::parse("http://127.0.0.1:7100/cb").unwrap()],
            set: vec![("state".into(), Some("s-b".into())), ("x".into(), None)],
        };
        assert!(
            rw.apply("http://127.0.0.1:7100/other?state=a", None)
                .is_none()
        );
        assert!(rw.apply("http://127.0.0.1:7101/cb?state=a", None).is_none());
        let (u, f) = rw
            .apply("http://127.0.0.1:7100/cb?code=c&state=a&x=1", None)
            .unwrap();
        assert_eq!(u, "http://127.0.0.1:7100/cb?code=c&state=s-b");
        assert!(f.is_none());
        let (_, f) = rw
            .apply(
                "http://127.0.0.1:7100/cb",
                Some(&pairs(&[("code", "c"), ("state", "a")])),
            )
            .unwrap();
        assert_eq!(f.unwrap(), pairs(&[("code", "c"), ("state", "s-b")]));
    }

    #[test]
    fn pre_login_cookies_are_the_sp_origins_last_values() {
        let hop = |url: &str, set: &[&str]| Hop {
            method: "GET",
            url: url.into(),
            status: 302,
            posted: Vec::new(),
            set_cookies: set.iter().map(|s| s.to_string()).collect(),
        };
        let sp = url::Url::parse("http://127.0.0.1:7100/").unwrap();
        let hops = [
            hop("http://127.0.0.1:7100/login", &["a=1", "csrf=x"]),
            hop("http://127.0.0.1:7000/sso", &["sid=idp"]),
            hop("http://127.0.0.1:7100/again", &["a=2", "csrf="]),
        ];
        assert_eq!(cookies_set_by(&sp, &hops), vec!["a=2".to_owned()]);
    }
}
