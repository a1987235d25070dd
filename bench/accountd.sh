#!/usr/bin/env bash
# bench/accountd.sh: accountd's benchmark (issue 2, "Benchmark").
#
# Starts everything it needs and stops it again: a throw-away MariaDB in a
# temporary directory (tests/lib/tempdb.bash), `accountd migrate`, a domain
# and a few accounts made with the CLI, then `accountd serve` on 127.0.0.1.
# wrk drives four endpoints in turn (GET /healthz, GET /api/v1/me, POST
# /api/v1/sessions, POST /api/v1/accounts) and the script prints one table:
# requests/s, p50 and p99 latency, non-2xx count (must be 0), socket errors
# and accountd's peak RSS during each run, with PASS/MISS against the
# issue's targets. It also times one argon2id hash at the configured cost
# (bench/argon2_time.c, libsodium's crypto_pwhash_str as accountd calls it)
# and sets the login and registration rates beside the hashing limit,
# cores / hash time.
#
# Usage: bench/accountd.sh [ACCOUNTD_BINARY]
#   Without an argument, accountd is built in build/bench (release).
# Environment (all optional):
#   BENCH_DURATION=10s  BENCH_CONNECTIONS=64  BENCH_THREADS=2  BENCH_ACCOUNTS=8
#   BENCH_WARMUP=2s (untimed GET /api/v1/me before the runs)
#   BENCH_PORT (default: a free port)  BENCH_KEEP=1 (keep the work directory)
#   ACCOUNTD_ARGON2_MEMORY_KIB=19456  ACCOUNTD_ARGON2_TIME=2 (the cost to use)
#   Other ACCOUNTD_* settings pass through to accountd (e.g.
#   ACCOUNTD_SESSION_CACHE_TTL=0 measures GET /api/v1/me without the cache).
# Needs: wrk, curl, mariadb-server, a C compiler, libsodium-dev, meson/ninja.
# Exit status: 0 when every target is met, 1 when one is missed or the run
# failed. Traffic goes only to 127.0.0.1; the table is on stdout, progress on
# stderr.
set -Eeuo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly repo
# shellcheck source=tests/lib/tempdb.bash
source "${repo}/tests/lib/tempdb.bash"

readonly duration=${BENCH_DURATION:-10s}
readonly connections=${BENCH_CONNECTIONS:-64}
readonly threads=${BENCH_THREADS:-2}
readonly n_accounts=${BENCH_ACCOUNTS:-8}
readonly warmup=${BENCH_WARMUP:-2s}
readonly argon2_kib=${ACCOUNTD_ARGON2_MEMORY_KIB:-19456}
readonly argon2_time=${ACCOUNTD_ARGON2_TIME:-2}
readonly bench_domain=bench.test
readonly account_password='bench-Kx7q-Vt3m-Lw9z'
cores=$(nproc)
readonly cores

work=''
accountd_pid=''
wrk_pid=''
accountd_bin=''
base_url=''
load_before=''

step() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

# stop_accountd: SIGTERM, then a bounded wait (accountd drains in-flight
# requests), then SIGKILL.
stop_accountd() {
	local tries=100
	[[ -n ${accountd_pid} ]] || return 0
	kill -TERM "${accountd_pid}" 2>/dev/null || true
	while kill -0 "${accountd_pid}" 2>/dev/null && ((tries-- > 0)); do
		sleep 0.1
	done
	kill -KILL "${accountd_pid}" 2>/dev/null || true
	wait "${accountd_pid}" 2>/dev/null || true
	accountd_pid=''
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	[[ -z ${wrk_pid} ]] || kill -TERM "${wrk_pid}" 2>/dev/null || true
	stop_accountd
	if [[ -n ${work} ]]; then
		# shellcheck disable=SC2310 # cleanup goes on whatever tempdb_stop says
		tempdb_stop "${work}/db" || true
		if [[ ${BENCH_KEEP:-0} == 1 ]]; then
			printf 'bench: work directory kept: %s\n' "${work}" >&2
		else
			rm -rf -- "${work}"
		fi
	fi
	exit "${status}"
}

