#!/usr/bin/env bash
# Real OpenID Provider for Portico's relying-party tests: panva's `oidc-provider` (npm), loopback only.
#
#   tests/peers/oidc-provider.sh start DIR    install into DIR if needed, start, wait until ready, write DIR/env
#   tests/peers/oidc-provider.sh stop DIR     stop it (the pid in DIR/oidc-provider.pid)
#   tests/peers/oidc-provider.sh rotate DIR   live key rotation (SIGHUP): a new RS256 key becomes the signer,
#                                             the previous keys stay published in the JWKS
#   DIR/walk.sh                               curl walk: authorize -> login -> consent -> code -> token
#
# DIR/env after start:  PORTICO_TEST_OIDC_ISSUER=http://127.0.0.1:9400   PORTICO_TEST_OIDC_DIR=DIR
#
# Clients (secret for all: $OIDC_CLIENT_SECRET, default test-secret):
#   test-client        client_secret_basic, ID token RS256
#   test-client-es256  client_secret_post,  ID token ES256
#   test-client-post   client_secret_post,  ID token RS256
# Redirect URIs: the registered one ($OIDC_REDIRECT_URI) and, for tests that run their own Portico on a
# random port, any http://127.0.0.1:<port>/... or http://localhost:<port>/... (loopback only; every other
# check of oidc-provider stays as strict as upstream).
# Users (login form + consent, no auto-login unless OIDC_AUTO_LOGIN is set):
#   alice / alice-password   alice@example.com, email_verified true,  amr [pwd]
#   bob   / bob-password     bob@example.com,   email_verified false, amr [pwd]
#   carol / carol-password   carol@example.com, email_verified true,  amr [pwd, mfa]
#
# env: OIDC_PORT (9400), OIDC_HOST (127.0.0.1), OIDC_CLIENT_ID (test-client), OIDC_CLIENT_SECRET (test-secret),
#      OIDC_REDIRECT_URI (comma-separated; default http://127.0.0.1:8080/api/auth/sso/callback),
#      OIDC_AUTO_LOGIN (e.g. alice: login+consent complete on GET), OIDC_PROVIDER_VERSION (9.13.3),
#      OIDC_WATCH_PID (the provider exits by itself once this process is gone: test harnesses set their own pid),
#      OIDC_NPM_CACHE (a folder where oidc-provider is installed once and linked into each DIR; default: none,
#      install into DIR), OIDC_SELFTEST=1 (run walk.sh after start)
# Needs node >= 20, npm and curl (oidc-provider 9 warns "Unsupported runtime" below Node 22 LTS but works on 20).
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR | rotate DIR" >&2; exit 2; }
cmd=${1:-}; [ $# -ge 2 ] || usage
DIR=$2

case "$cmd" in
  stop)
    [ -f "$DIR/oidc-provider.pid" ] || { echo "not running (no $DIR/oidc-provider.pid)"; exit 0; }
    pid=$(cat "$DIR/oidc-provider.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$DIR/oidc-provider.pid"; echo "stopped"; exit 0 ;;
  rotate)
    before=$(wc -l <"$DIR/oidc-provider.log")
    kill -HUP "$(cat "$DIR/oidc-provider.pid")"
    for _ in $(seq 1 50); do
      [ "$(wc -l <"$DIR/oidc-provider.log")" -gt "$before" ] && grep -q '^rotated' <(tail -n +"$((before + 1))" "$DIR/oidc-provider.log") && break
      sleep 0.1
    done
    tail -n +"$((before + 1))" "$DIR/oidc-provider.log" | grep '^rotated' | tail -n 1
    exit 0 ;;
  start) ;;
  *) usage ;;
esac

mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
HOST=${OIDC_HOST:-127.0.0.1}
PORT=${OIDC_PORT:-9400}
VER=${OIDC_PROVIDER_VERSION:-9.13.3}
ISSUER="http://$HOST:$PORT"

{ command -v node && command -v npm; } >/dev/null || { echo "node (>=20) and npm are required" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "node $major too old for oidc-provider 9 (need >=20)" >&2; exit 1; }

installed() { [ "$(node -p "try{require('$1/node_modules/oidc-provider/package.json').version}catch{''}" 2>/dev/null)" = "$VER" ]; }
install_into() {
  local t0; t0=$(date +%s)
  npm install --prefix "$1" --no-audit --no-fund --loglevel=error "oidc-provider@$VER" >"$1/npm-install.log" 2>&1 \
    || { cat "$1/npm-install.log" >&2; exit 1; }
  echo "installed oidc-provider@$VER into $1 in $(( $(date +%s) - t0 ))s"
}
if ! installed "$DIR"; then
  if [ -n "${OIDC_NPM_CACHE:-}" ]; then
    mkdir -p "$OIDC_NPM_CACHE"; CACHE=$(cd "$OIDC_NPM_CACHE" && pwd)
    (
      flock 9
      installed "$CACHE" || install_into "$CACHE"
    ) 9>"$CACHE/.install.lock"
    rm -rf "$DIR/node_modules"; ln -s "$CACHE/node_modules" "$DIR/node_modules"
  else
    install_into "$DIR"
  fi
fi

cat >"$DIR/provider.mjs" <<'EOF'
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
EOF

