# Shared by the benchmark scripts (sourced): a release server on a free port, job polling, and wrk posting a file.
# Needs $scratch set by the caller; sets $port, $api and $pid.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server [kennel serve options…]: .build/release/kennel serve --no-demo on a free port, data in $scratch/var.
start_server() {
  port=$(free_port)
  api="http://127.0.0.1:$port"
  .build/release/kennel serve --no-demo --port "$port" --data-dir "$scratch/var" "$@" 2>"$scratch/kennel.log" & pid=$!
  for _ in $(seq 100); do curl -sf "$api/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "kennel did not start: $(tail -5 "$scratch/kennel.log")" >&2
  return 1
}

wait_job() {
  for _ in $(seq 2400); do
    state=$(curl -sf "$api/v1/jobs/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    case $state in succeeded) return 0 ;; failed|cancelled) echo "job $1 $state" >&2; return 1 ;; esac
    sleep 0.5
  done
  return 1
}
job_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# wrk_post THREADS CONNECTIONS SECONDS FILE TYPE MODEL [NAME VALUE]: wrk posting FILE with TYPE (and header NAME:
# VALUE) to MODEL's classify route (or, when MODEL starts with /, to that path); prints
# "rps p50_ms p99_ms non2xx socket_errors".
wrk_post() {
  cat >"$scratch/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$4", "rb"):read("*a")
wrk.headers["Content-Type"] = "$5"
LUA
  if [[ $# -ge 8 ]]; then echo "wrk.headers[\"$7\"] = \"$8\"" >>"$scratch/post.lua"; fi
  local target="/v1/models/$6:classify"
  [[ $6 == /* ]] && target=$6
  wrk -t"$1" -c"$2" -d"${3}s" --latency -s "$scratch/post.lua" "$api$target" >"$scratch/wrk.txt"
  python3 - "$scratch/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(rps, ms("50%"), ms("99%"), int(bad.group(1)) if bad else 0, (errors.group(1) if errors else "none").replace(" ", "_"))
PY
}
