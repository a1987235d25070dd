# shellcheck shell=bash
# Helpers for accountd's integration and hostile-input suites (bats).
#
# One throw-away MariaDB per bats file (setup_file), one accountd per test
# (setup), started on a free loopback port with generous rate limits and a
# cheap argon2 cost; a test that checks a limit or a cost starts its own
# instance with the settings it needs. Every wait is a bounded poll.
#
# Environment read here:
#   ACCOUNTD_BIN          the binary under test (default build/plain/accountd)
#   ACCOUNTD_WRAPPER      words put in front of it (valgrind ...), optional
#   ACCOUNTD_TIME_FACTOR  multiplies start/stop/poll bounds (valgrind: 10)
#   ACCOUNTD_SANITIZER_LOG_DIR  where ASan/UBSan/valgrind write reports; a
#                         test that leaves a new ASan/UBSan report fails
#
# A file uses it like this:
#   load ../lib/accountd
#   setup_file() { accountd_db_setup; }
#   teardown_file() { accountd_db_teardown; }
#   setup() { accountd_test_setup; }      # DOMAIN, PASSWORD, a running accountd
#   teardown() { accountd_test_teardown; } # stops it, checks exit 0, no leaks in logs

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

# Set by bats (and by `run`); named here so that shellcheck knows them.
: "${BATS_TEST_DIRNAME:=}" "${BATS_TEST_TMPDIR:=/tmp}" "${BATS_TEST_NUMBER:=0}" "${stderr:=}"
# Set by the helpers below for the tests.
DOMAIN="" EMAIL="" TOKEN="" body="" headers="" AD_PID="" AD_URL="" AD_PORT="" AD_EXIT=0 curl_rc=0

ACCOUNTD_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../../..
# shellcheck source=tests/lib/tempdb.bash
source "${ACCOUNTD_REPO}/tests/lib/tempdb.bash"

: "${ACCOUNTD_BIN:=${ACCOUNTD_REPO}/build/plain/accountd}"
: "${ACCOUNTD_WRAPPER:=}"
: "${ACCOUNTD_TIME_FACTOR:=1}"
: "${ACCOUNTD_SANITIZER_LOG_DIR:=}"
export ACCOUNTD_BIN ACCOUNTD_WRAPPER ACCOUNTD_TIME_FACTOR ACCOUNTD_SANITIZER_LOG_DIR

# The admin token every default instance is configured with (>= 32 chars).
ADMIN_TOKEN=admin-token-0123456789abcdefghijklmnopqrstuvwxyz
# A password that passes every rule; tests use their own when it matters.
DEFAULT_PASSWORD='Correct-Horse-Battery-9'

# ---------------------------------------------------------------- polling

# _now_ms: wall clock in milliseconds.
_now_ms() {
	local s ns
	read -r s ns < <(date '+%s %N')
	printf '%d\n' "$((s * 1000 + 10#${ns} / 1000000))"
}

# scaled SECONDS: SECONDS times ACCOUNTD_TIME_FACTOR (slow under valgrind).
scaled() { printf '%d\n' "$(($1 * ACCOUNTD_TIME_FACTOR))"; }

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds; fail
# (returning 1) after SECONDS. The only place the suites sleep.
wait_until() {
	local limit_ms=$(($1 * 1000)) start
	shift
	start=$(_now_ms)
	while true; do
		"$@" >/dev/null 2>&1 && return 0
		(($(_now_ms) - start < limit_ms)) || break
		sleep 0.1
	done
	printf 'wait_until: timed out after %s ms: %s\n' "${limit_ms}" "$*" >&2
	return 1
}

# elapsed_ms_since START_MS
elapsed_ms_since() { printf '%d\n' "$(($(_now_ms) - $1))"; }

# ---------------------------------------------------------------- database

