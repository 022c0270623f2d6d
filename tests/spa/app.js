// fakta's single-page app example: a public OpenID Connect client (no secret) that logs in
// with the authorization code flow and PKCE, run in the page by oidc-client-ts, then asks its
// API who the user is; the API checks the access token and applies the role rules.
//
// /login starts a login (what `target.login_url` names), /callback finishes it, / shows the
// session. `window.session` is `undefined` while the page works, `null` when nobody is signed
// in (or something failed: `window.sessionError` says what), and the API's answer
// ({ email, role, groups, subject }) once signed in.
"use strict";

window.session = undefined;

(async () => {
  const $ = (id) => document.getElementById(id);
  const signedOut = (why) => {
    $("status").textContent = why;
    $("login").hidden = false;
    window.session = null;
  };
  try {
    const cfg = await (await fetch("/config.json")).json();
    const mgr = new oidc.UserManager({
      authority: cfg.authority,
      client_id: cfg.client_id,
      redirect_uri: location.origin + "/callback",
      response_type: "code",
      scope: "openid profile email groups",
    });
    $("login").onclick = () => mgr.signinRedirect();
    $("logout").onclick = async () => {
      await mgr.removeUser();
      signedOut("Signed out.");
      $("who").hidden = true;
      $("logout").hidden = true;
    };
    if (location.pathname === "/login") {
      await mgr.signinRedirect();
      return;
    }
    if (location.pathname === "/callback") {
      await mgr.signinRedirectCallback();
      history.replaceState(null, "", "/");
    }
    const user = await mgr.getUser();
    if (!user || user.expired) {
      signedOut("Not signed in.");
      return;
    }
    const answer = await fetch("/api/me", {
      headers: { Authorization: "Bearer " + user.access_token },
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
    window.sessionError = String(e);
    signedOut("Sign-in failed: " + e);
  }
})();
