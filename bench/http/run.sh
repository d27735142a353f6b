#!/usr/bin/env bash
# HTTP benchmark: wrk against GET /healthz on the raw libmicrohttpd floor (raw_mhd.c) and on Kennel's release
# build, one after the other on this machine, and the ratio between them.
# Usage: bench/http/run.sh [seconds]   (needs wrk; `make bench` installs it)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
scratch=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$scratch"' EXIT

cc -O2 -o "$scratch/raw_mhd" bench/http/raw_mhd.c $(pkg-config --cflags --libs libmicrohttpd)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -sf "localhost:$1/healthz" >/dev/null && return 0; sleep 0.1; done; return 1; }
requests_per_second() { wrk -t2 -c32 -d"${seconds}s" "http://127.0.0.1:$1/healthz" | awk '/Requests\/sec/ {print $2}'; }

raw_port=$(free_port)
"$scratch/raw_mhd" "$raw_port" & raw_pid=$!
wait_up "$raw_port"
raw=$(requests_per_second "$raw_port")
kill "$raw_pid"; wait "$raw_pid" 2>/dev/null || true

kennel_port=$(free_port)
KENNEL_LOG_LEVEL=${KENNEL_LOG_LEVEL:-info} .build/release/kennel serve --no-demo --port "$kennel_port" \
    --data-dir "$scratch/var" 2>"$scratch/kennel.log" & kennel_pid=$!
wait_up "$kennel_port"
kennel=$(requests_per_second "$kennel_port")
rss=$(awk '/VmHWM/ {print $2/1024}' "/proc/$kennel_pid/status")
kill -TERM "$kennel_pid"; wait "$kennel_pid" 2>/dev/null || true

python3 - "$raw" "$kennel" "$rss" <<'PY'
import json, sys
raw, kennel, rss = (float(x) for x in sys.argv[1:])
print(json.dumps({"bench": "http_healthz", "wrk": "-t2 -c32", "raw_libmicrohttpd_rps": round(raw),
                  "kennel_rps": round(kennel), "kennel_over_raw": round(kennel / raw, 3),
                  "kennel_peak_rss_mb": round(rss, 1)}))
PY
