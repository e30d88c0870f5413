// Minimal OpenID Provider on oidc-provider v9 (ESM) for Portico's tests. Env: see tests/peers/oidc-provider.sh.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const HOST = process.env.OIDC_HOST || '127.0.0.1';
const PORT = Number(process.env.OIDC_PORT || 9400);
const ISSUER = process.env.OIDC_ISSUER || `http://${HOST}:${PORT}`;
const CLIENT_ID = process.env.OIDC_CLIENT_ID || 'test-client';
const CLIENT_SECRET = process.env.OIDC_CLIENT_SECRET || 'test-secret';
const REDIRECT_URI = process.env.OIDC_REDIRECT_URI || 'http://127.0.0.1:8080/api/auth/sso/callback';
const KEYS_FILE = process.env.OIDC_KEYS_FILE || '';
const AUTO_LOGIN = process.env.OIDC_AUTO_LOGIN || '';
const WATCH_PID = Number(process.env.OIDC_WATCH_PID || 0);
// OIDC_NO_ISS=1: an IdP that predates RFC 9207 (neither advertises nor sends `iss` in authorization
// responses), the victim's IdP of the mix-up tests.
const NO_ISS = process.env.OIDC_NO_ISS === '1';
if (process.env.OIDC_PID_FILE) fs.writeFileSync(process.env.OIDC_PID_FILE, String(process.pid));

// Exit once the test process that started us is gone, so no provider outlives its test run.
if (WATCH_PID > 0) {
  setInterval(() => {
    try { process.kill(WATCH_PID, 0); } catch {
      console.log(`watched pid ${WATCH_PID} is gone: exiting`);
      if (process.env.OIDC_PID_FILE) fs.rmSync(process.env.OIDC_PID_FILE, { force: true });
      process.exit(0);
    }
  }, 1000).unref();
}

// `amr` is what the login step asserts (it goes into the session and the ID token).
const ACCOUNTS = {
  alice: { password: 'alice-password', amr: ['pwd'],
    claims: { email: 'alice@example.com', email_verified: true, name: 'Alice Example' } },
  bob: { password: 'bob-password', amr: ['pwd'],
    claims: { email: 'bob@example.com', email_verified: false, name: 'Bob Example' } },
  carol: { password: 'carol-password', amr: ['pwd', 'mfa'],
    claims: { email: 'carol@example.com', email_verified: true, name: 'Carol Example' } },
};

function genKey(alg, kid) {
  const { privateKey } = alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg };
}
function saveKeys(jwks) { if (KEYS_FILE) fs.writeFileSync(KEYS_FILE, JSON.stringify(jwks, null, 2), { mode: 0o600 }); }
function loadKeys() {
  if (KEYS_FILE && fs.existsSync(KEYS_FILE)) return JSON.parse(fs.readFileSync(KEYS_FILE, 'utf8'));
  // The first key of each alg signs; the others are only published in /jwks.
  const jwks = { keys: [genKey('RS256', 'rs256-1'), genKey('ES256', 'es256-1'), genKey('RS256', 'rs256-2')] };
  saveKeys(jwks);
  return jwks;
}

