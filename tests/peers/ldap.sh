#!/usr/bin/env bash
# Real OpenLDAP server (Debian slapd 2.5) for Portico's LDAP tests: loopback only, its own config and data
# under DIR, a fresh database loaded with the seed below at every start, TLS with a private CA.
#
#   tests/peers/ldap.sh start DIR    start slapd from DIR (installs slapd/ldap-utils when missing and root),
#                                    wait until it answers, load the seed, write DIR/env
#   tests/peers/ldap.sh stop DIR     stop it (the pid in DIR/slapd.pid)
#
# DIR/env after start (KEY=VALUE lines):
#   PORTICO_TEST_LDAP_URL=ldap://127.0.0.1:3890          plain LDAP; StartTLS on the same port
#   PORTICO_TEST_LDAP_LDAPS_URL=ldaps://127.0.0.1:6360   LDAP over TLS (absent when LDAPS_PORT=0)
#   PORTICO_TEST_LDAP_CA_FILE=DIR/tls/ca.crt             CA of the server certificate (SAN IP:127.0.0.1, DNS:localhost)
#   PORTICO_TEST_LDAP_OTHER_CA_FILE=DIR/tls/other-ca.crt another CA that signed nothing here (wrong-CA tests)
#   PORTICO_TEST_LDAP_TLS=on|off                         off with LDAP_TLS=0: no certificate, StartTLS refused
#   PORTICO_TEST_LDAP_BASE_DN=dc=example,dc=com
#   PORTICO_TEST_LDAP_USERS_DN=ou=people,dc=example,dc=com
#   PORTICO_TEST_LDAP_GROUPS_DN=ou=groups,dc=example,dc=com
#   PORTICO_TEST_LDAP_BIND_DN=cn=sso-service,ou=services,dc=example,dc=com   service account, read-only on the tree
#   PORTICO_TEST_LDAP_BIND_PASSWORD=service-password
#   PORTICO_TEST_LDAP_ADMIN_DN=cn=admin,dc=example,dc=com                    rootdn (for tests that add entries)
#   PORTICO_TEST_LDAP_ADMIN_PASSWORD=admin-password
#   PORTICO_TEST_LDAP_UNAUTH_BIND=allowed|refused        whether "DN + empty password" binds (as anonymous, rc 0)
#   PORTICO_TEST_LDAP_DIR=DIR
#
# Directory (dc=example,dc=com):
#   uid=alice,ou=people  alice-password  mail alice@example.com, cn "Alice Example", displayName "Alice Example",
#                        groupOfNames admins + users (memberOf maintained), posixGroup developers (memberUid alice)
#   uid=bob,ou=people    bob-password    mail bob@example.com, cn "Bob Example" (no displayName), group users
#   uid=twin,ou=people and uid=twin,ou=contractors,ou=people   twin-password   two entries matching (uid=twin)
#   groups: cn=admins, cn=users (groupOfNames, member DNs), cn=developers (posixGroup, memberUid)
#   Anonymous users see nothing; the service account reads everything but userPassword.
#
# env: LDAP_PORT (3890), LDAPS_PORT (6360; 0 = no LDAPS listener), LDAP_HOST (127.0.0.1),
#      LDAP_ALLOW_UNAUTH_BIND=1 (adds "allow bind_anon_dn": a DN with an empty password binds as anonymous,
#      the way Active Directory answers; default: refused with rc 53, as OpenLDAP does),
#      LDAP_TLS=0 (no TLS at all: no certificate configured, no LDAPS listener, StartTLS answered with an error),
#      LDAP_KEEP_DATA=1 (keep DIR/data when it exists: entries and their entryUUIDs survive a stop/start),
#      LDAP_WATCH_PID (slapd is stopped once this process is gone: test harnesses pass their own pid),
#      LDAP_SELFTEST=1 (after start: binds, StartTLS, LDAPS, searches; prints each result)
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 DIR=$2

stop_slapd() {
  local pid
  [ -f "$DIR/slapd.pid" ] || { echo "not running (no $DIR/slapd.pid)"; return 0; }
  pid=$(cat "$DIR/slapd.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$DIR/slapd.pid"
  echo "stopped"
}

case "$cmd" in
  stop) stop_slapd; exit 0 ;;
  start) ;;
  *) usage ;;