on_error() {
	local status=$? line=$1 cmd=$2
	# Report once, in the script's own shell, not in every subshell the
	# error passes through.
	[[ ${BASHPID} == "$$" ]] || return 0
	printf 'bench: failed (exit %s) at line %s: %s\n' "${status}" "${line}" "${cmd}" >&2
	if [[ -n ${work} && -s ${work}/accountd.log ]]; then
		printf 'bench: last lines of accountd'\''s output:\n' >&2
		tail -n 20 -- "${work}/accountd.log" >&2
	fi
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR

require() {
	local cmd
	for cmd in "$@"; do
		command -v "${cmd}" >/dev/null || die "${cmd} is missing (apt-get install wrk curl mariadb-server gcc libsodium-dev meson ninja-build pkg-config)"
	done
}

# port_is_free PORT: nothing accepts connections on 127.0.0.1:PORT.
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
	local port tries=50
	if [[ -n ${BENCH_PORT:-} ]]; then
		# shellcheck disable=SC2310 # a one-line test, nothing for set -e to stop
		port_is_free "${BENCH_PORT}" || die "BENCH_PORT ${BENCH_PORT} is in use"
		printf '%s\n' "${BENCH_PORT}"
		return
	fi
	while ((tries-- > 0)); do
		port=$((20000 + RANDOM % 30000))
		# shellcheck disable=SC2310 # a one-line test, nothing for set -e to stop
		if port_is_free "${port}"; then
			printf '%s\n' "${port}"
			return
		fi
	done
	die "found no free port"
}

# wait_until_healthy: bounded poll of GET /healthz while accountd runs.
wait_until_healthy() {
	local tries=100
	while ((tries-- > 0)); do
		kill -0 "${accountd_pid}" 2>/dev/null || die "accountd exited during start-up"
		curl -fsS -o /dev/null --max-time 1 "${base_url}/healthz" 2>/dev/null && return 0
		sleep 0.1
	done
	die "accountd did not answer /healthz within 10 s"
}