// One in-memory store shared by every Provider instance we build, so codes/sessions/grants survive the
// provider swap done by SIGHUP rotation (v9 gives each instance its own store by default).
// Internal module of oidc-provider 9.x; if it moves, fall back to the default per-instance store.
let adapter;
try {
  const { createMemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
  adapter = createMemoryAdapter(0);
} catch { adapter = undefined; }

// Tests run their own Portico on a random loopback port, so any http loopback callback is accepted.
function isLoopbackCallback(value) {
  let url;
  try { url = new URL(value); } catch { return false; }
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost')
    && url.username === '' && url.password === '' && url.hash === '';
}

function makeProvider(jwks) {
  const redirectUris = REDIRECT_URI.split(',');
  const provider = new Provider(ISSUER, {
    ...(adapter ? { adapter } : {}),
    clients: [
      { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: redirectUris,
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'RS256' },
      { client_id: `${CLIENT_ID}-es256`, client_secret: CLIENT_SECRET, redirect_uris: redirectUris,
        grant_types: ['authorization_code'], response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post', id_token_signed_response_alg: 'ES256' },
      { client_id: `${CLIENT_ID}-post`, client_secret: CLIENT_SECRET, redirect_uris: redirectUris,
        grant_types: ['authorization_code'], response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post', id_token_signed_response_alg: 'RS256' },
    ],
    jwks,
    // `amr` rides on the openid scope so every ID token carries what the login step asserted.
    claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false, // scope claims (email, name) also go into the id_token, not only /me
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => false }, // optional for confidential clients; only S256 accepted
    cookies: { keys: ['test-cookie-key-not-secret'] },
    async findAccount(ctx, id) {
      const acct = ACCOUNTS[id];
      return acct && { accountId: id, async claims() { return { sub: id, ...acct.claims }; } };
    },
  });
  if (NO_ISS) {
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path === '/.well-known/openid-configuration' && ctx.body && typeof ctx.body === 'object') {
        delete ctx.body.authorization_response_iss_parameter_supported;
      }
      const location = ctx.response.get('location');
      if (location && ctx.status >= 300 && ctx.status < 400) {
        try {
          const url = new URL(location);
          if (url.searchParams.has('iss')) {
            url.searchParams.delete('iss');
            ctx.response.set('location', url.toString());
          }
        } catch { /* a relative location is no authorization response */ }
      }
    });
  }
  const { Client } = provider;
  const redirectUriAllowed = Client.prototype.redirectUriAllowed;
  Client.prototype.redirectUriAllowed = function loopbackAware(value) {
    return isLoopbackCallback(value) || redirectUriAllowed.call(this, value);
  };
  return provider;
}

let jwks = loadKeys();
let provider = makeProvider(jwks);
let oidc = provider.callback();

// Live rotation (kill -HUP): new RS256 signer first, 2 previous RS256 keys + ES256 key kept; state kept (shared adapter).
process.on('SIGHUP', () => {
  const kid = `rs256-${Date.now()}`;
  const rsa = jwks.keys.filter((k) => k.alg === 'RS256').slice(0, 2);
  jwks = { keys: [genKey('RS256', kid), ...rsa, ...jwks.keys.filter((k) => k.alg !== 'RS256')] };
  saveKeys(jwks);
  provider = makeProvider(jwks);
  oidc = provider.callback();
  console.log(`rotated: RS256 signing kid=${kid}; jwks kids=${jwks.keys.map((k) => k.kid).join(',')}`);
});

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}
async function consentResult(details) {
  const { prompt: { details: missing }, grantId, session, params } = details;
  const grant = grantId ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [ind, scope] of Object.entries(missing.missingResourceScopes || {})) grant.addResourceScope(ind, scope.join(' '));
  return { consent: { grantId: await grant.save() } };
}
function loginResult(accountId) {
  return { login: { accountId, amr: ACCOUNTS[accountId]?.amr || ['pwd'] } };
}
function html(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><body>${body}</body></html>`);
}

// Interaction routes: GET /interaction/:uid (form or auto-login), POST .../login, POST .../confirm, GET .../abort
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt } = details;
  if (req.method === 'GET' && !action) {
    if (AUTO_LOGIN) {
      const result = prompt.name === 'login' ? loginResult(AUTO_LOGIN) : await consentResult(details);
      return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: prompt.name !== 'login' });
    }
    if (prompt.name === 'login') {
      return html(res, 200, `<form method="post" action="/interaction/${uid}/login">
<input name="login"><input name="password" type="password"><button>Sign-in</button></form>`);
    }
    return html(res, 200, `<form method="post" action="/interaction/${uid}/confirm">
<p>Authorize ${details.params.client_id}: ${details.params.scope}</p><button>Continue</button></form>`);
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const { login, password } = await readForm(req);
    const acct = ACCOUNTS[login];
    if (!acct || acct.password !== password) return html(res, 401, 'invalid credentials');
    return provider.interactionFinished(req, res, loginResult(login), { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    return provider.interactionFinished(req, res, await consentResult(details), { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'aborted' },
      { mergeWithLastSubmission: false });
  }
  return html(res, 400, `unexpected step for prompt ${prompt.name}`);
}

http.createServer(async (req, res) => {
  const m = /^\/interaction\/([^/?]+)(?:\/(login|confirm|abort))?(?:\?.*)?$/.exec(req.url);
  if (!m) return oidc(req, res);
  try {
    await interaction(req, res, m[1], m[2]);
  } catch (err) {
    if (!res.headersSent) html(res, 400, `interaction error: ${String(err.message).replace(/</g, '&lt;')}`);
  }
}).listen(PORT, HOST, () => console.log(`oidc-provider listening on ${ISSUER}`));