# accountd_db_setup: a MariaDB for this bats file, the application user and
# the migrated schema. Exports AD_DB_DIR and AD_DB_PASSWORD for the tests.
accountd_db_setup() {
	AD_DB_DIR=$(mktemp -d /tmp/accountd-db.XXXXXX)
	AD_DB_PASSWORD="db-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
	export AD_DB_DIR AD_DB_PASSWORD
	# fd 3 is bats' own: a daemon holding it would make bats wait forever.
	tempdb_start "${AD_DB_DIR}" 3>&-
	tempdb_create_app "${AD_DB_DIR}" mailnest accountd "${AD_DB_PASSWORD}"
	local out
	out=$(accountd_cli -- migrate 2>&1) || {
		printf 'accountd migrate failed:\n%s\n' "${out}" >&2
		return 1
	}
}

accountd_db_teardown() {
	[[ -n ${AD_DB_DIR:-} ]] || return 0
	# A test may have frozen the server (SIGSTOP); let it hear SIGTERM.
	if [[ -f ${AD_DB_DIR}/mysqld.pid ]]; then
		kill -CONT "$(<"${AD_DB_DIR}/mysqld.pid")" 2>/dev/null || true
	fi
	tempdb_stop "${AD_DB_DIR}"
	rm -rf -- "${AD_DB_DIR}"
}

# db_sql SQL...: run SQL as root in the mailnest database, tab-separated.
db_sql() { tempdb_sql "${AD_DB_DIR}" "USE mailnest; $*"; }

# db_sql_escape TEXT: TEXT as the body of a single-quoted SQL literal.
db_sql_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/''/g"; }

# db_add_domain NAME: an active domain, straight into the table.
db_add_domain() { db_sql "INSERT IGNORE INTO domains (name) VALUES ('$1')"; }

# db_snapshot: row counts of every table and the list of tables; compared
# before and after hostile input to show the database is intact.
db_snapshot() {
	db_sql "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'mailnest';
		SELECT (SELECT COUNT(*) FROM domains), (SELECT COUNT(*) FROM mailboxes),
		(SELECT COUNT(*) FROM aliases), (SELECT COUNT(*) FROM invites),
		(SELECT COUNT(*) FROM settings), (SELECT COUNT(*) FROM schema_migrations),
		(SELECT COUNT(*) FROM maildir_purge_queue),
		(SELECT COALESCE(SUM(CRC32(CONCAT(email, password_hash, active))), 0) FROM mailboxes)"
}

# ---------------------------------------------------------------- environment

