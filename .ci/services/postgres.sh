#!/usr/bin/env bash
# Starts a private, throwaway PostgreSQL for the store/postgres tests and prints the
# environment that points them at it, for .ci/run to evaluate:
#
#   eval "$(.ci/services/postgres.sh)"      # sets ACRE_TEST_POSTGRES (and _DATA)
#   .ci/services/postgres.sh stop           # stops it again (optional: CI machines die anyway)
#
# Only the export lines go to stdout; everything else (apt, initdb, logs) goes to
# stderr, so that eval sees nothing else. PostgreSQL is installed from the Debian
# packages if it is missing. The cluster lives in a new directory under /tmp (or
# $ACRE_POSTGRES_DIR), listens on 127.0.0.1 only, on the first free port from 55432
# (or $ACRE_POSTGRES_PORT), and runs as a non-root user because initdb and postgres
# refuse root: as the caller when not root, else as the "postgres" system user the
# package creates. Durability is off (fsync=off): the data is thrown away after CI.
# If ACRE_TEST_POSTGRES is already set, that server is used and nothing is started.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

# bindir prints the newest installed PostgreSQL server's bin directory (Debian keeps
# the server binaries, initdb and pg_ctl included, out of PATH), or nothing.
bindir() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
    echo "$d"
  fi
}

# as_owner runs a command as the user who owns the cluster.
if [[ $EUID -eq 0 ]]; then
  pg_user=postgres
  as_owner() { runuser -u "$pg_user" -- "$@"; }
else
  pg_user=$(id -un)
  as_owner() { "$@"; }
fi

if [[ ${1:-} == stop ]]; then
  data=${ACRE_TEST_POSTGRES_DATA:?ACRE_TEST_POSTGRES_DATA is not set: nothing to stop}
  bin=$(bindir)
  as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  parent=$(dirname "$data")
  if [[ $(basename "$parent") == acre-postgres.* ]]; then # never remove anything else
    rm -rf "$parent"
  fi
  exit 0
fi

if [[ -n ${ACRE_TEST_POSTGRES:-} ]]; then
  log "ACRE_TEST_POSTGRES is already set; using that server"
  printf 'export ACRE_TEST_POSTGRES=%q\n' "$ACRE_TEST_POSTGRES"
  exit 0
fi

bin=$(bindir)
if [[ -z $bin ]]; then
  if [[ $EUID -ne 0 ]]; then
    log "PostgreSQL is not installed, and installing it needs root"
    exit 1
  fi
  log "installing PostgreSQL from the Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends postgresql >&2
  bin=$(bindir)
  if [[ -z $bin ]]; then
    log "postgresql is installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    exit 1
  fi
fi

if [[ $EUID -eq 0 ]] && ! id -u "$pg_user" >/dev/null 2>&1; then
  # The package creates this user; create it if PostgreSQL came from elsewhere.
  useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$pg_user"
fi

# port_free reports whether nothing accepts connections on 127.0.0.1:$1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port=${ACRE_POSTGRES_PORT:-}
if [[ -z $port ]]; then
  for p in $(seq 55432 55531); do
    if port_free "$p"; then
      port=$p
      break
    fi
  done
  if [[ -z $port ]]; then
    log "no free port in 55432-55531"
    exit 1
  fi
fi

dir=$(mktemp -d "${ACRE_POSTGRES_DIR:-/tmp}/acre-postgres.XXXXXX")
chmod 700 "$dir"
mkdir "$dir/sock"
if [[ $EUID -eq 0 ]]; then
  chown -R "$pg_user:" "$dir"
fi
data=$dir/data

# On failure, leave nothing behind: no server running, no directory.
started=false
cleanup_on_failure() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    if [[ $started == true ]]; then
      as_owner "$bin/pg_ctl" -D "$data" -m immediate -w stop >&2 || true
    fi
    rm -rf "$dir"
  fi
}
trap cleanup_on_failure EXIT

# The password only guards the loopback port for the life of the CI job; URL-safe
# so that it can go into the DSN as is.
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')

# A non-bytewise default collation (ICU en-US), when this build has ICU, so that the
# tests would catch a sorted column that lacks COLLATE "C". The superuser is the
# cluster owner, who connects over the private Unix socket (peer authentication);
# TCP connections need a password.
initdb_common=(-D "$data" -E UTF8 --auth-local=peer --auth-host=scram-sha-256)
if ! as_owner "$bin/initdb" "${initdb_common[@]}" --locale=C.UTF-8 --locale-provider=icu --icu-locale=en-US >&2; then
  log "initdb with an ICU locale failed; falling back to the C.UTF-8 locale"
  rm -rf "$data"
  as_owner "$bin/initdb" "${initdb_common[@]}" --locale=C.UTF-8 >&2
fi

cat >>"$data/postgresql.conf" <<EOF

# acre CI: private, throwaway cluster.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

log "starting PostgreSQL ($bin) on 127.0.0.1:$port in $data"
if ! as_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >&2; then
  cat "$dir/postgres.log" >&2 || true
  exit 1
fi
started=true

as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -d postgres >&2 <<EOF
CREATE ROLE acre LOGIN PASSWORD '$password';
CREATE DATABASE acre OWNER acre;
EOF

printf 'export ACRE_TEST_POSTGRES=%q\n' "postgres://acre:$password@127.0.0.1:$port/acre?sslmode=disable"
printf 'export ACRE_TEST_POSTGRES_DATA=%q\n' "$data"
