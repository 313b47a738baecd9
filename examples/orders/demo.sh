#!/usr/bin/env bash
# The main job: the order flow on the embedded engine, with its queue worker alongside.
set -u
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
state=$(mktemp -d)
port=${STATEWAY_DEMO_PORT:-$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
"$python" "$here/worker.py" --endpoint "127.0.0.1:$port" --max-seconds 120 &
worker=$!
"$python" -m stateway.cli run "$here/order.yaml" --functions "$here/functions" --flows "$here/flows" \
  --input "@$here/input.json" --db "$state/demo.db" --port "$port"
status=$?
kill "$worker" 2>/dev/null
wait "$worker" 2>/dev/null
rm -rf "$state"
exit $status
