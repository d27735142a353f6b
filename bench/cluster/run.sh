#!/usr/bin/env bash
# Several processes on one PostgreSQL database (a throwaway server, tools/postgres/throwaway.sh):
#  - queue claims: `kennel bench queue`, 2000 empty jobs claimed and finished by 1 and by 4 workers (none twice,
#    none lost);
#  - classification of a 28×28 PNG by fashion-convnet (trained by a worker, promoted through a replica) with wrk at
#    16 connections for SECONDS: straight to one API replica, then through nginx in front of one and of two replicas.
# All processes share this machine's cores, so a second replica shows the cost of the extra hop and process, not
# the gain of a second machine.
# Usage: bench/cluster/run.sh [seconds]   (needs wrk, nginx and postgresql; `make bench` installs them)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${KENNEL_TEST_DATABASE_URL:-}" ]; then exec tools/postgres/throwaway.sh "$0" "$@"; fi
seconds=${1:-20}
scratch=$(mktemp -d)
chmod 755 "$scratch"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$scratch/nginx.pid" ] && kill "$(cat "$scratch/nginx.pid")" 2>/dev/null; rm -rf "$scratch"' EXIT
source bench/lib.sh

server=${KENNEL_TEST_DATABASE_URL%/postgres}
psql "$KENNEL_TEST_DATABASE_URL" -qc "CREATE DATABASE bench_queue" -c "CREATE DATABASE bench_cluster"
queue1=$(.build/release/kennel bench queue --database "$server/bench_queue" --jobs 2000 --workers 1 --json \
  --data-dir "$scratch/queue")
queue4=$(.build/release/kennel bench queue --database "$server/bench_queue" --jobs 2000 --workers 4 --json \
  --data-dir "$scratch/queue")

# kennel NAME ROLE: a release server of the deployment on a free port, its own data directory; sets port_NAME.
kennel() {
  local port; port=$(free_port)
  .build/release/kennel serve --no-demo --port "$port" --data-dir "$scratch/$1" --role "$2" \
    --database "$server/bench_cluster" --artifacts "$scratch/artifacts" 2>"$scratch/$1.log" &
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  printf -v "port_$1" %s "$port"
}
kennel worker worker
kennel api1 api
kennel api2 api
api="http://127.0.0.1:$port_api1"

python3 bench/serve/make_images.py "$scratch/fashion" 10 20 28 28
import=$(curl -sf -X POST "$api/v1/datasets" -d "{\"name\":\"fashion\",\"format\":\"imagefolder\",
  \"path\":\"$scratch/fashion\",\"width\":28,\"height\":28,\"channels\":1}" | job_id)
wait_job "$import"
train=$(curl -sf -X POST "$api/v1/jobs" -d '{"dataset":"fashion","preset":"fashion-convnet","epochs":1,"batch_size":32}' \
  | job_id)
wait_job "$train"
curl -sf -X POST "$api/v1/models" -d "{\"name\":\"fashion\",\"job_id\":$train}" >/dev/null
cp "$scratch/fashion/request.png" "$scratch/fashion.png"
for p in "$port_api1" "$port_api2"; do
  for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/readyz")" = 200 ] && break; sleep 0.1; done
done

# through_nginx PORT…: nginx on a free port in front of the given replicas; sets api to it.
through_nginx() {
  [ -f "$scratch/nginx.pid" ] && { kill "$(cat "$scratch/nginx.pid")"; sleep 0.5; }
  local listen; listen=$(free_port)
  mkdir -p "$scratch/nginx"
  {
    echo "pid $scratch/nginx.pid; error_log $scratch/nginx/error.log; worker_processes 1;"
    echo "events { worker_connections 1024; }"
    echo "http { access_log off; client_body_temp_path $scratch/nginx; proxy_temp_path $scratch/nginx;"
    echo "  upstream kennel_api { keepalive 32; $(for p in "$@"; do echo "server 127.0.0.1:$p;"; done) }"
    echo "  server { listen 127.0.0.1:$listen; client_max_body_size 32m;"
    echo "    location / { proxy_pass http://kennel_api; proxy_http_version 1.1; proxy_set_header Connection \"\";"
    echo "      proxy_buffering off; } } }"
  } >"$scratch/nginx.conf"
  nginx -c "$scratch/nginx.conf" -p "$scratch/nginx"
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$listen/healthz" >/dev/null && break; sleep 0.1; done
  api="http://127.0.0.1:$listen"
}

api="http://127.0.0.1:$port_api1"
read -r direct_rps direct_p50 direct_p99 direct_bad _ < <(wrk_post 2 16 "$seconds" "$scratch/fashion.png" image/png fashion)
through_nginx "$port_api1"
read -r one_rps one_p50 one_p99 one_bad _ < <(wrk_post 2 16 "$seconds" "$scratch/fashion.png" image/png fashion)
through_nginx "$port_api1" "$port_api2"
read -r two_rps two_p50 two_p99 two_bad _ < <(wrk_post 2 16 "$seconds" "$scratch/fashion.png" image/png fashion)

python3 - "$queue1" "$queue4" "$direct_rps $direct_p50 $direct_p99 $direct_bad" "$one_rps $one_p50 $one_p99 $one_bad" \
  "$two_rps $two_p50 $two_p99 $two_bad" <<'PY'
import json, sys
def run(fields):
    rps, p50, p99, bad = fields.split()
    return {"rps": round(float(rps)), "p50_ms": float(p50), "p99_ms": float(p99), "non_2xx": int(bad)}
queue = [json.loads(sys.argv[1]), json.loads(sys.argv[2])]
print(json.dumps({"bench": "cluster", "queue": [{k: q[k] for k in ("workers", "jobs", "claims_per_second", "claim_p50_ms",
                                                              "claim_p99_ms", "claimed_twice", "lost")} for q in queue],
                  "classify_fashion_png_wrk_c16": {"one_replica_direct": run(sys.argv[3]),
                                                   "nginx_one_replica": run(sys.argv[4]),
                                                   "nginx_two_replicas": run(sys.argv[5])}}))
PY
