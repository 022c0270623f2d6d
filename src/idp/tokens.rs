//! Issued OAuth state: authorization codes (single use, short-lived) and the tokens they led
//! to, so that a reused code revokes its tokens, and userinfo, revocation and introspection can
//! answer. Bounded in bytes (`super::bounded`): the oldest entries go first when a cap is
//! reached. A rotated refresh token leaves a tombstone (its hash, its family) in a store of its
//! own, so that reusing it still revokes the family after the token itself was evicted.

use time::{Duration, OffsetDateTime};

use super::bounded::{Bounded, Footprint};
use crate::oidc::pkce;

/// How long a code may wait for its exchange.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);
/// Caps in bytes (estimated). An access token is about 1 KiB (its scopes are deduplicated and
/// known ones only), held twice (map and age queue) and with its record about 2 KiB: some
/// 3,000 live tokens.
pub const MAX_CODE_BYTES: usize = 2 << 20;
pub const MAX_TOKEN_BYTES: usize = 6 << 20;
pub const MAX_ID_TOKEN_BYTES: usize = 2 << 20;
/// Cap of the rotated refresh tokens' tombstones: one is some 330 bytes (two 40-character
/// tokens, a client id, the hash), so some 6,000 rotations are remembered after their tokens
/// left the token store.
pub const MAX_TOMBSTONE_BYTES: usize = 2 << 20;

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
    /// The authorization endpoint returned an id_token with this code (hybrid flow): a trial's
    /// signature fault (O6-O9) forged that one, so the token endpoint's stays honest.
    pub front_channel_id_token: bool,
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
    /// None: until revoked (a refresh token with an unlimited lifetime). A rotated refresh
    /// token keeps the expiry of the grant's first.
    pub expires: Option<OffsetDateTime>,
    pub jti: Option<String>,
    pub revoked: bool,
    pub trial: Option<String>,
    /// The refresh token family this token belongs to: the grant's first refresh token (which
    /// names itself). Revoking a refresh token revokes its family: the refresh tokens rotated
    /// from it and the access tokens issued with them (RFC 7009 §2.1; Okta's reuse detection).
    pub refresh: Option<String>,
    /// A refresh token's last use (for the idle expiry); None: not used since issued.
    pub used: Option<OffsetDateTime>,
    /// A rotated refresh token: when, and the token it was replaced by.
    pub rotated: Option<(OffsetDateTime, String)>,
}

impl TokenInfo {
    pub fn active(&self, now: OffsetDateTime) -> bool {
        !self.revoked && self.expires.is_none_or(|e| e > now)
    }
}

/// The SHA-256 of a token: what a tombstone is found by (the token itself is not kept twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        TokenHash(openssl::sha::sha256(token.as_bytes()))
    }
}

impl Footprint for TokenHash {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// What is left of a rotated refresh token once the bounded token store may have dropped it:
/// enough to answer its reuse as Okta does (within the grace period its successor, after it the
/// whole family revoked) rather than as an unknown token, which would let a client that kept
/// the old token escape reuse detection by waiting for the eviction.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub client_id: String,
    /// The family the token belonged to (the grant's first refresh token).
    pub family: String,
    /// When it was rotated, and the token it was replaced by.
    pub rotated: OffsetDateTime,
    pub successor: String,
    /// The runner's trial the grant was issued in, so that a reuse is still recorded against it.
    pub trial: Option<String>,
}

