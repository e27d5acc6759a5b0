#!/usr/bin/env bash
# Starts a private, throwaway Azurite (the Azure Storage emulator) blob service for
# the store/azblob tests and prints the environment that points them at it, for
# .ci/run to evaluate:
#
#   eval "$(.ci/services/azurite.sh)"  # sets ACRE_TEST_AZURITE (and ACRE_AZURITE_PID, _DIR)
#   .ci/services/azurite.sh stop       # stops it again (optional: CI machines die anyway)
#
# Only the export lines go to stdout; everything else (npm, logs) goes to stderr, so
# that eval sees nothing else. Azurite is installed from the npm registry into
# $ACRE_TOOLS/azurite (default ~/.cache/acre-tools/azurite, where the tests also look)
# unless azurite-blob is on PATH. It listens on 127.0.0.1 only, on a free port, with
# its workspace in a new directory under /tmp, and keeps running after this script
# exits (log: $ACRE_AZURITE_DIR/azurite.log). ACRE_TEST_AZURITE is a connection
# string for Azurite's well-known development account. If it is already set, that
# service is used and nothing is started.
set -euo pipefail

log() { echo "azurite.sh: $*" >&2; }

# The newest release that runs on Node 20 (3.36 and later need Node 22).
AZURITE_VERSION=3.35.0
tools=${ACRE_TOOLS:-$HOME/.cache/acre-tools}
# Azurite's documented development account; the emulator accepts nothing else.
account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

if [[ ${1:-} == stop ]]; then
  pid=${ACRE_AZURITE_PID:?ACRE_AZURITE_PID is not set: nothing to stop}
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  dir=${ACRE_AZURITE_DIR:-}
  if [[ -n $dir && $(basename "$dir") == acre-azurite.* ]]; then # never remove anything else
    rm -rf "$dir"
  fi
  exit 0
fi

if [[ -n ${ACRE_TEST_AZURITE:-} ]]; then
  log "ACRE_TEST_AZURITE is already set; using that service"
  printf 'export ACRE_TEST_AZURITE=%q\n' "$ACRE_TEST_AZURITE"
  exit 0
fi

azurite=$(command -v azurite-blob || true)
if [[ -z $azurite ]]; then
  azurite=$tools/azurite/bin/azurite-blob
  if [[ ! -x $azurite || $(cat "$tools/azurite/version" 2>/dev/null) != "$AZURITE_VERSION" ]]; then
    log "installing Azurite $AZURITE_VERSION into $tools/azurite"
    mkdir -p "$tools/azurite"
    npm install --global --prefix "$tools/azurite" --no-audit --no-fund --loglevel=error \
      "azurite@$AZURITE_VERSION" >&2
    echo "$AZURITE_VERSION" >"$tools/azurite/version"
  fi
fi

# free_port prints a port that nothing on 127.0.0.1 accepts connections on. The
# emulator may still lose a race for it, hence the attempts below.
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
  dir=$(mktemp -d /tmp/acre-azurite.XXXXXX)
  port=$(free_port)
  mkdir "$dir/data"
  # setsid and the redirections detach the emulator: it must not hold the stdout
  # that "$(...)" waits on, nor die with the caller's shell. --disableTelemetry:
  # Azurite otherwise reports usage to a Microsoft endpoint.
  setsid "$azurite" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir/data" \
    --skipApiVersionCheck --disableTelemetry --silent </dev/null >"$dir/azurite.log" 2>&1 &
  pid=$!
  endpoint=http://127.0.0.1:$port/$account
  for _ in $(seq 1 600); do
    # Any HTTP answer (403 without credentials) means the service is up.
    if curl -sS -o /dev/null "$endpoint?comp=list" 2>/dev/null; then
      log "Azurite ready on 127.0.0.1:$port (pid $pid, log $dir/azurite.log)"
      printf 'export ACRE_TEST_AZURITE=%q\n' "DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$endpoint;"
      printf 'export ACRE_AZURITE_PID=%q\n' "$pid"
      printf 'export ACRE_AZURITE_DIR=%q\n' "$dir"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "Azurite did not start (attempt $attempt):"
  cat "$dir/azurite.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
exit 1
