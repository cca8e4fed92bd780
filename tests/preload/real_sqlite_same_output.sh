#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# real_sqlite_same_output — `sqlite3 :memory:` fed a generated SQL script (200k rows
# from a recursive CTE, indexes, group by, joins, window functions, updates, deletes,
# vacuum) prints the same aggregates, stderr and exit status with and without the
# allocator.
#
# preload-test: glibc-variant (plain vs plain proves the workload is deterministic)
set -u
source "$(dirname "$0")/support/script_lib.sh" "$@"
need sqlite3

sql=$PT_WORK/workload.sql
cat >"$sql" <<'SQL'
.bail on
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, data BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t
SELECT x, x % 97, 'name-' || (x * 7919 % 100003) || '-' || hex(x), (x * 31 % 1000) / 7.0,
       zeroblob(x % 300)
FROM c;
CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 96)
INSERT INTO g SELECT x, 'group ' || printf('%03d', x) FROM c;
SELECT count(*), sum(id), total(val), sum(length(name)), sum(length(data)) FROM t;
SELECT grp, count(*), printf('%.3f', sum(val)), min(name), max(length(data))
FROM t GROUP BY grp ORDER BY grp;
SELECT g.label, count(*), printf('%.3f', total(t.val))
FROM t JOIN g ON t.grp = g.grp WHERE t.id % 3 = 0
GROUP BY g.label ORDER BY 2 DESC, 1 LIMIT 20;
SELECT count(*) FROM t a JOIN t b ON b.id = a.id + 1 WHERE b.grp = a.grp + 1;
SELECT id, printf('%.3f', sum(val) OVER (PARTITION BY grp ORDER BY id ROWS 5 PRECEDING))
FROM t WHERE grp = 13 ORDER BY id LIMIT 30;
UPDATE t SET name = upper(name) || '/' || name WHERE id % 5 = 0;
DELETE FROM t WHERE id % 7 = 0;
SELECT count(*), sum(length(name)), max(name) FROM t;
SELECT grp, length(group_concat(name, ',')) FROM t WHERE grp < 10 GROUP BY grp ORDER BY grp;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
VACUUM;
SELECT count(*), sum(id) FROM t WHERE name LIKE 'NAME-1%';
SQL

run() { # run plain|preloaded TAG
    local rc=0
    "$1" sqlite3 :memory: <"$sql" >"$PT_WORK/$2.out" 2>"$PT_WORK/$2.err" || rc=$?
    echo "$rc" >"$PT_WORK/$2.rc"
}
run plain plain
run preloaded preloaded

[ "$(cat "$PT_WORK/plain.rc")" = 0 ] || fail "sqlite3 fails even without the allocator"
lines=$(wc -l <"$PT_WORK/plain.out")
[ "$lines" -gt 150 ] || fail "plain run printed only $lines lines"
same_file "exit status" "$PT_WORK/plain.rc" "$PT_WORK/preloaded.rc"
same_file "stdout" "$PT_WORK/plain.out" "$PT_WORK/preloaded.out"
same_file "stderr" "$PT_WORK/plain.err" "$PT_WORK/preloaded.err"
finish