impl Footprint for Tombstone {
    fn heap_bytes(&self) -> usize {
        self.client_id.heap_bytes()
            + self.family.heap_bytes()
            + self.successor.heap_bytes()
            + self.trial.as_ref().map_or(0, |t| t.heap_bytes())
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

#[derive(Debug)]
pub struct TokenStore {
    codes: Bounded<String, CodeGrant>,
    tokens: Bounded<String, TokenInfo>,
    /// id_token jti -> (client_id, user_id, sid), for end_session's id_token_hint.
    id_tokens: Bounded<String, (String, String, String)>,
    /// Rotated refresh tokens by hash, written at rotation: they outlive the token records.
    tombstones: Bounded<TokenHash, Tombstone>,
    /// Tokens added so far, to sweep inactive ones every [`SWEEP_EVERY`].
    added: u64,
}

const SWEEP_EVERY: u64 = 1024;

impl Default for TokenStore {
    fn default() -> Self {
        TokenStore::with_token_bytes(MAX_TOKEN_BYTES)
    }
}

impl Footprint for CodeGrant {
    fn heap_bytes(&self) -> usize {
        self.app_id.heap_bytes()
            + self.client_id.heap_bytes()
            + self.redirect_uri.heap_bytes()
            + self.user_id.heap_bytes()
            + self.scopes.heap_bytes()
            + self.nonce.heap_bytes()
            + self.challenge.as_ref().map_or(0, |(c, _)| c.heap_bytes())
            + self.sid.heap_bytes()
            + self.issued.heap_bytes()
            + self.trial.heap_bytes()
    }
}

impl Footprint for TokenInfo {
    fn heap_bytes(&self) -> usize {
        self.app_id.heap_bytes()
            + self.client_id.heap_bytes()
            + self.user_id.heap_bytes()
            + self.scopes.heap_bytes()
            + self.sid.heap_bytes()
            + self.jti.heap_bytes()
            + self.trial.heap_bytes()
            + self.refresh.heap_bytes()
            + self.rotated.as_ref().map_or(0, |(_, t)| t.heap_bytes())
    }
}

impl TokenStore {
    /// A store whose tokens are capped at `max_bytes` (the other caps as usual): tests make it
    /// small to see what eviction does.
    pub fn with_token_bytes(max_bytes: usize) -> TokenStore {
        TokenStore {
            codes: Bounded::new(MAX_CODE_BYTES),
            tokens: Bounded::new(max_bytes),
            id_tokens: Bounded::new(MAX_ID_TOKEN_BYTES),
            tombstones: Bounded::new(MAX_TOMBSTONE_BYTES),
            added: 0,
        }
    }

    pub fn add_code(&mut self, code: String, grant: CodeGrant) {
        // Evicted oldest first: codes live a minute, so expired ones go before live ones.
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
        let key = code.to_owned();
        let grant = self.codes.get(&key).ok_or(RedeemError::Unknown)?;
        if grant.client_id != client_id {
            return Err(RedeemError::OtherClient);
        }
        if grant.used {
            let issued = self
                .codes
                .update(&key, |g| std::mem::take(&mut g.issued))
                .unwrap_or_default();
            let mut revoked = 0;
            for t in issued {
                let now_revoked = self
                    .tokens
                    .update(&t, |info| !std::mem::replace(&mut info.revoked, true));
                if now_revoked == Some(true) {
                    revoked += 1;
                }
            }
            return Err(RedeemError::Reused { revoked });
        }
        let expired = grant.created + CODE_LIFETIME <= now;
        let grant = self.codes.update(&key, |g| {
            g.used = true;
            g.clone()
        });
        match grant {
            Some(_) if expired => Err(RedeemError::Expired),
            Some(g) => Ok(g),
            None => Err(RedeemError::Unknown),
        }
    }

    /// Records a token, remembering which code it came from.
    pub fn add_token(&mut self, token: String, info: TokenInfo, from_code: Option<&str>) {
        self.added += 1;
        if self.added % SWEEP_EVERY == 0 && self.tokens.bytes() > MAX_TOKEN_BYTES / 2 {
            // Refresh tokens never expire, so age alone would evict them before expired or
            // revoked access tokens: those are dropped first, now and then (a sweep is a pass
            // over the store).
            let now = info.issued_at;
            self.tokens.retain(|_, t| t.active(now));
        }
        if let Some(code) = from_code {
            self.codes
                .update(&code.to_owned(), |g| g.issued.push(token.clone()));
        }
        self.tokens.insert(token, info);
    }

    /// Marks a token used (a refresh): the newest, the last to be evicted.
    pub fn touch(&mut self, token: &str) {
        self.tokens.touch(&token.to_owned());
    }

    pub fn token(&self, token: &str) -> Option<&TokenInfo> {
        self.tokens.get(&token.to_owned())
    }

    /// Revokes a token if it belongs to `client_id`; returns how many tokens were revoked. A
    /// refresh token takes the access tokens of the same grant with it (RFC 7009 §2.1: the
    /// server "SHOULD also invalidate all access tokens based on the same authorization
    /// grant").
    pub fn revoke(&mut self, token: &str, client_id: &str) -> usize {
        let key = token.to_owned();
        let Some(info) = self.tokens.get(&key) else {
            return 0;
        };
        if info.client_id != client_id {
            return 0;
        }
        let family = (info.kind == TokenKind::Refresh)
            .then(|| info.refresh.clone().unwrap_or_else(|| token.to_owned()));
        let newly = self
            .tokens
            .update(&key, |i| !std::mem::replace(&mut i.revoked, true));
        match family {
            None => 1,
            Some(f) => usize::from(newly == Some(true)) + self.revoke_family(&f),
        }
    }

    /// Revokes every token of a refresh token family (the grant's refresh tokens and the
    /// access tokens issued with them); returns how many were active.
    pub fn revoke_family(&mut self, family: &str) -> usize {
        let mut n = 0;
        for t in self
            .tokens
            .values_mut()
            .filter(|t| !t.revoked && t.refresh.as_deref() == Some(family))
        {
            t.revoked = true;
            n += 1;
        }
        n
    }

    /// Notes a refresh token's use (a persistent token, or a rotated one in its grace period).
    pub fn mark_used(&mut self, token: &str, now: OffsetDateTime) {
        self.tokens
            .update(&token.to_owned(), |t| t.used = Some(now));
    }

    /// Notes that a refresh token was replaced by `successor` at `now`, and leaves its
    /// tombstone.
    pub fn mark_rotated(&mut self, token: &str, successor: &str, now: OffsetDateTime) {
        let stone = self.tokens.update(&token.to_owned(), |t| {
            t.used = Some(now);
            t.rotated = Some((now, successor.to_owned()));
            Tombstone {
                client_id: t.client_id.clone(),
                family: t.refresh.clone().unwrap_or_else(|| token.to_owned()),
                rotated: now,
                successor: successor.to_owned(),
                trial: t.trial.clone(),
            }
        });
        if let Some(stone) = stone {
            self.tombstones.insert(TokenHash::of(token), stone);
        }
    }

    /// The tombstone of a rotated refresh token, if it was rotated (and its tombstone not yet
    /// evicted by newer ones).
    pub fn tombstone(&self, token: &str) -> Option<&Tombstone> {
        self.tombstones.get(&TokenHash::of(token))
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
        self.id_tokens.insert(jti, (client_id, user_id, sid));
    }

    pub fn id_token(&self, jti: &str) -> Option<&(String, String, String)> {
        self.id_tokens.get(&jti.to_owned())
    }
}

/// Caps of the client assertion replay store. Only a client's key or secret makes an assertion
/// that gets this far, so filling it takes the client itself sending this many within their
/// hour; past it new assertions are refused (never an unexpired jti forgotten early).
pub const MAX_JTIS: usize = 10_000;
pub const MAX_JTI_BYTES: usize = 2 << 20;

/// Whether a client assertion's `jti` may be accepted ([`SeenJtis::first_use`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiUse {
    First,
    /// Seen before and its assertion not yet expired: Okta refuses a reused jti.
    Replayed,
    /// The store is full of unexpired jtis.
    Full,
}

/// The `jti`s of client assertions already accepted, each kept until its assertion's `exp`
/// (after that the assertion itself is refused as expired).
#[derive(Debug, Default)]
pub struct SeenJtis {
    seen: std::collections::HashMap<String, OffsetDateTime>,
    bytes: usize,
}

impl SeenJtis {
    /// Records `client_id`'s `jti` until `exp`, unless it is recorded already or there is no
    /// room.
    pub fn first_use(
        &mut self,
        client_id: &str,
        jti: &str,
        exp: OffsetDateTime,
        now: OffsetDateTime,
    ) -> JtiUse {
        let key = format!("{client_id}\n{jti}");
        if self.seen.get(&key).is_some_and(|e| *e > now) {
            return JtiUse::Replayed;
        }
        let size = key.footprint() + super::bounded::ENTRY_OVERHEAD;
        let full = |n: usize, bytes: usize| n >= MAX_JTIS || bytes + size > MAX_JTI_BYTES;
        if full(self.seen.len(), self.bytes) {
            self.seen.retain(|_, e| *e > now);
            self.bytes = self
                .seen
                .keys()
                .map(|k| k.footprint() + super::bounded::ENTRY_OVERHEAD)
                .sum();
            if full(self.seen.len(), self.bytes) {
                return JtiUse::Full;
            }
        }
        if self.seen.insert(key, exp).is_none() {
            self.bytes += size;
        }
        JtiUse::First
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
            front_channel_id_token: false,
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

    #[test]
    fn a_jti_is_accepted_once_until_it_expires() {
        let now = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let exp = now + Duration::minutes(5);
        let mut seen = SeenJtis::default();
        assert_eq!(seen.first_use("c", "j1", exp, now), JtiUse::First);
        assert_eq!(
            seen.first_use("c", "j1", exp, now + Duration::minutes(1)),
            JtiUse::Replayed
        );
        // Another client's jti is its own.
        assert_eq!(seen.first_use("d", "j1", exp, now), JtiUse::First);
        // Full: refused, never an unexpired jti forgotten.
        for i in 0..MAX_JTIS {
            seen.first_use("c", &format!("k{i}"), exp, now);
        }
        assert_eq!(seen.first_use("c", "new", exp, now), JtiUse::Full);
        assert_eq!(seen.first_use("c", "j1", exp, now), JtiUse::Replayed);
        assert!(seen.bytes <= MAX_JTI_BYTES);
        // Once they expire there is room again.
        let later = exp + Duration::seconds(1);
        assert_eq!(
            seen.first_use("c", "new", later + Duration::minutes(5), later),
            JtiUse::First
        );
    }

    fn refresh_info(now: OffsetDateTime, family: &str) -> TokenInfo {
        TokenInfo {
            kind: TokenKind::Refresh,
            app_id: "web".into(),
            client_id: "owner".into(),
            user_id: "u".into(),
            scopes: vec!["openid".into(), "offline_access".into()],
            auth_time: now,
            sid: "s".into(),
            issued_at: now,
            expires: None,
            jti: None,
            revoked: false,
            trial: None,
            refresh: Some(family.into()),
            used: None,
            rotated: None,
        }
    }

    /// Issue 19: a rotated refresh token evicted from the store is still known as rotated
    /// (its family, when, its successor), by its hash; a token never rotated has no tombstone.
    #[test]
    fn a_rotated_refresh_token_leaves_a_tombstone_that_outlives_its_record() {
        let now = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let mut store = TokenStore::with_token_bytes(8 * 1024);
        store.add_token("rt1".into(), refresh_info(now, "rt1"), None);
        store.add_token("rt2".into(), refresh_info(now, "rt1"), None);
        assert!(store.tombstone("rt1").is_none(), "not rotated yet");
        store.mark_rotated("rt1", "rt2", now);
        // Access tokens push the old refresh token out of the small store.
        for i in 0..100 {
            store.add_token(
                format!("at{i}{}", "x".repeat(500)),
                refresh_info(now, "rt1"),
                None,
            );
        }
        assert!(store.token("rt1").is_none(), "evicted");
        let t = store.tombstone("rt1").expect("the tombstone stays");
        assert_eq!(
            (
                t.client_id.as_str(),
                t.family.as_str(),
                t.successor.as_str(),
                t.rotated
            ),
            ("owner", "rt1", "rt2", now)
        );
        assert!(store.tombstone("rt2").is_none());
        assert!(store.tombstone("unknown").is_none());
    }

    /// The tombstones are capped in bytes, the newest kept.
    #[test]
    fn tombstones_are_bounded_in_bytes() {
        let now = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let mut store = TokenStore::default();
        let n = MAX_TOMBSTONE_BYTES / 200;
        for i in 0..n {
            let (old, new) = (format!("{i:040}"), format!("{:040}", i + 1));
            if i == 0 {
                store.add_token(old.clone(), refresh_info(now, &old), None);
            }
            store.add_token(new.clone(), refresh_info(now, "f"), None);
            store.mark_rotated(&old, &new, now);
        }
        assert!(store.tombstones.bytes() <= MAX_TOMBSTONE_BYTES);
        assert!(store.tombstone(&format!("{:040}", n - 1)).is_some());
        assert!(
            store.tombstone(&format!("{:040}", 0)).is_none(),
            "the oldest went first"
        );
    }

    /// Issue 13: each refresh kept ~1.8 MB with a 27,000-times repeated scope; the store is
    /// now capped in bytes, the newest tokens kept.
    #[test]
    fn the_token_store_is_bounded_in_bytes() {
        let now = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let mut store = TokenStore::default();
        let info = TokenInfo {
            kind: TokenKind::Access,
            app_id: "web".into(),
            client_id: "owner".into(),
            user_id: "u".into(),
            scopes: vec!["openid".to_owned(); 500],
            auth_time: now,
            sid: "s".into(),
            issued_at: now,
            expires: None,
            jti: None,
            revoked: false,
            trial: None,
            refresh: None,
            used: None,
            rotated: None,
        };
        let refresh = "r".repeat(30);
        store.add_token(refresh.clone(), info.clone(), None);
        for i in 0..5_000 {
            store.add_token(format!("{i}{}", "t".repeat(1000)), info.clone(), None);
            store.touch(&refresh);
        }
        assert!(store.token(&refresh).is_some(), "a token in use stays");
        assert!(store.tokens.bytes() <= MAX_TOKEN_BYTES);
        assert!(store.token(&format!("4999{}", "t".repeat(1000))).is_some());
        assert!(store.token(&format!("0{}", "t".repeat(1000))).is_none());
    }
}
