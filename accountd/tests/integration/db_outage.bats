#!/usr/bin/env bats
# The database goes away under a running accountd: requests that need it get
# 503 unavailable within a bounded time, /healthz stays 200, and when the
# database is back accountd recovers by itself (same process, no restart).
# Its own file: it stops the file's MariaDB.

# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup_with ACCOUNTD_DB_TIMEOUT=2; }
teardown() {
	local rc=0
	# whatever happened, the database runs again for the next test
	if [[ -f ${AD_DB_DIR}/mysqld.pid ]]; then
		kill -CONT "$(<"${AD_DB_DIR}/mysqld.pid")" 2>/dev/null || true
	fi
	db_sql "SELECT 1" >/dev/null 2>&1 || tempdb_start "${AD_DB_DIR}" 3>&- || rc=1
	accountd_test_teardown || rc=1
	return "${rc}"
}

# The bound for a DB request during an outage: ACCOUNTD_DB_TIMEOUT=2, a
# connect and a query attempt, plus slack.
outage_bound_ms() { printf '%d\n' "$(($(scaled 6) * 1000))"; }

# timed_api ARGS...: api, and TOOK_MS the time it took.
timed_api() {
	local t0
	t0=$(_now_ms)
	"$@"
	TOOK_MS=$(elapsed_ms_since "${t0}")
}

# assert_unavailable_fast ARGS...: the request is 503 unavailable in bound.
assert_unavailable_fast() {
	timed_api "$@"
	[[ ${status} == 503 ]] || fail "$*: ${status} ${body} during the outage"
	assert_error 503 unavailable
	((TOOK_MS <= $(outage_bound_ms))) || fail "$*: 503 after ${TOOK_MS} ms"
}

_me_unavailable() {
	api_as "$1" GET /api/v1/me
	[[ ${status} == 503 ]]
}
_ready() {
	api GET /readyz
	[[ ${status} == 200 ]]
}

# exercise_outage: every kind of DB-backed request answers 503 in bound and
# /healthz stays fast.
exercise_outage() {
	local token=$1
	# the session cache may answer /me for a moment; then it must be 503
	wait_until "$(scaled 15)" _me_unavailable "${token}"
	assert_unavailable_fast api_as "${token}" GET /api/v1/me
	assert_unavailable_fast api GET /readyz
	assert_unavailable_fast login "${EMAIL}"
	assert_unavailable_fast register "later${RANDOM}"
	assert_unavailable_fast admin GET /api/v1/admin/domains
	assert_unavailable_fast api_as "${token}" DELETE /api/v1/sessions/current
	timed_api api GET /healthz
	assert_status 200
	((TOOK_MS < $(scaled 1) * 1000)) || fail "/healthz took ${TOOK_MS} ms during the outage"
	api GET /metrics
	assert_status 200
	grep -Eq '^accountd_db_errors_total(\{\})? [1-9]' <<<"${body}" ||
		fail "accountd_db_errors_total did not count: $(grep db_errors <<<"${body}")"
}

# assert_recovered TOKEN PID: ready again without a restart; the session
# made before the outage still works.
assert_recovered() {
	wait_until "$(scaled 30)" _ready
	kill -0 "$2" || fail "accountd died"
	assert_equal "${AD_PID}" "$2"
	api_as "$1" GET /api/v1/me
	assert_status 200
	login_ok "${EMAIL}"
	register "recovered${RANDOM}"
	assert_status 201
}

@test "database stopped: 503 unavailable in bounded time, /healthz 200; started again: recovers by itself" {
	create_account survivor
	login_ok "${EMAIL}"
	local token=${TOKEN} pid=${AD_PID}
	tempdb_stop "${AD_DB_DIR}"
	exercise_outage "${token}"
	tempdb_start "${AD_DB_DIR}" 3>&-
	assert_recovered "${token}" "${pid}"
}

@test "database frozen (SIGSTOP): requests time out to 503 within ACCOUNTD_DB_TIMEOUT; SIGCONT: recovers" {
	create_account frozen
	login_ok "${EMAIL}"
	local token=${TOKEN} pid=${AD_PID} dbpid
	dbpid=$(<"${AD_DB_DIR}/mysqld.pid")
	kill -STOP "${dbpid}"
	exercise_outage "${token}"
	kill -CONT "${dbpid}"
	assert_recovered "${token}" "${pid}"
}

@test "a frozen database does not starve the server: parallel DB requests all end in 503, /healthz stays fast" {
	create_account crowd
	login_ok "${EMAIL}"
	local token=${TOKEN} dbpid i
	dbpid=$(<"${AD_DB_DIR}/mysqld.pid")
	kill -STOP "${dbpid}"
	wait_until "$(scaled 15)" _me_unavailable "${token}"
	local -a pids=()
	local t0
	t0=$(_now_ms)
	for i in $(seq 1 16); do
		curl -sS -o /dev/null -w '%{http_code}\n' --max-time "$(scaled 30)" -H "Authorization: Bearer ${token}" \
			"${AD_URL}/api/v1/me" >"${BATS_TEST_TMPDIR}/par.${i}" 3>&- &
		pids+=($!)
	done
	timed_api api GET /healthz
	assert_status 200
	((TOOK_MS < $(scaled 1) * 1000)) || fail "/healthz took ${TOOK_MS} ms with 16 requests stuck on the DB"
	wait "${pids[@]}"
	local took
	took=$(elapsed_ms_since "${t0}")
	run sort -u "${BATS_TEST_TMPDIR}"/par.*
	assert_output 503
	# 16 requests, 4 HTTP threads: they must not queue up one timeout after another for ever
	((took <= 4 * $(outage_bound_ms))) || fail "16 parallel requests took ${took} ms"
	kill -CONT "${dbpid}"
	wait_until "$(scaled 30)" _ready
}

@test "accountd started while the database is down: /healthz 200, /readyz 503, ready once it is up" {
	accountd_signal_stop
	assert_equal "${AD_EXIT}" 0
	tempdb_stop "${AD_DB_DIR}"
	accountd_start ACCOUNTD_DB_TIMEOUT=2
	api GET /healthz
	assert_status 200
	assert_unavailable_fast api GET /readyz
	register early
	assert_error 503 unavailable
	tempdb_start "${AD_DB_DIR}" 3>&-
	wait_until "$(scaled 30)" _ready
	register early
	assert_status 201
}
