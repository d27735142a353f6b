#!/usr/bin/env bash
# Contract-test a running Kennel server against its own OpenAPI document with
# schemathesis (https://schemathesis.readthedocs.io, from PyPI).
#
# Usage (from anywhere; paths are relative to the repository root):
#
#   tools/schemathesis/run.sh [path-to-kennel-binary] [-- extra `st run` options]
#
#   path-to-kennel-binary  default .build/debug/kennel (build it first; this
#                          script never builds). Copy the binary elsewhere first
#                          if something may rebuild it while the run goes on.
#   extra options          passed to `st run` after the defaults, e.g.
#                          `-- --seed 1 --include-path-regex '^/v1/models'`.
#
# What it does:
#   1. Uses the venv .build/schemathesis-venv (creates it and installs
#      schemathesis from PyPI when missing; override with ST=/path/to/st).
#   2. Makes a temporary data dir and writes a tiny image-folder dataset
#      (classes n0-dark and n1-bright, 10 8x8 PNGs each; python3 stdlib only,
#      see make_dataset.py).
#   3. Starts `kennel serve --no-demo` on a free port with that data dir, this
#      repo's public/ and migrations/, --datasets-root set to the temp dir (so
#      fuzzed imports cannot walk the real file system) and lowered layer /
#      parameter limits (so fuzzed training jobs stay cheap on a small machine).
#   4. With curl: imports the dataset as `tones`, trains a conv+flatten+dense(2) job (so filters.png has a layer to draw)
#      for one epoch and promotes it as model `tones`, so the dataset, job and
#      model routes have something real to find.
#   5. Runs `st run --checks all --continue-on-failure` (all phases: examples,
#      coverage, fuzzing, stateful) on the document the server serves at
#      GET /openapi.json, with at most ST_MAX_EXAMPLES (default 50) test cases
#      per operation. The document is saved to a file first and given with
#      --url, because schemathesis skips the operation that served the schema
#      it loaded (GET /openapi.json would otherwise go untested).
#      Hypothesis deadlines are off by default in schemathesis 4 (no flag).
#   6. Stops the server with SIGTERM and deletes the temp dir.
#
# Output goes to $KENNEL_ST_OUT (default .build/schemathesis-report, git-ignored):
#   schemathesis.log  the console output of `st run` (failures with curl repros)
#   junit.xml         JUnit report;  events.ndjson  every event, machine-readable
#   server.log        the server's log
#
# schemathesis.toml beside this script lets a schema-valid request get 415 or 422 (checks the schema cannot state).
# Environment knobs: KENNEL_ST_OUT, ST, ST_MAX_EXAMPLES (50), ST_WORKERS (1),
# ST_REQUEST_TIMEOUT (seconds, 15), KEEP_TMP=1 (keep the temp dir).
# The exit status is schemathesis's (0 = no failures), or 2 if setup failed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/tools/schemathesis"

kennel="${1:-.build/debug/kennel}"
[[ $# -gt 0 ]] && shift
[[ "${1:-}" == "--" ]] && shift
extra_args=("$@")
case "$kennel" in /*) ;; *) kennel="$repo/$kennel" ;; esac
if [[ ! -x "$kennel" ]]; then
    echo "run.sh: no kennel binary at $kennel (build it first)" >&2
    exit 2
fi

out="${KENNEL_ST_OUT:-$repo/.build/schemathesis-report}"
case "$out" in /*) ;; *) out="$repo/$out" ;; esac
mkdir -p "$out"

venv="$repo/.build/schemathesis-venv"
st="${ST:-$venv/bin/st}"
if [[ ! -x "$st" ]]; then
    echo "run.sh: installing schemathesis into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet schemathesis
    st="$venv/bin/st"
fi

tmp="$(mktemp -d /tmp/kennel-st.XXXXXX)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    [[ -f "$tmp/server.log" ]] && cp "$tmp/server.log" "$out/server.log"
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "run.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "run.sh: $*" >&2; exit 2; }

# --- dataset ---------------------------------------------------------------
mkdir -p "$tmp/data" "$tmp/root" "$tmp/work"
python3 "$here/make_dataset.py" "$tmp/root/tones" 10

# --- server ----------------------------------------------------------------
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$kennel" serve --no-demo --host 127.0.0.1 --port "$port" \
    --data-dir "$tmp/data" --public "$repo/public" --migrations "$repo/migrations" \
    --datasets-root "$tmp/root" \
    --max-layer-size 256 --max-parameters 1000000 --max-activation-values 1000000 \
    >"$tmp/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; die "server exited"; }
    sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null || die "server did not come up on $base"
echo "run.sh: kennel up at $base (pid $server_pid, data $tmp/data)" >&2

# POST JSON, print the response body; fail on a non-2xx answer.
post() {
    curl -sS --fail-with-body -X POST "$base$1" -H 'Content-Type: application/json' -d "$2" \
        || die "POST $1 failed"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Wait for job $1 to reach a final state; fail unless it succeeded.
wait_job() {
    local state=""
    for _ in $(seq 1 600); do
        state="$(curl -fsS "$base/v1/jobs/$1" | json_field state)"
        case "$state" in
            succeeded) return 0 ;;
            failed|cancelled) curl -sS "$base/v1/jobs/$1" >&2; die "job $1 $state" ;;
        esac
        sleep 0.5
    done
    die "job $1 still $state after 300 s"
}

import_job="$(post /v1/datasets \
    "{\"name\":\"tones\",\"format\":\"imagefolder\",\"path\":\"$tmp/root/tones\",\"width\":8,\"height\":8}" \
    | json_field id)"
wait_job "$import_job"
train_job="$(post /v1/jobs \
    '{"dataset":"tones","layers":[{"type":"conv2d","filters":2,"kernel":3,"padding":"same"},{"type":"flatten"},{"type":"dense","units":2}],"epochs":1,"batch_size":4}' \
    | json_field id)"
wait_job "$train_job"
post /v1/models "{\"name\":\"tones\",\"job_id\":$train_job}" >/dev/null
echo "run.sh: dataset tones (job $import_job), training job $train_job, model tones promoted" >&2

# --- schemathesis ------------------------------------------------------------
"$st" --version >&2
# schemathesis leaves out the operation that served the document it loaded
# (GET /openapi.json when given $base/openapi.json), so test the served
# document from a local copy to keep that operation in the run.
curl -fsS "$base/openapi.json" -o "$tmp/openapi.json" || die "GET /openapi.json failed"
set +e
(
    # Run from the temp dir so schemathesis/hypothesis leave no files in the repo.
    cd "$tmp/work"
    "$st" --config-file "$here/schemathesis.toml" run "$tmp/openapi.json" \
        --url "$base" \
        --checks all \
        --continue-on-failure \
        --max-examples "${ST_MAX_EXAMPLES:-50}" \
        --workers "${ST_WORKERS:-1}" \
        --request-timeout "${ST_REQUEST_TIMEOUT:-15}" \
        --generation-database none \
        --no-color \
        --report junit,ndjson \
        --report-junit-path "$out/junit.xml" \
        --report-ndjson-path "$out/events.ndjson" \
        ${extra_args[@]+"${extra_args[@]}"}
) 2>&1 | tee "$out/schemathesis.log"
st_status=${PIPESTATUS[0]}
set -e
echo "run.sh: schemathesis exited $st_status; output in $out" >&2
exit "$st_status"
