// Okta's own token verifier for Node, @okta/jwt-verifier (pinned in tests/interop/node/packages.txt,
// installed by scripts/setup-deps into target/interop-node), run by tests/okta_sdks.rs against a
// fakta IdP served over HTTPS. Its configuration is the one Okta's docs give, unmodified: no
// `testing.disableHttpsCheck`; the only setting changed on the machine is NODE_EXTRA_CA_CERTS
// (trust fakta's local CA), so the JWKS is fetched over verified TLS.
//
// Reads one JSON object from the file named by its argument: { issuer, client_id, nonce, cases: [{ name, kind: "access" |
// "id", token, audience? }] } and prints one JSON line per case: { name, ok, claims?, error? }.
'use strict';

const fs = require('fs');
const OktaJwtVerifier = require('@okta/jwt-verifier');

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  // As Okta's README sets them up: access tokens asserted to be for this client (`cid`);
  // id_tokens checked against the client id (`aud`), which carry no `cid`.
  const accessVerifier = new OktaJwtVerifier({
    issuer: input.issuer,
    clientId: input.client_id,
    assertClaims: { cid: input.client_id },
  });
  const idVerifier = new OktaJwtVerifier({ issuer: input.issuer, clientId: input.client_id });
  const version = require('@okta/jwt-verifier/package.json').version;
  console.log(JSON.stringify({ version }));
  for (const c of input.cases) {
    try {
      const jwt = c.kind === 'access'
        ? await accessVerifier.verifyAccessToken(c.token, c.audience || 'api://default')
        : await idVerifier.verifyIdToken(c.token, input.client_id, input.nonce);
      console.log(JSON.stringify({ name: c.name, ok: true, claims: jwt.claims }));
    } catch (e) {
      // njwt wraps a failure to get the key (a TLS error, say) as its `innerError`.
      const inner = e && e.innerError ? `: ${e.innerError.message || e.innerError}` : '';
      console.log(JSON.stringify({ name: c.name, ok: false, error: String(e && e.message || e) + inner }));
    }
  }
}

main().catch((e) => {
  console.error(e && e.stack || String(e));
  process.exit(2);
});
