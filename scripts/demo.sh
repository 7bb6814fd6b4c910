#!/usr/bin/env bash
# The README's first command: build Drover, start a coordinator and a local worker
# (`drover up`), run the Kubernetes docs' pi Job with completions 4 and parallelism 2,
# watch COMPLETIONS climb to 4/4, print one pod's digits of pi, and stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bc >/dev/null 2>&1; then
  echo "The pi example needs bc; installing it (apt-get install bc)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bc; else sudo apt-get install -y bc; fi
fi

cargo build --release -p drover-cli
drover=target/release/drover
port="${DROVER_PORT:-7070}"
export DROVER_SERVER="http://127.0.0.1:$port"
data="$(mktemp -d)"

"$drover" up --port "$port" --workers 1 --slots 2 --data "$data" 2>"$data/up.log" &
up_pid=$!
trap 'kill -INT $up_pid 2>/dev/null; wait $up_pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do "$drover" get workers 2>/dev/null | grep -q Ready && break; sleep 0.1; done

"$drover" create -f examples/pi-parallel-job.yaml
"$drover" get jobs -w &
watch_pid=$!
"$drover" wait job/pi-parallel --for=condition=Complete --timeout=120s
kill $watch_pid 2>/dev/null || true
echo
"$drover" get pods -l batch.kubernetes.io/job-name=pi-parallel -o wide
pod="$("$drover" get pods -l batch.kubernetes.io/job-name=pi-parallel -o name | head -n1)"
echo
echo "First digits from ${pod#pod/}:"
"$drover" logs "${pod#pod/}" | head -c 200; echo
