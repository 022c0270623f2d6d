// fakta's okta-auth-js single-page app: a public OpenID Connect client (no secret) that signs
// in with Okta's own browser SDK, @okta/okta-auth-js (the version tests/interop/node/packages.txt
// pins, its published bundle, unmodified), configured as Okta's docs configure it: the issuer
// (https, fakta's), the client id and the redirect URI; no `testing` flags.
//
// /login starts a login with `signInWithRedirect` (the SDK's authorization code flow with
// PKCE, response_mode query), /login/callback finishes it with `handleLoginRedirect` (which
// parses the code from the URL, redeems it and validates the id_token), / shows the session:
// the access token goes to the SPA's API, which verifies it and applies the role rules.
// `window.session` is `undefined` while the page works, `null` when nobody is signed in (or
// something failed: `window.sessionError` says what), and the API's answer
// ({ email, role, groups, subject }) once signed in.
//
// /silent-login (the file's `target.silent_login_url`, O25) drops the SPA's own tokens and
// signs in again silently with the IdP session (`token.getWithoutPrompt()`: prompt=none,
// response_mode=okta_post_message in a hidden iframe; the SDK takes the answer only from the
// issuer's origin), then shows the session as / does.
//
// `?flaw=post-message-any-origin` on /silent-login is a deliberately flawed variant, for
// tests/browser_okta_spa.rs to prove that O25 catches it: the silent sign-in is hand-written
// (as SPAs that do not use the SDK's own call write it: the same request, PKCE included), and
// its message listener checks the state but not `event.origin`, so an answer posted by a frame
// of any origin is taken. The SDK itself is never changed.
//
// `window.silentRenew()` (for tests/browser_okta_spa.rs, never called by the page itself: a
// trial's IdP record must hold only the logins the runner made) asks the SDK whether the IdP
// session exists (`session.exists()`) and renews silently (`token.getWithoutPrompt()`:
// prompt=none, response_mode=okta_post_message in a hidden iframe).
"use strict";

window.session = undefined;

// THE FLAW (see above): a silent sign-in whose listener takes any origin's message.
async function silentSignInAnyOrigin(authClient, issuer) {
  const p = await authClient.token.prepareTokenParams({
    responseType: "code",
    responseMode: "okta_post_message",
    prompt: "none",
  });
  const query = new URLSearchParams({
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    response_type: "code",
    response_mode: "okta_post_message",
    prompt: "none",
    scope: p.scopes.join(" "),
    state: p.state,
    nonce: p.nonce,
    code_challenge: p.codeChallenge,
    code_challenge_method: p.codeChallengeMethod,
  });
  const frame = document.createElement("iframe");
  frame.style.display = "none";
  const answer = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer within 5 s")), 5000);
    window.addEventListener("message", (e) => {
      // Missing here: `if (e.origin !== new URL(issuer).origin) return;`
      if (e.data && e.data.state === p.state) {
        clearTimeout(timer);
        resolve(e.data);
      }
    });
    frame.src = issuer + "/v1/authorize?" + query;
    document.body.appendChild(frame);
  });
  frame.remove();
  if (answer.error) {
    throw new Error(answer.error + ": " + answer.error_description);
  }
  const res = await authClient.token.exchangeCodeForTokens({ ...p, authorizationCode: answer.code });
  return res.tokens;
}

(async () => {
  const $ = (id) => document.getElementById(id);
  const signedOut = (why) => {
    $("status").textContent = why;
    $("login").hidden = false;
    window.session = null;
  };
  try {
    const cfg = await (await fetch("/config.json")).json();
    const authClient = new OktaAuth({
      issuer: cfg.issuer,
      clientId: cfg.client_id,
      redirectUri: location.origin + "/login/callback",
      scopes: ["openid", "profile", "email", "groups"],
      pkce: true,
      // Back to / in this page, without a reload: the page goes on to show the session.
      restoreOriginalUri: async () => history.replaceState(null, "", "/"),
    });
    window.authClient = authClient;
    window.silentRenew = async () => {
      const exists = await authClient.session.exists();
      try {
        const res = await authClient.token.getWithoutPrompt({ timeout: 8000 });
        return {
          exists,
          ok: true,
          tokens: Object.keys(res.tokens).sort(),
          sub: res.tokens.idToken && res.tokens.idToken.claims.sub,
        };
      } catch (e) {
        return { exists, ok: false, name: e.name, errorCode: e.errorCode, message: e.message };
      }
    };
    $("login").onclick = () => authClient.signInWithRedirect({ originalUri: "/" });
    $("logout").onclick = async () => {
      authClient.tokenManager.clear();
      signedOut("Signed out.");
      $("who").hidden = true;
      $("logout").hidden = true;
    };
    if (location.pathname === "/login") {
      await authClient.signInWithRedirect({ originalUri: "/" });
      return;
    }
    if (location.pathname === "/login/callback") {
      await authClient.handleLoginRedirect();
    }
    if (location.pathname === "/silent-login") {
      // Only the IdP session may sign the user in again.
      authClient.tokenManager.clear();
      const flawed =
        new URLSearchParams(location.search).get("flaw") === "post-message-any-origin";
      try {
        const tokens = flawed
          ? await silentSignInAnyOrigin(authClient, cfg.issuer)
          : (await authClient.token.getWithoutPrompt({ timeout: 5000 })).tokens;
        authClient.tokenManager.setTokens(tokens);
      } catch (e) {
        window.silentError = String(e);
      }
      history.replaceState(null, "", "/");
    }
    const accessToken = await authClient.tokenManager.get("accessToken");
    if (!accessToken) {
      signedOut("Not signed in.");
      return;
    }
    const answer = await fetch("/api/me", {
      headers: { Authorization: "Bearer " + accessToken.accessToken },
    });
    if (!answer.ok) {
      window.sessionError = "the API answered " + answer.status + ": " + (await answer.text());
      signedOut("The API refused the session: " + window.sessionError);
      return;
    }
    const me = await answer.json();
    $("email").textContent = me.email;
    $("role").textContent = me.role;
    $("who").hidden = false;
    $("logout").hidden = false;
    $("status").textContent = "Signed in.";
    window.session = me;
  } catch (e) {
    window.sessionError = String((e && e.stack) || e);
    signedOut("Sign-in failed: " + e);
  }
})();
