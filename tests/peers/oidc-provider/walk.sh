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
