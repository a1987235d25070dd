# shellcheck shell=bash
# Helpers of policyd's integration tests: a throw-away MariaDB with
# accountd's schema (its migrations, applied by accountd itself), policyd's
# database user with the installer's grants, and a policyd on a socket in
# the test's temporary directory.
#   POLICYD_BIN   the mailnest-policyd to test (run sets it)
#   ACCOUNTD_BIN  an accountd build, to apply the migrations
# (BATS_TEST_TMPDIR comes from bats.)
# shellcheck disable=SC2154
# A build with AddressSanitizer writes its reports under PD_ASAN_DIR; a test
# that leaves one fails in teardown.

repo_dir=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=tests/lib/tempdb.bash
source "${repo_dir}/tests/lib/tempdb.bash"
# shellcheck source=policyd/tests/lib/policy_client.bash
source "${repo_dir}/policyd/tests/lib/policy_client.bash"
bats_load_library bats-support
bats_load_library bats-assert

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s, bounded.
wait_until() {
	local tries=$(($1 * 10))
	shift
	_tempdb_wait_until "${tries}" "$@"
}

pd_sql() { tempdb_sql "${PD_DB_DIR}" "USE mailnest; $*"; }

# policyd_db_setup: MariaDB, schema, users (once per file).
policyd_db_setup() {
	PD_DB_DIR=$(mktemp -d /tmp/policyd-db.XXXXXX)
	PD_DB_PASSWORD="pd-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
	export PD_DB_DIR PD_DB_PASSWORD
	# policyd runs as nobody: let it reach the server's socket.
	chmod 0711 "${PD_DB_DIR}"
	tempdb_start "${PD_DB_DIR}" 3>&-
	tempdb_create_app "${PD_DB_DIR}" mailnest accountd "${PD_DB_PASSWORD}"
	ACCOUNTD_DB_SOCKET=$(tempdb_socket "${PD_DB_DIR}") ACCOUNTD_DB_PASSWORD=${PD_DB_PASSWORD} \
		ACCOUNTD_MIGRATIONS_DIR="${repo_dir}/accountd/migrations" \
		"${ACCOUNTD_BIN}" migrate >/dev/null
	tempdb_sql "${PD_DB_DIR}" "CREATE USER 'policyd'@'localhost' IDENTIFIED BY '${PD_DB_PASSWORD}';
		$(cat "${repo_dir}/policyd/sql/grants.sql")"
	pd_sql "INSERT INTO domains (name) VALUES ('pd.test'), ('other.test')"
}

policyd_db_teardown() {
	[[ -n ${PD_DB_DIR:-} ]] || return 0
	if [[ -f ${PD_DB_DIR}/mysqld.pid ]]; then
		kill -CONT "$(<"${PD_DB_DIR}/mysqld.pid")" 2>/dev/null || true
	fi
	tempdb_stop "${PD_DB_DIR}"
	rm -rf -- "${PD_DB_DIR}"
}

# add_mailbox LOCALPART [DOMAIN] [AGE_DAYS]: a mailbox created AGE_DAYS ago.
add_mailbox() {
	local domain=${2:-pd.test} age=${3:-0}
	pd_sql "INSERT INTO mailboxes (domain_id, local_part, email, password_hash, created_at)
		SELECT id, '$1', '$1@${domain}', '{ARGON2ID}x', UTC_TIMESTAMP(3) - INTERVAL ${age} DAY
		FROM domains WHERE name = '${domain}'"
}

# policyd_test_dir: PD_DIR, a directory of the test for the daemon's sockets,
# and PD_ASAN_DIR in it for sanitizer and valgrind reports.
policyd_test_dir() {
	PD_DIR=$(mktemp -d /tmp/policyd-test.XXXXXX)
	PD_ASAN_DIR=${PD_DIR}/asan
	mkdir -p "${PD_ASAN_DIR}"
	chmod 0777 "${PD_DIR}" "${PD_ASAN_DIR}"
}

