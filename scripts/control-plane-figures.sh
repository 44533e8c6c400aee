#!/bin/sh
# Measures issue 11's control-plane figures and prints them as a table:
#   leader killed -> writes accepted (three managers over loopback TCP,
#     the daemon's raft timings, five kills);
#   whole three-manager cluster restarted with 3,000 services / 20,000
#     tasks -> first write accepted, first current read;
#   raft.db size after 50,000 updates of one service (compacted);
#   damaged raft data: the 8 cases on the real daemon binary, each of
#     which must end in a named refusal to start (exit 1), none in a crash.
# A few minutes on two cores. Run from anywhere: `make bench-control`.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "measuring: leader kills, whole-cluster restart (3 managers, 3,000 services, 20,000 tasks) ..." >&2
$GO test -count=1 -run '^$' -bench 'LeaderKilledWritesAccepted|WholeClusterRestart3000Services' -timeout 30m ./manager/ >"$out/manager.txt" 2>&1 || { cat "$out/manager.txt"; exit 1; }
echo "measuring: raft.db after 50,000 updates of one service ..." >&2
$GO test -count=1 -run '^$' -bench 'RaftDBSize' -timeout 30m ./manager/raftnode/ >"$out/raftdb.txt" 2>&1 || { cat "$out/raftdb.txt"; exit 1; }
echo "checking: 8 damaged-data cases on the daemon binary ..." >&2
$GO test -count=1 -v -run '^TestDamagedRaftDataRefusesToStart$' -timeout 10m ./node/ >"$out/damage.txt" 2>&1 || true

metric() { # file benchmark unit -> value
	grep "^$2" "$1" | tr '\t' '\n' | grep " $3\$" | awk '{print $1}' | head -1
}
kill_mean=$(metric "$out/manager.txt" BenchmarkLeaderKilled mean-ms)
kill_max=$(metric "$out/manager.txt" BenchmarkLeaderKilled max-ms)
first_write=$(metric "$out/manager.txt" BenchmarkWholeClusterRestart first-write-ms)
first_read=$(metric "$out/manager.txt" BenchmarkWholeClusterRestart first-read-ms)
db=$(metric "$out/raftdb.txt" BenchmarkRaftDBSize raft.db-MB)
cases=$(grep -c -- '--- \(PASS\|FAIL\): TestDamagedRaftDataRefusesToStart/' "$out/damage.txt" || true)
refused=$(grep -c -- '--- PASS: TestDamagedRaftDataRefusesToStart/' "$out/damage.txt" || true)

printf '%-72s %-10s %s\n' "what" "must" "measured"
printf '%-72s %-10s %s\n' "leader killed -> writes accepted (5 kills)" "< 2 s" "mean ${kill_mean} ms, max ${kill_max} ms"
printf '%-72s %-10s %s\n' "3 managers restarted, 3,000 services / 20,000 tasks -> first write" "< 5 s" "${first_write} ms"
printf '%-72s %-10s %s\n' "3 managers restarted, 3,000 services / 20,000 tasks -> first current read" "< 5 s" "${first_read} ms"
printf '%-72s %-10s %s\n' "raft.db after 50,000 updates of one service" "< 20 MB" "${db} MB"
printf '%-72s %-10s %s\n' "damaged-data cases (and the undamaged copy) that end as they must" "all" "${refused} of ${cases}"
echo
grep -h 'figures_bench_test.go\|compaction_bench_test.go' "$out/manager.txt" "$out/raftdb.txt" | sed 's/^ *//'
grep -h 'raft log at ' "$out/damage.txt" | sed 's/^ *damaged_test.go:[0-9]*: //'
