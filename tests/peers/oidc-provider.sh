#!/usr/bin/env bash
# Real OpenID Provider for Portico's relying-party tests: panva's `oidc-provider` (npm), loopback only.
#
#   tests/peers/oidc-provider.sh start DIR    install into DIR if needed, start, wait until ready, write DIR/env
#   tests/peers/oidc-provider.sh stop DIR     stop it (the pid in DIR/oidc-provider.pid)
#   tests/peers/oidc-provider.sh rotate DIR   live key rotation (SIGHUP): a new RS256 key becomes the signer,
#                                             the previous keys stay published in the JWKS
#   DIR/walk.sh                               curl walk: authorize -> login -> consent -> code -> token
# Programs (copied into DIR at start): oidc-provider/provider.mjs (the provider), oidc-provider/walk.sh.
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
#      OIDC_NO_ISS=1 (an IdP before RFC 9207: no `iss` in authorization responses, not advertised in discovery),
#      OIDC_ENV_PREFIX (the variables' prefix in DIR/env; default PORTICO_TEST_OIDC, so a second instance can sit beside),
#      OIDC_NPM_CACHE (a folder where oidc-provider is installed once and linked into each DIR; default: none,
#      install into DIR), OIDC_SELFTEST=1 (run walk.sh after start)
# Needs node >= 20, npm and curl (oidc-provider 9 warns "Unsupported runtime" below Node 22 LTS but works on 20).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

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

# the provider program and the curl walk live beside this script (oidc-provider/); provider.mjs is copied
# into DIR so that node resolves `oidc-provider` from DIR/node_modules
install -m 0644 "$HERE/oidc-provider/provider.mjs" "$DIR/provider.mjs"
install -m 0755 "$HERE/oidc-provider/walk.sh" "$DIR/walk.sh"

if [ -f "$DIR/oidc-provider.pid" ] && kill -0 "$(cat "$DIR/oidc-provider.pid")" 2>/dev/null; then
  echo "already running, pid $(cat "$DIR/oidc-provider.pid")" >&2; exit 1
fi
rm -f "$DIR/oidc-provider.pid" "$DIR/env"
if curl -s -o /dev/null "$ISSUER/" 2>/dev/null; then
  echo "$HOST:$PORT is already in use; set OIDC_PORT" >&2; exit 1
fi
t0=$(date +%s%N)
(cd "$DIR" && OIDC_NO_ISS=${OIDC_NO_ISS:-} OIDC_HOST=$HOST OIDC_PORT=$PORT OIDC_KEYS_FILE="$DIR/jwks.json" OIDC_PID_FILE="$DIR/oidc-provider.pid" \
  exec nohup node provider.mjs >"$DIR/oidc-provider.log" 2>&1 </dev/null) &
ready=
for _ in $(seq 1 300); do
  if curl -sf "$ISSUER/.well-known/openid-configuration" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "not ready:" >&2; cat "$DIR/oidc-provider.log" >&2; exit 1; }
PREFIX=${OIDC_ENV_PREFIX:-PORTICO_TEST_OIDC}
printf '%s_ISSUER=%s\n%s_DIR=%s\n' "$PREFIX" "$ISSUER" "$PREFIX" "$DIR" >"$DIR/env"
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
