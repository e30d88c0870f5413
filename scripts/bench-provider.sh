# Sourced by scripts/bench: the provider section (complete app logins through Portico as the OpenID
# Provider, scripts/bench-provider.py). Expects from scripts/bench: ROOT, BIN, WORK, BASE, KEY, ORG,
# PID, free_port, PROVIDER_LOGINS, PROVIDER_PARALLEL; writes the summary lines to
# $WORK/provider.txt and sets PROVIDER_RC.
#
# The organization's IdP is the real oidc-provider in auto-login mode, in $WORK/oidc (the OIDC
# section's instance when it ran; scripts/bench's cleanup stops it). The application is
# registered with `portico clients add` (confidential, ES256) against the running server's
# embedded PostgreSQL (its URL from the cluster's password file and portico.conf).

echo "== provider logins (app → Portico → oidc-provider → Portico → app: code, token, userinfo), $PROVIDER_LOGINS logins, $PROVIDER_PARALLEL browsers"
if [ ! -f "$WORK/oidc/oidc-provider.pid" ]; then
  OPORT=$(free_port)
  OIDC_PORT=$OPORT OIDC_AUTO_LOGIN=alice OIDC_NPM_CACHE="$ROOT/target/test-cache/oidc-npm" \
    tests/peers/oidc-provider.sh start "$WORK/oidc" >/dev/null
  curl -sf -X PUT -H "X-Api-Key: $KEY" -H 'content-type: application/json' \
    -d "{\"provider\":\"oidc\",\"issuerUrl\":\"http://127.0.0.1:$OPORT\",\"clientId\":\"test-client\",\"clientSecret\":\"test-secret\"}" \
    "$BASE/api/user/organizations/$ORG/settings/sso" >/dev/null
fi
PG_PORT=$(sed -n 's/^port = //p' "$WORK/pg/portico.conf")
PG_URL="postgres://postgres:$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read().strip(), safe=""))' "$WORK/pg/portico_superuser_password")@127.0.0.1:$PG_PORT/postgres"
PROVIDER_REDIRECT=http://app.bench.test/callback
CLIENT_JSON=$(PORTICO__DATABASE__URL="$PG_URL" PORTICO__SERVER__PUBLIC_URL="$BASE" PORTICO__LOG__LEVEL=warn \
  "$BIN" clients add --name "Bench app" --redirect-uri "$PROVIDER_REDIRECT")
PROVIDER_RC=0
PROVIDER_CLIENT_SECRET=$(jq -r .client_secret <<<"$CLIENT_JSON") python3 scripts/bench-provider.py --base "$BASE" --pid "$PID" --idp-pid "$(cat "$WORK/oidc/oidc-provider.pid")" \
  --pg-dir "$WORK/pg" --organization dev --redirect-uri "$PROVIDER_REDIRECT" \
  --client-id "$(jq -r .client_id <<<"$CLIENT_JSON")" \
  --logins "$PROVIDER_LOGINS" --parallel "$PROVIDER_PARALLEL" | tee "$WORK/provider-out.txt" || PROVIDER_RC=$?
grep '^provider ' "$WORK/provider-out.txt" > "$WORK/provider.txt" ||
  echo "provider logins: the run failed (exit $PROVIDER_RC)" > "$WORK/provider.txt"
