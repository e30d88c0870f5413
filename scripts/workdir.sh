# Sourced by scripts/scale and scripts/bench: their data folders (a PostgreSQL cluster of several GB
# for scripts/scale) never outlive the run, so the shared disk does not fill up.
#
#   work_dir NAME        creates /tmp/portico-NAME.XXXXXX (printed in WORK), owned by this shell's pid;
#                        first removes the folders of earlier NAME runs whose owner is gone (a run
#                        killed with SIGKILL, or cut off with its machine session, cannot clean up
#                        after itself), stopping a PostgreSQL that still runs in one of them
#   work_dir_remove DIR  stops a PostgreSQL server left running in DIR (any depth) and deletes DIR
#
# The scripts call work_dir_remove from their EXIT trap (bash runs it on normal exit, on `set -e`
# failures and on SIGTERM/SIGHUP); SIGKILL leftovers go at the next run's work_dir.

# Stops every PostgreSQL server whose data folder is under $1 (postmaster.pid names it), at once.
work_dir_stop_postgres() {
  local pidfile pid datadir ctl
  ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)
  while IFS= read -r pidfile; do
    pid=$(head -1 "$pidfile" 2>/dev/null || true)
    datadir=$(dirname "$pidfile")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
    if [ -n "$ctl" ]; then
      if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1 || true
      else "$ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1 || true; fi
    fi
    # pg_ctl refused (another owner, no binaries): the postmaster's own pid, from its pid file.
    kill -0 "$pid" 2>/dev/null && kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done < <(find "$1" -name postmaster.pid 2>/dev/null)
}

work_dir_remove() {
  [ -n "${1:-}" ] && [ -d "$1" ] || return 0
  work_dir_stop_postgres "$1"
  rm -rf "$1"
}

work_dir() {
  local name=$1 d owner
  for d in /tmp/portico-"$name".*; do
    [ -d "$d" ] || continue
    owner=$(cat "$d/.owner" 2>/dev/null || true)
    if [ -n "$owner" ]; then
      kill -0 "$owner" 2>/dev/null && continue # a run in progress
    elif [ -z "$(find "$d" -maxdepth 0 -mmin +30 2>/dev/null)" ]; then
      continue # no owner file (an older script) and touched in the last 30 min: maybe running
    fi
    echo "== removing the data folder of an earlier $name run that did not clean up: $d ($(du -sh "$d" 2>/dev/null | cut -f1))" >&2
    work_dir_remove "$d"
  done
  WORK=$(mktemp -d -t "portico-$name.XXXXXX")
  chmod 755 "$WORK"
  echo $$ >"$WORK/.owner"
}