esac

mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
HOST=${LDAP_HOST:-127.0.0.1}
PORT=${LDAP_PORT:-3890}
TLS_PORT=${LDAPS_PORT:-6360}
TLS=on
if [ "${LDAP_TLS:-1}" = 0 ]; then TLS=off; TLS_PORT=0; fi
SLAPD=/usr/sbin/slapd
SLAPPASSWD=/usr/sbin/slappasswd
SUFFIX=dc=example,dc=com
ADMIN_DN=cn=admin,$SUFFIX
SERVICE_DN=cn=sso-service,ou=services,$SUFFIX

if ! [ -x "$SLAPD" ] || ! command -v ldapsearch >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "slapd is missing; run: sudo apt-get install -y slapd ldap-utils" >&2; exit 1; }
  # skip the package's own dc=nodomain database; the system service is not used
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null
fi
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }

if [ -f "$DIR/slapd.pid" ] && kill -0 "$(cat "$DIR/slapd.pid")" 2>/dev/null; then
  echo "already running, pid $(cat "$DIR/slapd.pid") (stop: $0 stop $DIR)" >&2; exit 1
fi
rm -f "$DIR/slapd.pid" "$DIR/env"
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for p in "$PORT" "$TLS_PORT"; do
  [ "$p" = 0 ] && continue
  if port_busy "$p"; then echo "$HOST:$p is already in use; set LDAP_PORT / LDAPS_PORT" >&2; exit 1; fi
done