cat >"$DIR/walk.sh" <<'EOF'
#!/usr/bin/env bash
# Authorization-code flow with PKCE driven by curl; prints each hop, then the token response.
# env: ISS, CID, SEC, RED, USER_LOGIN, USER_PASSWORD
set -euo pipefail
ISS=${ISS:-http://127.0.0.1:9400}; CID=${CID:-test-client}; SEC=${SEC:-test-secret}
RED=${RED:-http://127.0.0.1:8080/api/auth/sso/callback}
JAR=$(mktemp); trap 'rm -f "$JAR"' EXIT
b64url() { base64 | tr '+/' '-_' | tr -d '=\n'; }
VERIFIER=$(head -c 32 /dev/urandom | b64url)
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | b64url)
REDENC=$(printf %s "$RED" | sed 's/:/%3A/g; s#/#%2F#g')
hop() { curl -sS -o /dev/null -b "$JAR" -c "$JAR" -w '%{redirect_url}' "$@"; }   # one request, print Location
L=$(hop "$ISS/auth?client_id=$CID&response_type=code&scope=openid%20email%20profile&redirect_uri=$REDENC&state=st123&nonce=n456&code_challenge=$CHALLENGE&code_challenge_method=S256")
echo "authorize -> $L" >&2                                     # /interaction/<uid> (login prompt)
L=$(hop --data-urlencode "login=${USER_LOGIN:-alice}" --data-urlencode "password=${USER_PASSWORD:-alice-password}" "$L/login")
echo "login     -> $L" >&2                                     # /auth/<uid> (resume)
L=$(hop "$L"); echo "resume    -> $L" >&2                      # /interaction/<uid2> (consent prompt)
L=$(hop -X POST "$L/confirm"); echo "consent   -> $L" >&2      # /auth/<uid2>
L=$(hop "$L"); echo "resume    -> $L" >&2                      # $RED?code=...&state=st123&iss=...
CODE=$(printf %s "$L" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
[ -n "$CODE" ] || { echo "no code in $L" >&2; exit 1; }
curl -sS -u "$CID:$SEC" -d grant_type=authorization_code -d "code=$CODE" \
  --data-urlencode "redirect_uri=$RED" -d "code_verifier=$VERIFIER" "$ISS/token"
echo
EOF
chmod +x "$DIR/walk.sh"

if [ -f "$DIR/oidc-provider.pid" ] && kill -0 "$(cat "$DIR/oidc-provider.pid")" 2>/dev/null; then
  echo "already running, pid $(cat "$DIR/oidc-provider.pid")" >&2; exit 1
fi
rm -f "$DIR/oidc-provider.pid" "$DIR/env"
if curl -s -o /dev/null "$ISSUER/" 2>/dev/null; then
  echo "$HOST:$PORT is already in use; set OIDC_PORT" >&2; exit 1
fi
t0=$(date +%s%N)
(cd "$DIR" && OIDC_HOST=$HOST OIDC_PORT=$PORT OIDC_KEYS_FILE="$DIR/jwks.json" OIDC_PID_FILE="$DIR/oidc-provider.pid" \
  exec nohup node provider.mjs >"$DIR/oidc-provider.log" 2>&1 </dev/null) &
ready=
for _ in $(seq 1 300); do
  if curl -sf "$ISSUER/.well-known/openid-configuration" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "not ready:" >&2; cat "$DIR/oidc-provider.log" >&2; exit 1; }
printf 'PORTICO_TEST_OIDC_ISSUER=%s\nPORTICO_TEST_OIDC_DIR=%s\n' "$ISSUER" "$DIR" >"$DIR/env"
echo "oidc-provider ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms (a new DIR also generates 2 RSA + 1 EC key)"
cat <<EOF
issuer:        $ISSUER
discovery:     $ISSUER/.well-known/openid-configuration
jwks:          $ISSUER/jwks   (kids: $(node -p "require('$DIR/jwks.json').keys.map(k=>k.kid+'/'+k.alg).join(' ')"))
clients:       ${OIDC_CLIENT_ID:-test-client} (client_secret_basic, RS256), ${OIDC_CLIENT_ID:-test-client}-es256 (client_secret_post, ES256),
               ${OIDC_CLIENT_ID:-test-client}-post (client_secret_post, RS256); secret ${OIDC_CLIENT_SECRET:-test-secret}
redirect_uri:  ${OIDC_REDIRECT_URI:-http://127.0.0.1:8080/api/auth/sso/callback} and any http loopback callback
users:         alice / alice-password, bob / bob-password, carol / carol-password (amr pwd+mfa)${OIDC_AUTO_LOGIN:+   (auto-login as $OIDC_AUTO_LOGIN)}
env file:      $DIR/env
curl walk:     ISS=$ISSUER $DIR/walk.sh
pid file:      $DIR/oidc-provider.pid   (stop: $0 stop $DIR)
EOF
if [ "${OIDC_SELFTEST:-}" = 1 ] && [ -z "${OIDC_AUTO_LOGIN:-}" ]; then
  ISS=$ISSUER CID=${OIDC_CLIENT_ID:-test-client} SEC=${OIDC_CLIENT_SECRET:-test-secret} \
    RED=${OIDC_REDIRECT_URI:-http://127.0.0.1:8080/api/auth/sso/callback} "$DIR/walk.sh"
fi