# expect_2xx DESCRIPTION CURL_ARGS...: one request before a run, so that a
# broken endpoint stops the benchmark with its answer instead of a table
# of errors. Prints the response body.
expect_2xx() {
	local what=$1 body code
	shift
	body=$(curl -sS --max-time 10 -w '\n%{http_code}' "$@") || die "${what}: curl failed"
	code=${body##*$'\n'}
	body=${body%$'\n'*}
	[[ ${code} == 2?? ]] || die "${what}: HTTP ${code}: ${body}"
	printf '%s\n' "${body}"
}

# accountd_is_running: dies with accountd's exit status when it has gone
# (on a shared machine, someone's `pkill accountd` ends it too).
accountd_is_running() {
	local status=0
	kill -0 "${accountd_pid}" 2>/dev/null && return 0
	wait "${accountd_pid}" || status=$?
	accountd_pid=''
	die "accountd exited during the benchmark (status ${status}; see its last lines above)"
}

# peak_rss_kib: accountd's VmHWM. reset_peak_rss: set VmHWM back to the
# current RSS (writing 5 to clear_refs, Linux >= 4.0), so each run reports
# its own peak; where that is refused the figure is the peak so far.
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/${accountd_pid}/status"; }
reset_peak_rss() { printf '5\n' >"/proc/${accountd_pid}/clear_refs" 2>/dev/null || true; }

# wait_until_hashes_done: bounded poll of accountd_hash_jobs_in_flight
# until it is 0. When wrk stops, the logins it had sent are still queued for
# hashing (up to ACCOUNTD_HASH_QUEUE of them); the next run must not start
# against a full queue and count its 503s.
wait_until_hashes_done() {
	local tries=300 n
	while ((tries-- > 0)); do
		n=$(curl -fsS --max-time 2 "${base_url}/metrics" |
			awk '$1 == "accountd_hash_jobs_in_flight" { print $2 }') || n=''
		[[ ${n} == 0 ]] && return 0
		sleep 0.1
	done
	die "accountd still has password jobs in flight after 30 s (last: ${n:-no metric})"
}

# run_wrk NAME SCRIPT URL_PATH [WRK_ARGS...] [-- SCRIPT_ARGS...]: one wrk
# run; leaves "rps ok_rps p50_us p99_us status_errors socket_errors
# rss_kib" in results[NAME].
declare -A results=()
run_wrk() {
	local name=$1 script=$2 path=$3 out line rss
	local -a wrk_args=() script_args=()
	shift 3
	while (($# > 0)) && [[ $1 != -- ]]; do
		wrk_args+=("$1")
		shift
	done
	(($# > 0)) && shift
	script_args=("$@")
	wait_until_hashes_done
	step "wrk ${name}: ${threads} threads, ${connections} connections, ${duration}"
	reset_peak_rss
	out=${work}/wrk-${name//[^a-z]/_}.txt
	# In the background and waited for, so that a TERM to this script runs
	# the cleanup at once instead of after wrk's run.
	wrk --threads "${threads}" --connections "${connections}" --duration "${duration}" \
		--timeout 10s --latency --script "${repo}/bench/wrk/${script}" "${wrk_args[@]}" \
		"${base_url}${path}" -- "${script_args[@]}" >"${out}" 2>&1 &
	wrk_pid=$!
	wait "${wrk_pid}" || {
		cat -- "${out}" >&2
		die "wrk failed for ${name}"
	}
	wrk_pid=''
	accountd_is_running
	rss=$(peak_rss_kib)
	line=$(grep '^BENCH ' "${out}") || {
		cat -- "${out}" >&2
		die "wrk printed no summary for ${name}"
	}
	results[${name}]=$(awk -v rss="${rss}" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "%s %s %s %s %s %d %s\n", f["rps"], f["ok_rps"], f["p50_us"], f["p99_us"],
			f["status_errors"], f["connect"] + f["read"] + f["write"] + f["timeout"], rss
	}' <<<"${line}")
}

build_accountd() {
	local dir=${repo}/build/bench
	step "building accountd in ${dir} (release)"
	if [[ ! -f ${dir}/build.ninja ]]; then
		meson setup "${dir}" "${repo}/accountd" --buildtype=release >"${work}/meson.log" 2>&1 || {
			cat -- "${work}/meson.log" >&2
			die "meson setup failed"
		}
	fi
	ninja -C "${dir}" >"${work}/ninja.log" 2>&1 || {
		cat -- "${work}/ninja.log" >&2
		die "build failed"
	}
	printf '%s\n' "${dir}/accountd"
}

main() {
	local db_password token run_id hash_s hash_parallel_s i
	local -a emails=()

	require wrk curl mariadbd mariadb-install-db mariadb-admin cc pkg-config awk
	work=$(mktemp -d "${TMPDIR:-/tmp}/accountd-bench.XXXXXX")

	if (($# > 0)); then
		accountd_bin=$(realpath -- "$1")
	else
		accountd_bin=$(build_accountd)
	fi
	[[ -x ${accountd_bin} ]] || die "${accountd_bin} is not an executable"

	step "timing one argon2id hash (m=${argon2_kib} KiB, t=${argon2_time}, p=1)"
	# shellcheck disable=SC2046 # pkg-config prints several words on purpose
	cc -std=c17 -O2 -Wall -Wextra -Werror -o "${work}/argon2_time" \
		"${repo}/bench/argon2_time.c" $(pkg-config --cflags --libs libsodium)
	hash_s=$("${work}/argon2_time" "${argon2_kib}" "${argon2_time}" 31)
	# For comparison only (the targets use the figure above): one hasher
	# per core at once, as accountd's workers run under load; memory
	# bandwidth and the machine's neighbours make each hash slower.
	hash_parallel_s=$(for ((i = 0; i < cores; i++)); do
		"${work}/argon2_time" "${argon2_kib}" "${argon2_time}" 31 &
	done | awk '{ sum += $1; n++ } END { if (n) printf "%.6f\n", sum / n }')
	[[ -n ${hash_parallel_s} ]] || die "argon2_time failed in parallel"

	step "starting a throw-away MariaDB in ${work}/db"
	tempdb_start "${work}/db"
	db_password=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
	tempdb_create_app "${work}/db" mailnest accountd "${db_password}"

	base_url=http://127.0.0.1:$(pick_port)
	# accountd's settings. The rate limits are raised far beyond what wrk
	# can send: every request of the benchmark comes from one client IP
	# (127.0.0.1), so the defaults (100 requests/s per IP, 5 registrations
	# per hour, ...) would answer nearly everything with 429 and measure
	# the limiter instead of the service. The hashing queue holds as many
	# jobs as wrk has connections, so login and registration never see 503
	# busy; the workers (one per core, accountd's default, spelled out
	# here) bound the hashes in flight and so the argon2 memory.
	export ACCOUNTD_LISTEN=${base_url#http://}
	export ACCOUNTD_DB_SOCKET
	ACCOUNTD_DB_SOCKET=$(tempdb_socket "${work}/db")
	export ACCOUNTD_DB_NAME=mailnest ACCOUNTD_DB_USER=accountd
	export ACCOUNTD_DB_PASSWORD=${db_password}
	export ACCOUNTD_MIGRATIONS_DIR=${repo}/accountd/migrations
	export ACCOUNTD_PRIMARY_DOMAIN=${bench_domain}
	export ACCOUNTD_REGISTRATION_DEFAULT=open
	export ACCOUNTD_ARGON2_MEMORY_KIB=${argon2_kib} ACCOUNTD_ARGON2_TIME=${argon2_time}
	export ACCOUNTD_HASH_WORKERS=${cores}
	export ACCOUNTD_HASH_QUEUE=${connections}
	export ACCOUNTD_RATE_REQUESTS=100000000/1
	export ACCOUNTD_RATE_REGISTER=100000000/1
	export ACCOUNTD_RATE_LOGIN_IP=100000000/1
	export ACCOUNTD_RATE_LOGIN_ADDRESS=100000000/1
	export ACCOUNTD_RATE_ADMIN_FAIL=100000000/1
	unset ACCOUNTD_CONFIG_FILE ACCOUNTD_ADMIN_TOKEN ACCOUNTD_ADMIN_TOKEN_FILE
	unset ACCOUNTD_DB_PASSWORD_FILE ACCOUNTD_TRUSTED_PROXIES

	step "accountd migrate; domain add ${bench_domain}; ${n_accounts} accounts"
	"${accountd_bin}" migrate >"${work}/cli.log" 2>&1 || {
		cat -- "${work}/cli.log" >&2
		die "accountd migrate failed"
	}
	"${accountd_bin}" domain add "${bench_domain}" >>"${work}/cli.log" 2>&1 || {
		cat -- "${work}/cli.log" >&2
		die "accountd domain add failed"
	}
	for ((i = 1; i <= n_accounts; i++)); do
		emails+=("login${i}@${bench_domain}")
		printf '%s\n' "${account_password}" | "${accountd_bin}" user add "login${i}@${bench_domain}" \
			>>"${work}/cli.log" 2>&1 || {
			cat -- "${work}/cli.log" >&2
			die "accountd user add failed"
		}
	done

	step "starting accountd serve on ${base_url}"
	"${accountd_bin}" serve >"${work}/accountd.log" 2>&1 &
	accountd_pid=$!
	wait_until_healthy

	token=$(expect_2xx "login" -X POST -H 'Content-Type: application/json' \
		--data "{\"email\":\"${emails[0]}\",\"password\":\"${account_password}\"}" \
		"${base_url}/api/v1/sessions" | sed -n 's/.*"token" *: *"\([A-Za-z0-9_-]*\)".*/\1/p')
	[[ -n ${token} ]] || die "login answered without a token"
	expect_2xx "GET /api/v1/me" -H "Authorization: Bearer ${token}" \
		"${base_url}/api/v1/me" >/dev/null
	run_id=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	expect_2xx "registration" -X POST -H 'Content-Type: application/json' \
		--data "{\"username\":\"b${run_id}check\",\"password\":\"${account_password}\"}" \
		"${base_url}/api/v1/accounts" >/dev/null

	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	# Untimed warm-up: page faults, the session cache, MariaDB's buffers.
	step "warm-up: GET /api/v1/me for ${warmup}"
	wrk --threads "${threads}" --connections "${connections}" --duration "${warmup}" \
		-H "Authorization: Bearer ${token}" "${base_url}/api/v1/me" >/dev/null 2>&1 &
	wrk_pid=$!
	wait "${wrk_pid}" || die "wrk failed during the warm-up"
	wrk_pid=''

	run_wrk "GET /healthz" plain.lua /healthz
	run_wrk "GET /api/v1/me" plain.lua /api/v1/me -H "Authorization: Bearer ${token}"
	run_wrk "POST /api/v1/sessions" sessions.lua /api/v1/sessions -- "${account_password}" "${emails[@]}"
	run_wrk "POST /api/v1/accounts" accounts.lua /api/v1/accounts -- "${run_id}" "${account_password}"

	stop_accountd
	print_table "${hash_s}" "${hash_parallel_s}"
	((misses == 0)) || exit 1
}

# print_table HASH_SECONDS PARALLEL_HASH_SECONDS: the results and the
# targets; counts the rows that miss one in misses.
misses=0
print_table() {
	local hash_s=$1 hash_parallel_s=$2 name
	local rss_limit_kib=$(((32 + (argon2_kib * cores + 1023) / 1024) * 1024))
	local -a order=("GET /healthz" "GET /api/v1/me" "POST /api/v1/sessions" "POST /api/v1/accounts")

	printf '\naccountd benchmark: %s, %d cores, wrk %d threads / %d connections / %s per endpoint\n' \
		"$(uname -r)" "${cores}" "${threads}" "${connections}" "${duration}"
	printf 'load average before the runs: %s (other work on the machine skews every figure)\n' \
		"${load_before}"
	printf 'accountd: ACCOUNTD_HASH_WORKERS=%s ACCOUNTD_HASH_QUEUE=%s ACCOUNTD_HTTP_THREADS=%s ACCOUNTD_SESSION_CACHE_TTL=%s\n' \
		"${ACCOUNTD_HASH_WORKERS}" "${ACCOUNTD_HASH_QUEUE}" "${ACCOUNTD_HTTP_THREADS:-default}" \
		"${ACCOUNTD_SESSION_CACHE_TTL:-default}"
	printf 'argon2id m=%d KiB t=%d p=1: one hash %.1f ms; hashing limit %d cores / %.1f ms = %.1f hashes/s\n' \
		"${argon2_kib}" "${argon2_time}" "$(awk -v s="${hash_s}" 'BEGIN { print s * 1000 }')" \
		"${cores}" "$(awk -v s="${hash_s}" 'BEGIN { print s * 1000 }')" \
		"$(awk -v s="${hash_s}" -v c="${cores}" 'BEGIN { print c / s }')"
	printf '(for comparison: %d hashes at once take %.1f ms each = %.1f hashes/s)\n' "${cores}" \
		"$(awk -v s="${hash_parallel_s}" 'BEGIN { print s * 1000 }')" \
		"$(awk -v s="${hash_parallel_s}" -v c="${cores}" 'BEGIN { print c / s }')"
	printf 'RSS limit: 32 MiB + %d hashes in flight x %.1f MiB = %.1f MiB\n\n' "${cores}" \
		"$(awk -v k="${argon2_kib}" 'BEGIN { print k / 1024 }')" \
		"$(awk -v k="${rss_limit_kib}" 'BEGIN { print k / 1024 }')"
	printf '%-22s %10s %9s %9s %7s %8s %9s  %-28s %s\n' endpoint 'req/s' 'p50 ms' 'p99 ms' \
		'non-2xx' 'sock err' 'RSS MiB' 'target' result
	for name in "${order[@]}"; do
		local rps ok_rps p50 p99 status_errors socket_errors rss target verdict
		read -r rps ok_rps p50 p99 status_errors socket_errors rss <<<"${results[${name}]}"
		# One awk per row: target text and PASS/MISS.
		read -r verdict target < <(awk -v name="${name}" -v rps="${rps}" -v ok_rps="${ok_rps}" -v p99="${p99}" \
			-v st="${status_errors}" -v so="${socket_errors}" -v rss="${rss}" \
			-v lim="${rss_limit_kib}" -v c="${cores}" -v h="${hash_s}" 'BEGIN {
			ok = (st == 0 && so == 0 && rss < lim)
			if (name == "GET /api/v1/me") {
				t = ">=15000/s, p99<10ms"
				ok = ok && rps >= 15000 && p99 < 10000
			} else if (name ~ /^POST/) {
				pct = 100 * ok_rps / (c / h)
				t = sprintf("%.0f%% of %.0f/s (>=90%%)", pct, c / h)
				ok = ok && pct >= 90
			} else {
				t = "non-2xx 0, RSS"
			}
			print (ok ? "PASS" : "MISS"), t
		}')
		[[ ${verdict} == PASS ]] || misses=$((misses + 1))
		printf '%-22s %10.0f %9.2f %9.2f %7d %8d %9.1f  %-28s %s\n' "${name}" "${rps}" \
			"$(awk -v u="${p50}" 'BEGIN { print u / 1000 }')" \
			"$(awk -v u="${p99}" 'BEGIN { print u / 1000 }')" \
			"${status_errors}" "${socket_errors}" \
			"$(awk -v k="${rss}" 'BEGIN { print k / 1024 }')" "${target}" "${verdict}"
	done
	printf '\nEvery row: non-2xx and socket errors 0, peak RSS under the limit.\n'
	for name in "POST /api/v1/sessions" "POST /api/v1/accounts"; do
		local ok_rate
		ok_rate=$(cut -d' ' -f2 <<<"${results[${name}]}")
		awk -v n="${name}" -v r="${ok_rate}" -v c="${cores}" -v h="${hash_s}" \
			-v hp="${hash_parallel_s}" 'BEGIN {
			printf "%s: %.1f/s = %.0f%% of the hashing limit (%.1f/s), %.0f%% of what %d parallel hashers reach (%.1f/s)\n",
				n, r, 100 * r * h / c, c / h, 100 * r * hp / c, c, c / hp
		}'
	done
	if ((misses > 0)); then
		printf 'targets: %d of %d rows MISS\n' "${misses}" "${#order[@]}"
		return 0
	fi
	printf 'targets: all %d rows PASS\n' "${#order[@]}"
}

main "$@"
