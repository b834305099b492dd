#!/usr/bin/env bash
# Load test of the gateway: best-available holds through the gateway to a
# 3-node seatd cluster, against /healthz (a Hertz endpoint that does
# nothing) on the same gateway, in the same run, with wrk. Everything runs
# on this machine, on loopback.
#
#   bench/gateway/run.sh              DURATION=10s CONNS=256 THREADS=2
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-256}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/seatd" ./cmd/seatd
go build -o "$work/gateway" ./cmd/gateway
peers="n1=127.0.0.1:17001,n2=127.0.0.1:17002,n3=127.0.0.1:17003"
for i in 1 2 3; do
	"$work/seatd" run -id "n$i" -data-dir "$work/n$i" -raft-addr "127.0.0.1:1700$i" -rpc-addr "127.0.0.1:1710$i" \
		-admin-addr "127.0.0.1:1720$i" -groups 4 -bootstrap -peers "$peers" -log-level error &
	pids+=($!)
done
admin=bench-admin-token-0123456789
GATEWAY_JWT_SECRET=bench-secret-bench-secret-bench-secret GATEWAY_ADMIN_TOKEN=$admin \
	"$work/gateway" -addr 127.0.0.1:18080 -seatd 127.0.0.1:17101,127.0.0.1:17102,127.0.0.1:17103 \
	-dev-tokens -user-rate 1000000 -user-burst 1000000 -log-level error &
pids+=($!)
url=http://127.0.0.1:18080
for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.2; done

# 600,000 seats: enough that a 10 s run does not sell out.
curl -sf -X POST "$url/v1/programs" -H "Authorization: Bearer $admin" -H "Content-Type: application/json" -d '{"id":"bench","categories":[{"id":"a","name":"A","price_cents":100}],
  "max_seats_per_user":65536,"grid":{"sections":60,"rows":100,"cols":100,"categories":[{"id":"a","rows":[1,100]}]}}' >/dev/null
curl -sf -X POST "$url/v1/programs/bench/open" -H "Authorization: Bearer $admin" >/dev/null
for u in $(seq 1 2000); do
	curl -sf -X POST "$url/v1/dev/tokens" -H "Content-Type: application/json" -d "{\"user_id\":\"$u\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/'
	echo
done >"$work/tokens.txt"

# One hold by hand first: the run measures nothing if holds are refused.
code=$(curl -s -o "$work/sample.json" -w '%{http_code}' -X POST "$url/v1/programs/bench/holds" \
	-H "Authorization: Bearer $(head -1 "$work/tokens.txt")" -H "Content-Type: application/json" -d '{"count":1}')
if [ "$code" != 201 ]; then echo "a sample hold answered $code: $(cat "$work/sample.json")" >&2; exit 1; fi

echo "== empty endpoint (GET /healthz), $CONNS connections, $DURATION"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url/healthz" | tee "$work/empty.txt"
echo "== holds (POST /v1/programs/bench/holds), $CONNS connections, $DURATION"
TOKENS="$work/tokens.txt" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/gateway/hold.lua "$url" | tee "$work/hold.txt"

rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
empty=$(rate "$work/empty.txt")
holds=$(rate "$work/hold.txt")
echo
echo "empty endpoint: $empty req/s; holds: $holds req/s; ratio $(awk -v a="$holds" -v b="$empty" 'BEGIN {printf "%.2f", a/b}')"
grep -h "Non-2xx" "$work/hold.txt" || echo "every hold answered 2xx"
curl -s "$url/v1/programs/bench/availability"; echo
