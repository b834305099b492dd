#!/usr/bin/env bash
# Memory of the gateway under anonymous seat-map requests of a
# 1,000,000-seat program: one seatd node and the gateway on loopback, a
# program of 10 sections x 100 rows x 1,000 seats, 2 categories and 4
# stops (6 leg ranges), then many different seat-map requests, none with
# a token. After each phase it prints the gateway's resident set (now
# and peak, from /proc), its Go heap in use and, where the gateway has
# it, the bytes its cache holds (both from /metrics).
#
#   bench/gateway/seatmap_memory.sh           this tree
#   SRC=/path/to/other/tree bench/gateway/seatmap_memory.sh   another tree, for a before/after comparison
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${SRC:-$PWD}
PARALLEL=${PARALLEL:-4}

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$SRC" && go build -o "$work/seatd" ./cmd/seatd && go build -o "$work/gateway" ./cmd/gateway)
"$work/seatd" run -id n1 -data-dir "$work/n1" -raft-addr 127.0.0.1:27001 -rpc-addr 127.0.0.1:27101 \
	-admin-addr 127.0.0.1:27201 -groups 2 -bootstrap -peers n1=127.0.0.1:27001 -log-level error &
pids+=($!)
admin=bench-admin-token-0123456789
GATEWAY_JWT_SECRET=bench-secret-bench-secret-bench-secret GATEWAY_ADMIN_TOKEN=$admin \
	"$work/gateway" -addr 127.0.0.1:28080 -seatd 127.0.0.1:27101 -log-level error &
gw=$!
pids+=($gw)
url=http://127.0.0.1:28080
for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.2; done

curl -sf -X POST "$url/v1/programs" -H "Authorization: Bearer $admin" -H "Content-Type: application/json" -d '{"id":"big","stops":["s0","s1","s2","s3"],
  "categories":[{"id":"a","name":"A","price_cents":100},{"id":"b","name":"B","price_cents":50}],
  "grid":{"sections":10,"rows":100,"cols":1000,"categories":[{"id":"a","rows":[1,50]},{"id":"b","rows":[51,100]}]}}' >/dev/null
curl -sf -X POST "$url/v1/programs/big/open" -H "Authorization: Bearer $admin" >/dev/null

report() {
	local rss hwm heap cache
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$gw/status")
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$gw/status")
	heap=$(curl -s "$url/metrics" | awk '/^go_memstats_heap_inuse_bytes / {printf "%.0f", $2}')
	cache=$(curl -s "$url/metrics" | awk '/^gateway_cache_bytes / {printf "%.0f", $2}')
	if [ -n "$cache" ]; then cache="$((cache / 1048576)) MiB"; else cache="n/a"; fi
	printf '%-52s RSS %5d MiB  peak %5d MiB  heap in use %5d MiB  cache %s\n' "$1" $((rss / 1024)) $((hwm / 1024)) \
		$((heap / 1048576)) "$cache"
}

ranges="from=0&to=1 from=0&to=2 from=0&to=3 from=1&to=2 from=1&to=3 from=2&to=3"
urls() { # every leg range x every category filter, with the extra query given
	for r in $ranges; do for c in "" "&category=a" "&category=b"; do echo "$url/v1/programs/big/seats?$r$c$1"; done; done
}
fetch() { xargs -P "$PARALLEL" -n 1 curl -s -o /dev/null -w '%{http_code} %{size_download}\n'; }
summary() { sort | awk '{n[$1]++; b[$1] += $2} END {for (c in n) printf "  %d answers %s, %.1f MiB in all\n", n[c], c, b[c] / 1048576}'; }

report "program created"
echo "== 18 full-format maps: 6 leg ranges x (all, category a, category b), $PARALLEL at a time"
urls "" | fetch | summary
report "after the full-format maps"
echo "== 198 compact maps: 6 leg ranges x 3 category filters x (whole program, each of 10 sections)"
{ urls "&format=compact"; for s in A B C D E F G H I J; do urls "&format=compact&section=$s"; done; } | fetch | summary
report "after the compact maps"
echo "== 180 full-format sections: 6 leg ranges x 3 category filters x 10 sections"
for s in A B C D E F G H I J; do urls "&section=$s"; done | fetch | summary
report "after the full-format sections"
echo "== 4 reads of the program itself (GET /v1/programs/big: its whole layout as JSON), $PARALLEL at a time"
for _ in 1 2 3 4; do echo "$url/v1/programs/big"; done | fetch | summary
report "after the program reads"