# policyd_launch SUBCOMMAND SECONDS [SETTING=VALUE...]: start
# `mailnest-policyd SUBCOMMAND` as nobody (it refuses root) on the test's
# database, its output in PD_LOG; PD_PID is its pid. Waits up to SECONDS
# until PD_SOCKET accepts connections.
policyd_launch() {
	local subcommand=$1 seconds=$2
	shift 2
	# POLICYD_VALGRIND=1: run it under memcheck; a report (errors, definite
	# or indirect leaks) lands in PD_ASAN_DIR and fails the test. (libmilter
	# never joins its worker threads: their stacks are "possibly lost" at
	# exit, which is libmilter's, not a leak; not shown.)
	local -a wrapper=()
	local leak_kinds=definite,indirect
	if [[ -n ${POLICYD_VALGRIND:-} ]]; then
		wrapper=(valgrind --quiet --error-exitcode=98 --leak-check=full
			--errors-for-leak-kinds="${leak_kinds}" --show-leak-kinds="${leak_kinds}"
			--log-file="${PD_ASAN_DIR}/valgrind.%p")
	fi
	setpriv --reuid=nobody --regid=nogroup --clear-groups env \
		POLICYD_DB_SOCKET="$(tempdb_socket "${PD_DB_DIR}")" \
		POLICYD_DB_PASSWORD="${PD_DB_PASSWORD}" POLICYD_DB_TIMEOUT=1 \
		ASAN_OPTIONS="log_path=${PD_ASAN_DIR}/asan:detect_leaks=1" \
		UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=${PD_ASAN_DIR}/ubsan" \
		"$@" "${wrapper[@]}" "${POLICYD_BIN}" "${subcommand}" >>"${PD_LOG}" 2>&1 3>&- &
	PD_PID=$!
	wait_until "${seconds}" socket_accepts
}

# policyd_start [SETTING=VALUE...]: start the policy service with its
# sockets in a directory of the test; waits until it accepts connections.
policyd_start() {
	policyd_test_dir
	PD_SOCKET=${PD_DIR}/policy.sock
	PD_METRICS=${PD_DIR}/metrics.sock
	PD_LOG=${BATS_TEST_TMPDIR}/policyd.log
	policyd_launch serve 10 POLICYD_SOCKET="${PD_SOCKET}" POLICYD_METRICS_SOCKET="${PD_METRICS}" "$@"
}

socket_accepts() { socat -u /dev/null "UNIX-CONNECT:${PD_SOCKET}"; }

policyd_stop() {
	[[ -n ${PD_PID:-} ]] || return 0
	kill -TERM "${PD_PID}" 2>/dev/null || true
	local status=0
	wait "${PD_PID}" || status=$?
	PD_PID=""
	return "${status}"
}

policyd_test_teardown() {
	local status=0
	[[ -n ${PD_DIR:-} ]] || return 0
	policyd_stop || status=$?
	# Only non-empty files are reports (valgrind --quiet makes empty ones).
	if find "${PD_ASAN_DIR}" -type f -size +0c | grep -q .; then
		cat "${PD_ASAN_DIR}"/* >&2
		status=99
	fi
	rm -rf -- "${PD_DIR}"
	((status == 0)) || { echo "policyd exited ${status}" >&2; cat "${PD_LOG}" >&2; return 1; }
}

# request STATE USER [RECIPIENT_COUNT] [INSTANCE]: one policy request's text.
request() {
	printf 'request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\n' "$1"
	printf 'sasl_username=%s\nsender=%s\nrecipient=r%s@example.net\n' "$2" "$2" "${RANDOM}"
	printf 'recipient_count=%s\ninstance=%s\nclient_address=192.0.2.1\n\n' "${3:-0}" "${4:-i1}"
}

# policy_talk: send standard input on one connection, print every answer
# line (bounded: socat gives up after 10 s of silence).
policy_talk() { socat -t 10 -T 10 - "UNIX-CONNECT:${PD_SOCKET}"; }

# send_message USER RECIPIENTS: RCPT for each recipient, then END-OF-MESSAGE,
# on one connection, as Postfix does; prints the answers.
send_message() {
	local user=$1 n=$2 instance="m${RANDOM}${RANDOM}" i
	{
		for ((i = 0; i < n; i++)); do request RCPT "${user}" 0 "${instance}"; done
		request END-OF-MESSAGE "${user}" "${n}" "${instance}"
	} | policy_talk
}

metrics() { socat -t 5 - "UNIX-CONNECT:${PD_METRICS}"; }

