// Drives Portico as an OpenID Provider with the certified `openid-client` library (v6).
// argv: issuer client_id client_secret redirect_uri post_logout_uri organization
// stdout line 1: {"authorize": URL}; stdin line 1: the callback URL the browser reached;
// stdout line 2: what the library validated and fetched.
import * as client from 'openid-client';
import readline from 'node:readline';

const [issuer, clientId, secret, redirectUri, postLogout, organization] = process.argv.slice(2);
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

const config = await client.discovery(new URL(issuer), clientId, secret, undefined, {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid email profile organization groups offline_access',
  code_challenge: challenge,
  code_challenge_method: 'S256',
  state,
  nonce,
  prompt: 'consent',
  organization,
});
console.log(JSON.stringify({ authorize: url.href }));
const cb = (await lines.next()).value;
const tokens = await client.authorizationCodeGrant(config, new URL(cb), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const afterRefresh = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
await client.tokenRevocation(config, refreshed.refresh_token);
let revoked = false;
try {
  await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
} catch {
  revoked = true;
}
const logout = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token,
  post_logout_redirect_uri: postLogout,
  state: 'bye',
});
const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString());
console.log(JSON.stringify({
  claims, userinfo, header, access_token: tokens.access_token,
  refreshed: { access: !!refreshed.access_token, refresh: !!refreshed.refresh_token, sub: afterRefresh.sub },
  revoked, logout: logout.href,
}));
process.exit(0);
