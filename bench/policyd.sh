#!/usr/bin/env bash
# bench/policyd.sh: mailnest-policyd's benchmark (issue 7, "Benchmark").
#
# Starts what it needs and stops it again: a throw-away MariaDB that flushes
# every commit to disk, like an installed one (tests/lib/tempdb.bash with
# TEMPDB_DURABLE=1), accountd's schema (`accountd migrate`), USERS mailboxes
# 30 days old, and mailnest-policyd as `nobody` on a socket in a temporary
# directory. bench/policy_load.c then keeps CONNECTIONS connections (as
# Postfix's smtpd processes do) sending, per message, one RCPT request and
# its END-OF-MESSAGE (whose answer waits until policyd has saved the count
# in MariaDB, group-committed with the other sessions' counts) for SECONDS,
# and prints decisions/s and latency percentiles beside the issue's target
# (10,000 decisions/s, p99 < 5 ms), then checks that MariaDB holds exactly
# the messages permitted. The limits are
# lifted (0 = none) so that every decision does the full work of a permit
# rather than the cheaper refusal.
#
# Usage: bench/policyd.sh   (as root: policyd is started as nobody)
# Environment: BENCH_CONNECTIONS=16 BENCH_SECONDS=10 BENCH_USERS=200
#   POLICYD_BIN (default: build/policyd-bench, a release build made here)
#   ACCOUNTD_BIN (default: build/plain/accountd, built if absent)
# Cleanup calls functions in || conditions on purpose.
# shellcheck disable=SC2310
set -Eeuo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly repo
# shellcheck source=tests/lib/tempdb.bash
source "${repo}/tests/lib/tempdb.bash"

readonly connections=${BENCH_CONNECTIONS:-16} seconds=${BENCH_SECONDS:-10} users=${BENCH_USERS:-200}
work=$(mktemp -d /tmp/policyd-bench.XXXXXX)
readonly work
policyd_pid=""

say() { printf '%s\n' "$*" >&2; }

cleanup() {
	if [[ -n ${policyd_pid} ]]; then
		kill -TERM "${policyd_pid}" 2>/dev/null || true
		wait "${policyd_pid}" 2>/dev/null || true
	fi
	tempdb_stop "${work}/db" || true
	rm -rf -- "${work}"
}

build() {
	POLICYD_BIN=${POLICYD_BIN:-}
	if [[ -z ${POLICYD_BIN} ]]; then
		[[ -d ${repo}/build/policyd-bench ]] ||
			meson setup "${repo}/build/policyd-bench" "${repo}/policyd" --buildtype=release -Dtests=false >/dev/null
		ninja -C "${repo}/build/policyd-bench" >/dev/null
		POLICYD_BIN=${repo}/build/policyd-bench/mailnest-policyd
	fi
	ACCOUNTD_BIN=${ACCOUNTD_BIN:-${repo}/build/plain/accountd}
	if [[ ! -x ${ACCOUNTD_BIN} ]]; then
		[[ -d ${repo}/build/plain ]] || meson setup "${repo}/build/plain" "${repo}/accountd" >/dev/null
		ninja -C "${repo}/build/plain" >/dev/null
	fi
	cc -O2 -Wall -Wextra -Werror -std=c17 -D_GNU_SOURCE -pthread -o "${work}/policy_load" \
		"${repo}/bench/policy_load.c"
}

database() {
	local password
	password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	mkdir -p "${work}/db"
	chmod 0711 "${work}" "${work}/db"
	TEMPDB_DURABLE=1 tempdb_start "${work}/db" 3>&-
	tempdb_create_app "${work}/db" mailnest accountd "${password}"
	ACCOUNTD_DB_SOCKET=$(tempdb_socket "${work}/db") ACCOUNTD_DB_PASSWORD=${password} \
		ACCOUNTD_MIGRATIONS_DIR="${repo}/accountd/migrations" "${ACCOUNTD_BIN}" migrate >/dev/null
	tempdb_sql "${work}/db" "CREATE USER 'policyd'@'localhost' IDENTIFIED BY '${password}';
		$(cat "${repo}/policyd/sql/grants.sql")"
	tempdb_sql "${work}/db" "USE mailnest;
		INSERT INTO domains (name) VALUES ('bench.test');
		INSERT INTO mailboxes (domain_id, local_part, email, password_hash, created_at)
		SELECT d.id, CONCAT('u', seq), CONCAT('u', seq, '@bench.test'), '{ARGON2ID}x',
			UTC_TIMESTAMP(3) - INTERVAL 30 DAY
		FROM domains d, seq_0_to_$((users - 1)) WHERE d.name = 'bench.test';"
	DB_PASSWORD=${password}
}

start_policyd() {
	mkdir -p "${work}/run"
	chmod 0777 "${work}/run"
	local socket=${work}/run/policy.sock
	setpriv --reuid=nobody --regid=nogroup --clear-groups env POLICYD_SOCKET="${socket}" \
		POLICYD_METRICS_SOCKET="${work}/run/metrics.sock" \
		POLICYD_DB_SOCKET="$(tempdb_socket "${work}/db")" POLICYD_DB_PASSWORD="${DB_PASSWORD}" \
		POLICYD_MESSAGES_PER_HOUR=0 POLICYD_MESSAGES_PER_DAY=0 POLICYD_RECIPIENTS_PER_DAY=0 \
		POLICYD_DOMAIN_MESSAGES_PER_HOUR=0 POLICYD_DOMAIN_MESSAGES_PER_DAY=0 \
		POLICYD_DOMAIN_RECIPIENTS_PER_DAY=0 POLICYD_MAX_CONNECTIONS=256 \
		"${POLICYD_BIN}" serve >"${work}/policyd.log" 2>&1 3>&- &
	policyd_pid=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -S ${socket} ]] && return 0
		kill -0 "${policyd_pid}" 2>/dev/null || break
		sleep 0.1
	done
	cat -- "${work}/policyd.log" >&2
	return 1
}

main() {
	((EUID == 0)) || { say "bench/policyd.sh: run as root (policyd runs as nobody)"; exit 1; }
	trap cleanup EXIT
	say "building policyd (release), accountd, the load client"
	build
	say "MariaDB (durable commits), schema, ${users} mailboxes"
	database
	start_policyd
	local result load permitted counted
	result=$("${work}/policy_load" "${work}/run/policy.sock" "${connections}" "${seconds}" "${users}" bench.test)
	load=$(cut -d' ' -f1 /proc/loadavg)
	# Every permitted message must be in MariaDB once policyd has answered;
	# stopping it first proves nothing is left only in memory.
	kill -TERM "${policyd_pid}"
	wait "${policyd_pid}" || true
	policyd_pid=""
	permitted=$(grep -oE '[0-9]+ messages permitted' <<<"${result}" | cut -d' ' -f1)
	counted=$(tempdb_sql "${work}/db" "SELECT COALESCE(SUM(messages), 0) FROM mailnest.send_usage
		WHERE subject = 'bench.test' AND period = 'd'")
	printf 'mailnest-policyd benchmark (%s cores, %s, load %s)\n' "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)" "${load}"
	printf '  %s\n' "${result}"
	printf '  counted in MariaDB: %s messages (permitted: %s): %s\n' "${counted}" "${permitted}" \
		"$([[ ${counted} == "${permitted}" ]] && echo match || echo MISMATCH)"
	printf '  target: >= 10,000 decisions/s with p99 < 5 ms (each message: RCPT check + END-OF-MESSAGE count)\n'
}

main "$@"
