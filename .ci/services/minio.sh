#!/usr/bin/env bash
# Starts a private, throwaway MinIO (an S3-compatible server) for the store/s3 tests
# and prints the environment that points them at it, for .ci/run to evaluate:
#
#   eval "$(.ci/services/minio.sh)"   # sets ACRE_TEST_S3 (and ACRE_MINIO_PID, _DIR)
#   .ci/services/minio.sh stop        # stops it again (optional: CI machines die anyway)
#
# Only the export lines go to stdout; everything else (the build, logs) goes to
# stderr, so that eval sees nothing else. MinIO is built from the Go module proxy
# into $ACRE_TOOLS/bin (default ~/.cache/acre-tools/bin, where the tests also look)
# unless minio is on PATH; the first build takes several minutes. The server listens
# on 127.0.0.1 only, on a free port, with its data in a new directory under /tmp, and
# keeps running after this script exits (log: $ACRE_MINIO_DIR/minio.log). If
# ACRE_TEST_S3 is already set, that server is used and nothing is started.
set -euo pipefail

log() { echo "minio.sh: $*" >&2; }

# MinIO publishes no semver tags, so the module proxy serves pseudo-versions only;
# this one (2026-02-12) builds with Go 1.26.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
tools=${ACRE_TOOLS:-$HOME/.cache/acre-tools}
# Root credentials of a server that lives for one CI job on loopback.
user=acre-test
password=acre-test-secret

if [[ ${1:-} == stop ]]; then
  pid=${ACRE_MINIO_PID:?ACRE_MINIO_PID is not set: nothing to stop}
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  dir=${ACRE_MINIO_DIR:-}
  if [[ -n $dir && $(basename "$dir") == acre-minio.* ]]; then # never remove anything else
    rm -rf "$dir"
  fi
  exit 0
fi

if [[ -n ${ACRE_TEST_S3:-} ]]; then
  log "ACRE_TEST_S3 is already set; using that server"
  printf 'export ACRE_TEST_S3=%q\n' "$ACRE_TEST_S3"
  exit 0
fi

minio=$(command -v minio || true)
if [[ -z $minio ]]; then
  minio=$tools/bin/minio
  if [[ ! -x $minio || $(cat "$tools/bin/minio.version" 2>/dev/null) != "$MINIO_VERSION" ]]; then
    log "building MinIO $MINIO_VERSION into $tools/bin (several minutes the first time)"
    mkdir -p "$tools/bin"
    # From / so that no go.mod around plays a part.
    (cd / && GOBIN=$tools/bin GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION") >&2
    echo "$MINIO_VERSION" >"$tools/bin/minio.version"
  fi
fi

# free_port prints a port that nothing on 127.0.0.1 accepts connections on. The
# server may still lose a race for it, hence the attempts below.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

for attempt in 1 2 3; do
  dir=$(mktemp -d /tmp/acre-minio.XXXXXX)
  port=$(free_port)
  console=$(free_port)
  # setsid and the redirections detach the server: it must not hold the stdout that
  # "$(...)" waits on, nor die with the caller's shell. No update checks or other
  # calls out: the server stays on loopback.
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$password \
    MINIO_UPDATE=off MINIO_BROWSER=off MINIO_CALLHOME_ENABLE=off \
    setsid "$minio" server "$dir/data" --quiet --address "127.0.0.1:$port" \
    --console-address "127.0.0.1:$console" </dev/null >"$dir/minio.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/minio/health/ready" 2>/dev/null; then
      log "MinIO ready on 127.0.0.1:$port (pid $pid, log $dir/minio.log)"
      printf 'export ACRE_TEST_S3=%q\n' "http://$user:$password@127.0.0.1:$port"
      printf 'export ACRE_MINIO_PID=%q\n' "$pid"
      printf 'export ACRE_MINIO_DIR=%q\n' "$dir"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "MinIO did not start (attempt $attempt):"
  cat "$dir/minio.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
exit 1