# _ad_env_build OVERRIDE...: AD_ENV_ARGS, the arguments for env(1) that give
# accountd its test configuration. OVERRIDE is NAME=VALUE (set or replace)
# or -NAME (leave unset). Every other ACCOUNTD_* variable of the caller is
# removed so that nothing leaks in from the shell.
_ad_env_build() {
	local -A vars=(
		[ACCOUNTD_DB_SOCKET]="$(tempdb_socket "${AD_DB_DIR:-/nonexistent}")"
		[ACCOUNTD_DB_NAME]=mailnest
		[ACCOUNTD_DB_USER]=accountd
		[ACCOUNTD_DB_PASSWORD]="${AD_DB_PASSWORD:-}"
		[ACCOUNTD_DB_TIMEOUT]=3
		[ACCOUNTD_MIGRATIONS_DIR]="${ACCOUNTD_REPO}/accountd/migrations"
		[ACCOUNTD_PRIMARY_DOMAIN]="${DOMAIN:-primary.mailnest.test}"
		[ACCOUNTD_ADMIN_TOKEN]="${ADMIN_TOKEN}"
		[ACCOUNTD_ARGON2_MEMORY_KIB]=4096
		[ACCOUNTD_ARGON2_TIME]=1
		[ACCOUNTD_RATE_REQUESTS]=100000/1
		[ACCOUNTD_RATE_REGISTER]=100000/1
		[ACCOUNTD_RATE_LOGIN_IP]=100000/1
		[ACCOUNTD_RATE_LOGIN_ADDRESS]=100000/1
		[ACCOUNTD_RATE_ADMIN_FAIL]=100000/1
	)
	local o name
	for o in "$@"; do
		if [[ ${o} == -* ]]; then
			unset "vars[${o#-}]"
		else
			vars[${o%%=*}]=${o#*=}
		fi
	done
	AD_ENV_ARGS=()
	while read -r name; do
		[[ ${name} == ACCOUNTD_BIN || ${name} == ACCOUNTD_WRAPPER || ${name} == ACCOUNTD_TIME_FACTOR ||
			${name} == ACCOUNTD_SANITIZER_LOG_DIR ]] && continue
		AD_ENV_ARGS+=(-u "${name}")
	done < <(compgen -e | grep '^ACCOUNTD_' || true)
	for name in "${!vars[@]}"; do
		AD_ENV_ARGS+=("${name}=${vars[${name}]}")
	done
}

# _ad_command: AD_CMD, the wrapper words followed by the binary.
_ad_command() {
	local -a wrapper=()
	[[ -n ${ACCOUNTD_WRAPPER} ]] && read -r -a wrapper <<<"${ACCOUNTD_WRAPPER}"
	AD_CMD=("${wrapper[@]}" "${ACCOUNTD_BIN}")
}

under_valgrind() { [[ ${ACCOUNTD_WRAPPER} == *valgrind* ]]; }

# skip_under_valgrind WHY: skip this test when accountd runs under valgrind.
skip_under_valgrind() {
	if under_valgrind; then
		skip "under valgrind: $*"
	fi
}

# accountd_cli [OVERRIDE...] -- ARG...: run the CLI with the test
# configuration (stdin passes through). Use with `run`.
accountd_cli() {
	local -a overrides=()
	while (($# > 0)) && [[ $1 != -- ]]; do
		overrides+=("$1")
		shift
	done
	(($# > 0)) && shift
	_ad_env_build "${overrides[@]}"
	_ad_command
	env "${AD_ENV_ARGS[@]}" "${AD_CMD[@]}" "$@"
}

# bounded SECONDS CMD...: run CMD (stdin, stdout, stderr passed through),
# killing it after SECONDS; its exit status, 124 when it had to be killed.
# For commands that must fail fast but would hang if they did not.
bounded() {
	local limit=$1 pid rc=0
	shift
	# an explicit <&0: a background job's stdin would be /dev/null
	"$@" <&0 3>&- &
	pid=$!
	if ! wait_until "${limit}" _ad_exited "${pid}"; then
		pkill -TERM -P "${pid}" 2>/dev/null || true
		kill -TERM "${pid}" 2>/dev/null || true
		wait_until 10 _ad_exited "${pid}" || kill -KILL "${pid}" 2>/dev/null || true
		wait "${pid}" 2>/dev/null || true
		return 124
	fi
	wait "${pid}" || rc=$?
	return "${rc}"
}

# ---------------------------------------------------------------- the daemon

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

AD_INSTANCES=()

# accountd_start [OVERRIDE...]: start `accountd serve` in the background and
# wait (bounded) until /healthz answers. Makes it the current instance:
# AD_PID, AD_URL, AD_LOG (stdout), AD_ERR (stderr), AD_CURL (curl args for
# reaching it). With -ACCOUNTD_LISTEN (address from a config file) the
# caller sets AD_LISTEN to that address. Fails, showing its stderr, if it does not come up.
accountd_start() {
	local listen="" o dir
	for o in "$@"; do
		[[ ${o} == ACCOUNTD_LISTEN=* ]] && listen=${o#ACCOUNTD_LISTEN=}
		# Listening address from a config file: the caller names it.
		[[ ${o} == -ACCOUNTD_LISTEN ]] && listen=${AD_LISTEN:?AD_LISTEN names the address the file sets}
	done
	dir=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/accountd.XXXXXX")
	AD_DIR=${dir}
	AD_LOG=${dir}/stdout.log
	AD_ERR=${dir}/stderr.log
	AD_CURL=()
	if [[ -z ${listen} ]]; then
		AD_PORT=$(free_port)
		listen=127.0.0.1:${AD_PORT}
		set -- "$@" "ACCOUNTD_LISTEN=${listen}"
	fi
	if [[ ${listen} == unix:* ]]; then
		AD_CURL=(--unix-socket "${listen#unix:}")
		AD_URL=http://localhost
	else
		AD_URL=http://${listen}
	fi
	_ad_env_build "$@"
	_ad_command
	env "${AD_ENV_ARGS[@]}" "${AD_CMD[@]}" serve >"${AD_LOG}" 2>"${AD_ERR}" 3>&- </dev/null &
	AD_PID=$!
	printf '%s\n' "${AD_PID}" >"${dir}/pid"
	AD_INSTANCES+=("${AD_PID}:${dir}")
	if ! wait_until "$(scaled 20)" _ad_up_or_dead; then
		printf 'accountd did not answer /healthz; stderr:\n' >&2
		cat "${AD_ERR}" >&2
		return 1
	fi
	if _ad_exited "${AD_PID}"; then
		printf 'accountd exited at start-up; stderr:\n' >&2
		cat "${AD_ERR}" >&2
		return 1
	fi
}

_ad_up_or_dead() {
	_ad_exited "${AD_PID}" && return 0
	curl -sf -o /dev/null --max-time 2 "${AD_CURL[@]}" "${AD_URL}/healthz"
}

# _ad_exited PID: true when PID is gone or a zombie waiting to be reaped.
_ad_exited() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[[ ${stat%% *} == Z ]]
}

# accountd_use PID: make an already started instance the current one.
accountd_use() {
	local i
	for i in "${AD_INSTANCES[@]}"; do
		if [[ ${i%%:*} == "$1" ]]; then
			AD_PID=$1
			AD_DIR=${i#*:}
			AD_LOG=${AD_DIR}/stdout.log
			AD_ERR=${AD_DIR}/stderr.log
			return 0
		fi
	done
	return 1
}

# accountd_signal_stop [PID]: send SIGTERM and reap the process (bounded);
# sets AD_EXIT to its exit status (KILLed after the bound: 137).
accountd_signal_stop() {
	local pid=${1:-${AD_PID}}
	kill -TERM "${pid}" 2>/dev/null || true
	accountd_reap "${pid}"
}

# accountd_reap PID: wait (bounded) for PID to exit; AD_EXIT = its status.
accountd_reap() {
	local pid=$1
	if ! wait_until "$(scaled 20)" _ad_exited "${pid}"; then
		printf 'accountd %s did not exit after SIGTERM; killing it\n' "${pid}" >&2
		kill -KILL "${pid}" 2>/dev/null || true
	fi
	AD_EXIT=0
	wait "${pid}" 2>/dev/null || AD_EXIT=$?
	_ad_forget "${pid}"
}

_ad_forget() {
	local i keep=()
	for i in "${AD_INSTANCES[@]}"; do
		[[ ${i%%:*} == "$1" ]] || keep+=("${i}")
	done
	AD_INSTANCES=("${keep[@]}")
}

# accountd_stop [PID]: SIGTERM, bounded wait, and fail unless it exited 0
# (valgrind's --error-exitcode and ASan's exit status land here).
accountd_stop() {
	local pid=${1:-${AD_PID}} dir=""
	local i
	for i in "${AD_INSTANCES[@]}"; do
		[[ ${i%%:*} == "${pid}" ]] && dir=${i#*:}
	done
	accountd_signal_stop "${pid}"
	if ((AD_EXIT != 0)); then
		printf 'accountd %s exited with status %s (99 = valgrind errors)\n' "${pid}" "${AD_EXIT}" >&2
		[[ -n ${dir} ]] && tail -n 40 "${dir}/stderr.log" >&2
		return 1
	fi
}

# accountd_restart [OVERRIDE...]: stop the current instance (checked), start
# a new one with these settings.
accountd_restart() {
	accountd_stop
	accountd_start "$@"
}

# ---------------------------------------------------------------- HTTP

# api METHOD PATH [BODY] [CURL-ARG...]: one request to the current
# instance. Sets status (HTTP code, 000 when the connection failed), body,
# headers (CRs removed) and curl_rc. BODY is sent as it is (with
# Content-Type $API_CONTENT_TYPE, default application/json); "@FILE" sends a
# file. A BODY starting with "-" is taken as a curl argument: pass such a
# body with --data-binary yourself.
api() {
	local method=$1 path=$2
	shift 2
	local -a args=(-sS -X "${method}" --max-time "${API_TIMEOUT:-$(scaled 30)}"
		-o "${BATS_TEST_TMPDIR}/api.body" -D "${BATS_TEST_TMPDIR}/api.headers" -w '%{http_code}')
	if (($# > 0)) && [[ $1 != -* ]]; then
		args+=(--data-binary "$1" -H "Content-Type: ${API_CONTENT_TYPE:-application/json}")
		shift
	fi
	: >"${BATS_TEST_TMPDIR}/api.body"
	: >"${BATS_TEST_TMPDIR}/api.headers"
	curl_rc=0
	status=$(curl "${args[@]}" "${AD_CURL[@]}" "$@" "${AD_URL}${path}" 2>"${BATS_TEST_TMPDIR}/api.err") || curl_rc=$?
	[[ -n ${status} ]] || status=000
	if [[ ${status} == 000 ]]; then
		printf 'api %s %s: curl exit %s: %s\n' "${method}" "${path}" "${curl_rc}" "$(cat "${BATS_TEST_TMPDIR}/api.err")" >&2
	fi
	body=$(cat "${BATS_TEST_TMPDIR}/api.body")
	headers=$(tr -d '\r' <"${BATS_TEST_TMPDIR}/api.headers")
	export status body headers curl_rc
}

# api_as TOKEN METHOD PATH [BODY] [CURL-ARG...]: api with a Bearer token.
api_as() {
	local token=$1
	shift
	local method=$1 path=$2
	shift 2
	if (($# > 0)) && [[ $1 != -* ]]; then
		local data=$1
		shift
		api "${method}" "${path}" "${data}" -H "Authorization: Bearer ${token}" "$@"
	else
		api "${method}" "${path}" -H "Authorization: Bearer ${token}" "$@"
	fi
}

# admin METHOD PATH [BODY] [CURL-ARG...]: api with the admin token.
admin() { api_as "${ADMIN_TOKEN}" "$@"; }

# header NAME: the value of response header NAME (case-insensitive), last
# one if repeated; fails when absent.
header() {
	local line value="" found=1
	while IFS= read -r line; do
		if [[ ${line,,} == "${1,,}:"* ]]; then
			value=${line#*:}
			value=${value# }
			found=0
		fi
	done <<<"${headers}"
	printf '%s\n' "${value}"
	return "${found}"
}

# json FILTER: jq -r FILTER over the last response body.
json() { jq -r "$1" <<<"${body}"; }

# assert_status CODE: the last response had this HTTP status.
assert_status() {
	[[ ${status} == "$1" ]] && return 0
	batslib_print_kv_single_or_multi 8 expected "$1" status "${status}" body "${body}" headers "${headers}" |
		batslib_decorate 'unexpected HTTP status' | fail
}

# assert_status_in CODE...: the last response had one of these statuses.
assert_status_in() {
	local c
	for c in "$@"; do
		[[ ${status} == "${c}" ]] && return 0
	done
	batslib_print_kv_single_or_multi 8 expected "$*" status "${status}" body "${body}" |
		batslib_decorate 'unexpected HTTP status' | fail
}

# assert_json_response: Content-Type is JSON and the body parses.
assert_json_response() {
	local ct
	ct=$(header Content-Type) || fail "no Content-Type in: ${headers}"
	[[ ${ct,,} == application/json* ]] || fail "Content-Type is '${ct}', not application/json"
	jq -e . <<<"${body}" >/dev/null || fail "body is not JSON: ${body}"
}

# assert_error STATUS CODE: the documented error shape, with a request id.
assert_error() {
	assert_status "$1"
	assert_json_response
	local err msg
	err=$(json .error)
	msg=$(json '.message | strings')
	[[ ${err} == "$2" ]] || fail "error code is '${err}', expected '$2' (body: ${body})"
	[[ -n ${msg} ]] || fail "error without a message string: ${body}"
	header X-Request-Id >/dev/null || fail "no X-Request-Id header: ${headers}"
}

# assert_retry_after: a Retry-After of a positive number of seconds.
assert_retry_after() {
	local ra
	ra=$(header Retry-After) || fail "no Retry-After header: ${headers}"
	if [[ ! ${ra} =~ ^[0-9]+$ ]] || ((ra == 0)); then
		fail "Retry-After is not a positive integer: '${ra}'"
	fi
}

# assert_healthy: the current instance answers /healthz with 200.
assert_healthy() {
	local s=${status} b=${body} h=${headers}
	api GET /healthz
	assert_status 200
	status=${s} body=${b} headers=${h}
}

# raw_http: send stdin's bytes as they are over one TCP connection to the
# current instance; print the status code of the first response, or
# "closed" (closed without a response), "reset", "timeout" (nothing within
# RAW_TIMEOUT seconds, default 10).
raw_http() {
	/usr/bin/python3 -c '
import socket, sys
data = sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[2]))
try:
    s.sendall(data)
except (BrokenPipeError, ConnectionResetError):
    pass
buf = b""
try:
    while b"\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
except socket.timeout:
    print("timeout")
    sys.exit(0)
except ConnectionResetError:
    if not buf:
        print("reset")
        sys.exit(0)
words = buf.split(b"\r\n")[0].split(b" ")
print(words[1].decode() if buf.startswith(b"HTTP/") and len(words) > 1 else "closed")
' "${AD_PORT}" "${RAW_TIMEOUT:-10}"
}

# slow_client MODE INTERVAL LIMIT: a client that trickles one byte every
# INTERVAL seconds (MODE headers: inside the request headers; body: inside
# a declared body; idle: sends nothing). Prints "closed SECONDS" when the
# server drops it, "open" if it is still connected after LIMIT seconds.
slow_client() {
	/usr/bin/python3 -c '
import select, socket, sys, time
mode, interval, limit, port = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection(("127.0.0.1", port))
start = time.monotonic()
if mode == "headers":
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
elif mode == "body":
    s.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\":\"")
def closed():
    print("closed %.2f" % (time.monotonic() - start))
    sys.exit(0)
while time.monotonic() - start < limit:
    r, _, _ = select.select([s], [], [], interval)
    if r:
        try:
            if not s.recv(65536):
                closed()
        except OSError:
            closed()
        continue
    if mode != "idle":
        try:
            s.send(b"a")
        except OSError:
            closed()
print("open")
' "$1" "$2" "$3" "${AD_PORT}"
}

# ---------------------------------------------------------------- accounts

# register USERNAME [PASSWORD [DOMAIN]]: POST /api/v1/accounts.
register() {
	local user=$1 password=${2:-${DEFAULT_PASSWORD}} domain=${3:-${DOMAIN}} doc
	doc=$(jq -cn --arg u "${user}" --arg p "${password}" --arg d "${domain}" \
		'{username: $u, password: $p, domain: $d}')
	api POST /api/v1/accounts "${doc}"
}

# create_account USERNAME [PASSWORD [DOMAIN]]: register, asserting 201;
# prints nothing, sets EMAIL.
create_account() {
	register "$@"
	assert_status 201
	# shellcheck disable=SC2034 # for the caller
	EMAIL=$(json .email)
}

# login EMAIL [PASSWORD [CURL-ARG...]]: POST /api/v1/sessions (status/body set).
login() {
	local doc
	doc=$(jq -cn --arg e "$1" --arg p "${2:-${DEFAULT_PASSWORD}}" '{email: $e, password: $p}')
	api POST /api/v1/sessions "${doc}" "${@:3}"
}

# login_ok EMAIL [PASSWORD]: login asserting 201; sets TOKEN.
login_ok() {
	login "$@"
	assert_status 201
	TOKEN=$(json .token)
	remember_secret "${TOKEN}"
}

# stored_hash EMAIL: the password_hash column.
stored_hash() { db_sql "SELECT password_hash FROM mailboxes WHERE email = '$1'"; }

# ---------------------------------------------------------------- logs

SECRETS=()
# remember_secret TEXT: the test's teardown checks no log contains TEXT.
remember_secret() { SECRETS+=("$1"); }

# all_logs: the stdout and stderr of every instance this test started.
all_logs() { cat "${BATS_TEST_TMPDIR}"/accountd.*/std*.log 2>/dev/null || true; }

# log_text: the current instance's stdout without the ISO 8601 time stamp
# accountd may put in front of "accountd ..." (the contract's lines start
# there).
log_text() { sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) //' "${AD_LOG}"; }

# log_grep GREP-ARG...: grep over log_text.
log_grep() { log_text | grep "$@"; }

# log_has ERE: some log line matches.
log_has() { log_grep -E -- "$1" >/dev/null; }

# _ad_assert_no_secrets: no password, token, hash or admin token in logs.
_ad_assert_no_secrets() {
	local logs s
	logs=$(all_logs)
	for s in "${ADMIN_TOKEN}" "${DEFAULT_PASSWORD}" "${SECRETS[@]}"; do
		[[ -n ${s} && ${logs} != *"${s}"* ]] || fail "a secret appears in accountd's logs: ${s}"
	done
	[[ ${logs} != *"\$argon2"* && ${logs,,} != *'{argon2id}'* ]] || fail "a password hash appears in accountd's logs"
}

# _ad_assert_no_sanitizer_reports: no new ASan/UBSan report files.
_ad_assert_no_sanitizer_reports() {
	[[ -n ${ACCOUNTD_SANITIZER_LOG_DIR} ]] || return 0
	local f found=0
	for f in "${ACCOUNTD_SANITIZER_LOG_DIR}"/asan* "${ACCOUNTD_SANITIZER_LOG_DIR}"/ubsan*; do
		[[ -e ${f} ]] || continue
		[[ -e ${f}.seen ]] && continue
		printf '%s:\n' "${f}" >&2
		head -n 60 "${f}" >&2
		: >"${f}.seen"
		found=1
	done
	((found == 0)) || fail "sanitizer reports were written"
}

# ---------------------------------------------------------------- per test

# accountd_test_setup: a fresh domain (DOMAIN, also the primary domain)
# and an accountd using it.
accountd_test_setup() {
	_ad_new_domain
	accountd_start
}

# accountd_test_setup_with OVERRIDE...: the same, with these settings.
accountd_test_setup_with() {
	_ad_new_domain
	accountd_start "$@"
}

_ad_new_domain() {
	DOMAIN="t${BATS_TEST_NUMBER:?}-${RANDOM}.mailnest.test"
	db_add_domain "${DOMAIN}"
}

# accountd_test_teardown: stop every instance the test started and check
# each exited 0, that no secret reached the logs and no sanitizer spoke.
accountd_test_teardown() {
	local rc=0 i pid
	for i in "${AD_INSTANCES[@]}"; do
		pid=${i%%:*}
		accountd_stop "${pid}" || rc=1
	done
	_ad_assert_no_secrets || rc=1
	_ad_assert_no_sanitizer_reports || rc=1
	return "${rc}"
}
