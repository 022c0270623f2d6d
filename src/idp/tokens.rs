//! Issued OAuth state: authorization codes (single use, short-lived) and the tokens they led
//! to, so that a reused code revokes its tokens, and userinfo, revocation and introspection can
//! answer. Bounded: the oldest entries go first when a cap is reached.

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

use crate::oidc::pkce;

/// How long a code may wait for its exchange.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);
pub const MAX_CODES: usize = 10_000;
pub const MAX_TOKENS: usize = 50_000;

/// What an authorization code stands for.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub app_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub challenge: Option<(String, pkce::Method)>,
    pub auth_time: OffsetDateTime,
    pub sid: String,
    pub created: OffsetDateTime,
    pub used: bool,
    /// Tokens issued from this code: revoked if the code is presented again.
    pub issued: Vec<String>,
    /// The runner trial the login belonged to.
    pub trial: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

/// An issued access or refresh token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub kind: TokenKind,
    pub app_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub auth_time: OffsetDateTime,
    pub sid: String,
    pub issued_at: OffsetDateTime,
    /// None for refresh tokens (they last until revoked).
    pub expires: Option<OffsetDateTime>,
    pub jti: Option<String>,
    pub revoked: bool,
    pub trial: Option<String>,
    /// The refresh token of the grant this token belongs to (a refresh token names itself):
    /// revoking it revokes the access tokens issued with it or from it (RFC 7009 §2.1).
    pub refresh: Option<String>,
}

impl TokenInfo {
    pub fn active(&self, now: OffsetDateTime) -> bool {
        !self.revoked && self.expires.is_none_or(|e| e > now)
    }
}

/// Why a code could not be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemError {
    Unknown,
    /// Issued to another client: refused without using the code up, so the client it was
    /// issued to can still redeem it.
    OtherClient,
    Expired,
    /// Presented a second time; this many tokens issued from it were revoked.
    Reused {
        revoked: usize,
    },
}

#[derive(Debug, Default)]
pub struct TokenStore {
    codes: HashMap<String, CodeGrant>,
    tokens: HashMap<String, TokenInfo>,
    /// id_token jti -> (client_id, user_id, sid), for end_session's id_token_hint.
    id_tokens: HashMap<String, (String, String, String)>,
}

impl TokenStore {
    pub fn add_code(&mut self, code: String, grant: CodeGrant) {
        if self.codes.len() >= MAX_CODES {
            let now = grant.created;
            self.codes
                .retain(|_, c| !c.used && c.created + CODE_LIFETIME > now);
            if self.codes.len() >= MAX_CODES {
                self.codes.clear();
            }
        }
        self.codes.insert(code, grant);
    }

    /// Marks a code used by `client_id` and returns its grant; a second use revokes what the
    /// first issued. Another client's attempt changes nothing.
    pub fn redeem(
        &mut self,
        code: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<CodeGrant, RedeemError> {
        let grant = self.codes.get_mut(code).ok_or(RedeemError::Unknown)?;
        if grant.client_id != client_id {
            return Err(RedeemError::OtherClient);
        }
        if grant.used {
            let issued = std::mem::take(&mut grant.issued);
            let mut revoked = 0;
            for t in issued {
                if let Some(info) = self.tokens.get_mut(&t) {
                    if !info.revoked {
                        info.revoked = true;
                        revoked += 1;
                    }
                }
            }
            return Err(RedeemError::Reused { revoked });
        }
        grant.used = true;
        if grant.created + CODE_LIFETIME <= now {
            return Err(RedeemError::Expired);
        }
        Ok(grant.clone())
    }

    /// Records a token, remembering which code it came from.
    pub fn add_token(&mut self, token: String, info: TokenInfo, from_code: Option<&str>) {
        if self.tokens.len() >= MAX_TOKENS {
            let now = info.issued_at;
            self.tokens.retain(|_, t| t.active(now));
            if self.tokens.len() >= MAX_TOKENS {
                let mut by_age: Vec<(OffsetDateTime, String)> = self
                    .tokens
                    .iter()
                    .map(|(k, v)| (v.issued_at, k.clone()))
                    .collect();
                by_age.sort();
                for (_, k) in by_age.into_iter().take(MAX_TOKENS / 10) {
                    self.tokens.remove(&k);
                }
            }
        }
        if let Some(code) = from_code {
            if let Some(g) = self.codes.get_mut(code) {
                g.issued.push(token.clone());
            }
        }
        self.tokens.insert(token, info);
    }

    pub fn token(&self, token: &str) -> Option<&TokenInfo> {
        self.tokens.get(token)
    }

    /// Revokes a token if it belongs to `client_id`; returns how many tokens were revoked. A
    /// refresh token takes the access tokens of the same grant with it (RFC 7009 §2.1: the
    /// server "SHOULD also invalidate all access tokens based on the same authorization
    /// grant").
    pub fn revoke(&mut self, token: &str, client_id: &str) -> usize {
        let Some(info) = self.tokens.get_mut(token) else {
            return 0;
        };
        if info.client_id != client_id {
            return 0;
        }
        info.revoked = true;
        if info.kind != TokenKind::Refresh {
            return 1;
        }
        let mut n = 1;
        for t in self
            .tokens
            .values_mut()
            .filter(|t| !t.revoked && t.refresh.as_deref() == Some(token))
        {
            t.revoked = true;
            n += 1;
        }
        n
    }

    /// Revokes every token of a user (logout, global revocation); returns how many.
    pub fn revoke_user(&mut self, user_id: &str) -> usize {
        let mut n = 0;
        for t in self
            .tokens
            .values_mut()
            .filter(|t| t.user_id == user_id && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        n
    }

    pub fn add_id_token(&mut self, jti: String, client_id: String, user_id: String, sid: String) {
        if self.id_tokens.len() >= MAX_TOKENS {
            self.id_tokens.clear();
        }
        self.id_tokens.insert(jti, (client_id, user_id, sid));
    }

    pub fn id_token(&self, jti: &str) -> Option<&(String, String, String)> {
        self.id_tokens.get(jti)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(now: OffsetDateTime) -> CodeGrant {
        CodeGrant {
            app_id: "web".into(),
            client_id: "owner".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            user_id: "u".into(),
            scopes: vec!["openid".into()],
            nonce: None,
            challenge: None,
            auth_time: now,
            sid: "s".into(),
            created: now,
            used: false,
            issued: Vec::new(),
            trial: None,
        }
    }

    /// Issue 13: a code presented by another client is refused without using it up.
    #[test]
    fn a_code_presented_by_another_client_stays_redeemable_by_its_owner() {
        let now = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let mut store = TokenStore::default();
        store.add_code("c1".into(), grant(now));
        assert_eq!(
            store.redeem("c1", "thief", now).map(|_| ()),
            Err(RedeemError::OtherClient)
        );
        assert!(store.redeem("c1", "owner", now).is_ok());
        assert!(matches!(
            store.redeem("c1", "owner", now),
            Err(RedeemError::Reused { .. })
        ));
    }
}
