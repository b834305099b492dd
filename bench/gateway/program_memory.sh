#!/usr/bin/env bash
# Memory of the gateway and of seatd under concurrent anonymous reads of
# large programs' descriptions (GET /v1/programs/{id}): one seatd node and
# the gateway on loopback, a program of 1,000,000 seats (1 section of
# 1,000 rows of 1,000) and one of 4,194,304 (4 sections of 1,024 rows of
# 1,024, the most a program may have), then PARALLEL readers at a time,
# none with a token. After each phase it prints each process's resident
# set (now and peak, from /proc) and what the answers were; last, the
# holds a buyer placed on a small program in 10 s with and without a
# reader looping on the large one (GET, and HEAD: seatd's part without the
# body), and the longest wait between them.
#
#   bench/gateway/program_memory.sh           this tree
#   SRC=/path/to/other/tree bench/gateway/program_memory.sh   another tree, for a before/after comparison
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${SRC:-$PWD}
PARALLEL=${PARALLEL:-6}

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$SRC" && go build -o "$work/seatd" ./cmd/seatd && go build -o "$work/gateway" ./cmd/gateway)
admin=bench-admin-token-0123456789
secret=bench-secret-bench-secret-bench-secret
url=http://127.0.0.1:28080
start() {
	"$work/seatd" run -id n1 -data-dir "$work/n1" -raft-addr 127.0.0.1:27001 -rpc-addr 127.0.0.1:27101 \
		-admin-addr 127.0.0.1:27201 -groups 2 -bootstrap -peers n1=127.0.0.1:27001 -log-level error &
	seatd=$!
	GATEWAY_JWT_SECRET=$secret GATEWAY_ADMIN_TOKEN=$admin \
		"$work/gateway" -addr 127.0.0.1:28080 -seatd 127.0.0.1:27101 -dev-tokens -user-rate 100000 -user-burst 100000 -log-level error &
	gw=$!
	pids+=($seatd $gw)
	for _ in $(seq 300); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.2; done
}
start

mib() { awk -v k="$2" '$1 == k":" {printf "%5d", $2 / 1024}' "/proc/$1/status"; }
report() {
	printf '%-44s gateway RSS %s MiB (peak %s)   seatd RSS %s MiB (peak %s)\n' "$1" \
		"$(mib $gw VmRSS)" "$(mib $gw VmHWM)" "$(mib $seatd VmRSS)" "$(mib $seatd VmHWM)"
}
fetch() { xargs -P "$PARALLEL" -n 1 curl -s -m 60 -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n'; }
summary() {
	sort | awk '{n[$1]++; b[$1] += $2; if ($3 > t[$1]) t[$1] = $3}
		END {for (c in n) printf "  %d answers %s, %.1f MiB in all, slowest %.2f s\n", n[c], c, b[c] / 1048576, t[c]}'
}
create() { # id sections rows cols
	curl -s -m 60 -o /dev/null -w "  create $1: %{http_code} in %{time_total} s, %{size_download} bytes\n" -X POST "$url/v1/programs" \
		-H "Authorization: Bearer $admin" -H "Content-Type: application/json" -d "{\"id\":\"$1\",
  \"categories\":[{\"id\":\"a\",\"name\":\"A\",\"price_cents\":100}],
  \"grid\":{\"sections\":$2,\"rows\":$3,\"cols\":$4,\"categories\":[{\"id\":\"a\",\"rows\":[1,$3]}]}}"
	# A create that answered 503 may still have created the program.
	for _ in $(seq 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/v1/programs/$1/open" -H "Authorization: Bearer $admin")" = 200 ] && break; sleep 0.2; done
}

report "started"
echo "== creating m1 (1,000,000 seats) and m4 (4,194,304 seats)"
create m1 1 1000 1000
create m4 4 1024 1024
report "programs created"
# Creating a program of millions of seats leaves garbage that Go gives
# back to the system only slowly; restart both, as a gateway that did not
# create the programs and a node that replays them, so that what follows
# is the reads' own cost.
kill $seatd $gw
wait $seatd $gw 2>/dev/null || true
start
for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/programs/m1/availability")" = 200 ] && break; sleep 0.2; done
report "restarted"
echo "== $((2 * PARALLEL)) reads of GET /v1/programs/m1, $PARALLEL at a time"
for _ in $(seq $((2 * PARALLEL))); do echo "$url/v1/programs/m1"; done | fetch | summary
report "after the reads of m1"
echo "== $((2 * PARALLEL)) reads of GET /v1/programs/m4, $PARALLEL at a time"
for _ in $(seq $((2 * PARALLEL))); do echo "$url/v1/programs/m4"; done | fetch | summary
report "after the reads of m4"
echo "== m4's seat map (compact) and availability"
printf '%s\n' "$url/v1/programs/m4/seats?format=compact" "$url/v1/programs/m4/availability" | fetch | summary

# Holds on a small program, led by the same node, for 10 s: alone, then
# with one anonymous reader looping on m4's description.
curl -s -o /dev/null -X POST "$url/v1/programs" -H "Authorization: Bearer $admin" -H "Content-Type: application/json" -d '{"id":"small",
  "max_seats_per_user":65536,"categories":[{"id":"a","name":"A","price_cents":100}],"grid":{"sections":1,"rows":100,"cols":100,"categories":[{"id":"a","rows":[1,100]}]}}'
curl -s -o /dev/null -X POST "$url/v1/programs/small/open" -H "Authorization: Bearer $admin"
token=$(curl -s -X POST "$url/v1/dev/tokens" -H "Content-Type: application/json" -d '{"sub":"bench"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
holds() {
	local end=$((SECONDS + 10)) n=0 last gap=0 now
	last=$(date +%s%N)
	while [ $SECONDS -lt $end ]; do
		code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "$url/v1/programs/small/holds" -H "Authorization: Bearer $token" \
			-H "Content-Type: application/json" -d '{"count":1}')
		now=$(date +%s%N)
		[ "$code" = 201 ] && n=$((n + 1))
		[ $((now - last)) -gt $gap ] && gap=$((now - last))
		last=$now
	done
	printf '  %s: %d holds in 10 s, longest wait %d ms\n' "$1" "$n" $((gap / 1000000))
}
echo "== holds on a small program by one buyer, 10 s each"
holds "alone"
(while :; do curl -s -m 60 -o /dev/null "$url/v1/programs/m4"; done) &
reader=$!
pids+=($reader)
holds "with a reader looping on m4"
kill $reader
(while :; do curl -s -m 60 -o /dev/null -I "$url/v1/programs/m4"; done) &
reader=$!
pids+=($reader)
holds "with a reader looping on HEAD m4"
kill $reader
report "at the end"