# private CA + server certificate (SAN IP:127.0.0.1, DNS:localhost), kept across starts
mkdir -p "$DIR/tls"
if ! [ -f "$DIR/tls/server.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/tls/ca.key" -out "$DIR/tls/ca.crt" -days 3650 \
    -subj "/CN=portico-test-ldap-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$DIR/tls/server.key" -out "$DIR/tls/server.csr" \
    -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$DIR/tls/ext.cnf"
  openssl x509 -req -in "$DIR/tls/server.csr" -CA "$DIR/tls/ca.crt" -CAkey "$DIR/tls/ca.key" -CAcreateserial \
    -out "$DIR/tls/server.crt" -days 3650 -extfile "$DIR/tls/ext.cnf" 2>/dev/null
  chmod 600 "$DIR/tls/ca.key" "$DIR/tls/server.key"
fi
# a second CA that signed nothing here: a client trusting only it must refuse the server
if ! [ -f "$DIR/tls/other-ca.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/tls/other-ca.key" -out "$DIR/tls/other-ca.crt" -days 3650 \
    -subj "/CN=portico-test-ldap-other-ca" 2>/dev/null
  chmod 600 "$DIR/tls/other-ca.key"
fi

# fresh database at every start (tests may add entries, the next run starts from the seed again), unless
# LDAP_KEEP_DATA=1 and a database exists
FRESH=1
if [ "${LDAP_KEEP_DATA:-}" = 1 ] && [ -f "$DIR/data/data.mdb" ]; then FRESH=0; else rm -rf "$DIR/data"; fi
mkdir -p "$DIR/data"
h() { "$SLAPPASSWD" -h '{SSHA}' -s "$1"; }
UNAUTH=refused
[ "${LDAP_ALLOW_UNAUTH_BIND:-}" = 1 ] && UNAUTH=allowed

{
  cat <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile $DIR/slapd.pid
argsfile $DIR/slapd.args
EOF
  [ "$UNAUTH" = allowed ] && echo "allow bind_anon_dn"
  if [ "$TLS" = on ]; then
    cat <<EOF
TLSCACertificateFile $DIR/tls/ca.crt
TLSCertificateFile $DIR/tls/server.crt
TLSCertificateKeyFile $DIR/tls/server.key
EOF
  fi
  cat <<EOF
database mdb
maxsize 104857600
suffix "$SUFFIX"
rootdn "$ADMIN_DN"
rootpw $(h admin-password)
directory $DIR/data
overlay memberof
access to attrs=userPassword
  by self =xw
  by anonymous auth
  by * none
access to *
  by dn.exact="$SERVICE_DN" read
  by self read
  by * none
EOF
} >"$DIR/slapd.conf"

cat >"$DIR/seed.ldif" <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: Example Inc

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: ou=services,$SUFFIX
objectClass: organizationalUnit
ou: services

dn: $SERVICE_DN
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: sso-service
userPassword: $(h service-password)

dn: uid=alice,ou=people,$SUFFIX
objectClass: inetOrgPerson
objectClass: posixAccount
uid: alice
cn: Alice Example
sn: Example
givenName: Alice
displayName: Alice Example
mail: alice@example.com
uidNumber: 10001
gidNumber: 10001
homeDirectory: /home/alice
userPassword: $(h alice-password)

dn: uid=bob,ou=people,$SUFFIX
objectClass: inetOrgPerson
objectClass: posixAccount
uid: bob
cn: Bob Example
sn: Example
mail: bob@example.com
uidNumber: 10002
gidNumber: 10002
homeDirectory: /home/bob
userPassword: $(h bob-password)

dn: ou=contractors,ou=people,$SUFFIX
objectClass: organizationalUnit
ou: contractors

dn: uid=twin,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: twin
cn: Twin One
sn: One
mail: twin@example.com
userPassword: $(h twin-password)

dn: uid=twin,ou=contractors,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: twin
cn: Twin Two
sn: Two
mail: twin2@example.com
userPassword: $(h twin-password)

dn: cn=admins,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,$SUFFIX

dn: cn=users,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: users
member: uid=alice,ou=people,$SUFFIX
member: uid=bob,ou=people,$SUFFIX

dn: cn=developers,ou=groups,$SUFFIX
objectClass: posixGroup
cn: developers
gidNumber: 20001
memberUid: alice
EOF

"$SLAPD" -Tt -f "$DIR/slapd.conf" -u >/dev/null 2>&1 || { "$SLAPD" -Tt -f "$DIR/slapd.conf" -u; exit 1; }
URLS="ldap://$HOST:$PORT/"
[ "$TLS_PORT" != 0 ] && URLS="$URLS ldaps://$HOST:$TLS_PORT/"
t0=$(date +%s%N)
# daemonizes and writes DIR/slapd.pid; nothing of it stays on our stdout/stderr
"$SLAPD" -f "$DIR/slapd.conf" -h "$URLS" </dev/null >"$DIR/slapd.log" 2>&1
ready=
for _ in $(seq 1 300); do
  if ldapsearch -x -H "ldap://$HOST:$PORT" -s base -b "" namingContexts >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.02
done
[ -n "$ready" ] || { echo "slapd not ready:" >&2; cat "$DIR/slapd.log" >&2; exit 1; }
if [ "$FRESH" = 1 ]; then
  ldapadd -x -H "ldap://$HOST:$PORT" -D "$ADMIN_DN" -w admin-password -f "$DIR/seed.ldif" >/dev/null
  SEEDED="seed: $(grep -c '^dn:' "$DIR/seed.ldif") entries"
else
  SEEDED="kept the existing database"
fi
echo "slapd ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms (pid $(cat "$DIR/slapd.pid")), $SEEDED"

if [ -n "${LDAP_WATCH_PID:-}" ]; then
  # stop slapd once the harness is gone, even if it could not run its cleanup (kill -9)
  slapd_pid=$(cat "$DIR/slapd.pid")
  # shellcheck disable=SC2016  # $1/$2 are expanded by the inner bash
  nohup bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill "$2" 2>/dev/null' \
    ldap-watch "$LDAP_WATCH_PID" "$slapd_pid" </dev/null >/dev/null 2>&1 &
fi

{
  echo "PORTICO_TEST_LDAP_URL=ldap://$HOST:$PORT"
  [ "$TLS_PORT" != 0 ] && echo "PORTICO_TEST_LDAP_LDAPS_URL=ldaps://$HOST:$TLS_PORT"
  echo "PORTICO_TEST_LDAP_CA_FILE=$DIR/tls/ca.crt"
  echo "PORTICO_TEST_LDAP_OTHER_CA_FILE=$DIR/tls/other-ca.crt"
  echo "PORTICO_TEST_LDAP_TLS=$TLS"
  echo "PORTICO_TEST_LDAP_BASE_DN=$SUFFIX"
  echo "PORTICO_TEST_LDAP_USERS_DN=ou=people,$SUFFIX"
  echo "PORTICO_TEST_LDAP_GROUPS_DN=ou=groups,$SUFFIX"
  echo "PORTICO_TEST_LDAP_BIND_DN=$SERVICE_DN"
  echo "PORTICO_TEST_LDAP_BIND_PASSWORD=service-password"
  echo "PORTICO_TEST_LDAP_ADMIN_DN=$ADMIN_DN"
  echo "PORTICO_TEST_LDAP_ADMIN_PASSWORD=admin-password"
  echo "PORTICO_TEST_LDAP_UNAUTH_BIND=$UNAUTH"
  echo "PORTICO_TEST_LDAP_DIR=$DIR"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"

cat <<EOF
url:           ldap://$HOST:$PORT  (StartTLS: ldapwhoami -ZZ)$( [ "$TLS_PORT" != 0 ] && echo "   ldaps://$HOST:$TLS_PORT" )
CA cert:       $DIR/tls/ca.crt   (e.g. LDAPTLS_CACERT=$DIR/tls/ca.crt ldapwhoami -x -ZZ -H ldap://$HOST:$PORT ...)
base DN:       $SUFFIX  users ou=people, groups ou=groups (groupOfNames+memberOf, posixGroup memberUid)
service bind:  $SERVICE_DN / service-password
admin:         $ADMIN_DN / admin-password
users:         uid=alice,ou=people,$SUFFIX / alice-password ; uid=bob,... / bob-password ; 2 x uid=twin / twin-password
TLS:           $TLS (a CA that signed nothing here, for wrong-CA tests: $DIR/tls/other-ca.crt)
unauth bind:   $UNAUTH
env file:      $DIR/env
pid file:      $DIR/slapd.pid   (stop: $0 stop $DIR)
EOF

if [ "${LDAP_SELFTEST:-}" = 1 ]; then
  A=uid=alice,ou=people,$SUFFIX
  t() { local d=$1; shift; local out rc; out=$("$@" 2>&1) && rc=0 || rc=$?; echo "$d: rc=$rc ${out//$'\n'/ | }"; }
  t "alice right password " ldapwhoami -x -H "ldap://$HOST:$PORT" -D "$A" -w alice-password
  t "alice wrong password " ldapwhoami -x -H "ldap://$HOST:$PORT" -D "$A" -w wrong
  t "alice EMPTY password " ldapwhoami -x -H "ldap://$HOST:$PORT" -D "$A" -w ''
  t "unknown user         " ldapwhoami -x -H "ldap://$HOST:$PORT" -D "uid=nobody,ou=people,$SUFFIX" -w x
  t "alice StartTLS       " env LDAPTLS_CACERT="$DIR/tls/ca.crt" ldapwhoami -x -ZZ -H "ldap://$HOST:$PORT" -D "$A" -w alice-password
  if [ "$TLS_PORT" != 0 ]; then
    t "alice LDAPS          " env LDAPTLS_CACERT="$DIR/tls/ca.crt" ldapwhoami -x -H "ldaps://$HOST:$TLS_PORT" -D "$A" -w alice-password
    t "LDAPS without CA     " env LDAPTLS_CACERT=/dev/null ldapwhoami -x -H "ldaps://$HOST:$TLS_PORT" -D "$A" -w alice-password
  fi
  t "service: find alice  " ldapsearch -LLL -x -H "ldap://$HOST:$PORT" -D "$SERVICE_DN" -w service-password \
    -b "ou=people,$SUFFIX" "(mail=alice@example.com)" dn cn mail memberOf
  t "service: her groups  " ldapsearch -LLL -x -H "ldap://$HOST:$PORT" -D "$SERVICE_DN" -w service-password \
    -b "ou=groups,$SUFFIX" "(|(member=$A)(memberUid=alice))" cn
  t "anonymous search     " ldapsearch -LLL -x -H "ldap://$HOST:$PORT" -b "$SUFFIX" "(uid=alice)" dn
fi
