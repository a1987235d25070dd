#!/usr/bin/env bats
# The command line: every subcommand of the contract, its exit codes (0 ok,
# 64 usage, 65 rejected input, 69 DB unavailable, 78 config) and the same
# validation as the API; migrations; configuration errors.

bats_require_minimum_version 1.5.0
# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() {
	local rc=0
	accountd_test_teardown || rc=1
	db_sql "DELETE FROM settings" || rc=1
	return "${rc}"
}

# cli ARG...: the CLI with the test configuration, bounded (for `run`).
cli() { bounded "$(scaled 60)" accountd_cli -- "$@"; }

# assert_cli_error EXIT CODE: the last `run --separate-stderr` exited EXIT
# with "accountd: CODE: message" on stderr.
assert_cli_error() {
	[[ ${status} == "$1" ]] || fail "exit ${status}, expected $1; stdout: ${output}; stderr: ${stderr}"
	[[ ${stderr} =~ (^|$'\n')accountd:\ $2:\ [^$'\n']+ ]] || fail "stderr is not 'accountd: $2: ...': ${stderr}"
}

# config_error SETTING OVERRIDE...: `accountd serve` with OVERRIDE exits 78
# before serving and its stderr names SETTING.
config_error() {
	local setting=$1
	shift
	run --separate-stderr bounded "$(scaled 30)" accountd_cli "ACCOUNTD_LISTEN=127.0.0.1:$(free_port)" "$@" -- serve
	[[ ${status} == 78 ]] || fail "$*: exit ${status} (expected 78); stderr: ${stderr}"
	[[ ${stderr} == *"${setting}"* ]] || fail "$*: stderr does not name ${setting}: ${stderr}"
}

cli_in() {
	local db=$1 dir=$2
	shift 2
	bounded "$(scaled 60)" accountd_cli "ACCOUNTD_DB_NAME=${db}" "ACCOUNTD_MIGRATIONS_DIR=${dir}" -- "$@"
}

@test "cli: version prints the version, exit 0" {
	run cli version
	assert_success
	assert_output --regexp '[0-9]+\.[0-9]+\.[0-9]+'
}

@test "cli: routes lists every route of the contract as METHOD PATH, and each is served" {
	run cli routes
	assert_success
	local line
	while IFS= read -r line; do
		[[ ${line} =~ ^(GET|POST|PUT|PATCH|DELETE)\ /[^\ ]*$ ]] || fail "not 'METHOD PATH': '${line}'"
	done <<<"${output}"
	local routes=${output} r
	for r in "GET /healthz" "GET /readyz" "GET /metrics" "POST /api/v1/accounts" "POST /api/v1/sessions" \
		"GET /api/v1/me" "PUT /api/v1/me/password" "DELETE /api/v1/sessions/current" "DELETE /api/v1/me" \
		"POST /api/v1/admin/domains" "GET /api/v1/admin/domains" "PATCH /api/v1/admin/domains/{name}" \
		"GET /api/v1/admin/mailboxes" "PATCH /api/v1/admin/mailboxes/{email}" \
		"PUT /api/v1/admin/mailboxes/{email}/password" "DELETE /api/v1/admin/mailboxes/{email}" \
		"POST /api/v1/admin/aliases" "GET /api/v1/admin/aliases" "DELETE /api/v1/admin/aliases/{source}" \
		"POST /api/v1/admin/invites" "GET /api/v1/admin/invites" "DELETE /api/v1/admin/invites/{id}" \
		"GET /api/v1/admin/registration" "PUT /api/v1/admin/registration"; do
		grep -qxF "${r}" <<<"${routes}" || fail "'accountd routes' lacks ${r}"
	done
	# whatever it lists is really served: never the unknown-route 404
	while IFS= read -r r; do
		local path=${r#* }
		path=${path//\{name\}/nothing.example}
		path=${path//\{email\}/nobody@nothing.example}
		path=${path//\{source\}/nobody@nothing.example}
		path=${path//\{id\}/999999999}
		path=${path//\{*\}/x}
		admin "${r%% *}" "${path}" '{}'
		if [[ ${status} == 404 ]]; then
			[[ ${path} == *nothing.example* || ${path} == *999999999* ]] || fail "${r}: 404 ${body}"
		fi
		[[ ${status} != 405 ]] || fail "${r}: 405 ${body}"
	done <<<"${routes}"
}

@test "cli: usage errors exit 64" {
	local cmd
	local -a args
	for cmd in '' bogus 'user' 'user add' 'user frobnicate x@y.example' 'domain' 'domain add' 'alias add a@b.example' \
		'invite create --count' 'invite create --bogus' 'user add a@b.example --quota' 'registration open extra'; do
		read -r -a args <<<"${cmd}"
		run --separate-stderr cli "${args[@]}"
		[[ ${status} == 64 ]] || fail "'accountd ${cmd}': exit ${status}: ${stderr}"
	done
}

@test "cli: check-config accepts the test configuration" {
	run cli check-config
	assert_success
}

@test "cli: domain add, list, disable, enable and their errors" {
	local d=cli-${DOMAIN}
	run cli domain add "${d^^}"
	assert_success
	run db_sql "SELECT active FROM domains WHERE name = '${d}'"
	assert_output 1
	run --separate-stderr cli domain add "${d}"
	assert_cli_error 65 already_exists
	run --separate-stderr cli domain add 'not_a domain'
	assert_cli_error 65 invalid_domain
	run cli domain list
	assert_success
	assert_line --partial "${d}"
	run cli domain disable "${d}"
	assert_success
	run db_sql "SELECT active FROM domains WHERE name = '${d}'"
	assert_output 0
	register viacli "${DEFAULT_PASSWORD}" "${d}"
	assert_error 422 unknown_domain
	run cli domain enable "${d}"
	assert_success
	run db_sql "SELECT active FROM domains WHERE name = '${d}'"
	assert_output 1
	run --separate-stderr cli domain disable "missing-${d}"
	assert_cli_error 65 not_found
}

@test "cli: user add reads the first line of stdin; the account logs in over HTTP" {
	run cli user add "Carl@${DOMAIN}" <<<"$(printf '%s\n%s\n' 'First-Line-Password-1' 'second line')"
	assert_success
	remember_secret First-Line-Password-1
	run db_sql "SELECT quota_bytes, active FROM mailboxes WHERE email = 'carl@${DOMAIN}'"
	assert_output "$(printf '1073741824\t1')"
	login_ok "carl@${DOMAIN}" First-Line-Password-1
	run cli user add "quota@${DOMAIN}" --quota 12345 <<<"${DEFAULT_PASSWORD}"
	assert_success
	run db_sql "SELECT quota_bytes FROM mailboxes WHERE email = 'quota@${DOMAIN}'"
	assert_output 12345
	run --separate-stderr cli user add "carl@${DOMAIN}" <<<"${DEFAULT_PASSWORD}"
	assert_cli_error 65 already_exists
}

@test "cli: user add applies the API's validation" {
	run --separate-stderr cli user add "postmaster@${DOMAIN}" <<<"${DEFAULT_PASSWORD}"
	assert_cli_error 65 invalid_username
	run --separate-stderr cli user add "a..b@${DOMAIN}" <<<"${DEFAULT_PASSWORD}"
	assert_cli_error 65 invalid_username
	run --separate-stderr cli user add "$(printf 'c%.0s' {1..65})@${DOMAIN}" <<<"${DEFAULT_PASSWORD}"
	assert_cli_error 65 invalid_username
	run --separate-stderr cli user add "weak@${DOMAIN}" <<<'password123'
	assert_cli_error 65 weak_password
	run --separate-stderr cli user add "short@${DOMAIN}" <<<'short'
	assert_cli_error 65 weak_password
	run --separate-stderr cli user add "same1234567@${DOMAIN}" <<<'same1234567'
	assert_cli_error 65 weak_password
	run --separate-stderr cli user add "empty@${DOMAIN}" </dev/null
	[[ ${status} == 64 || ${status} == 65 ]] || fail "no password on stdin: exit ${status}"
	run --separate-stderr cli user add "x@unknown-${DOMAIN}" <<<"${DEFAULT_PASSWORD}"
	assert_cli_error 65 unknown_domain
	admin POST /api/v1/admin/aliases "{\"source\":\"aliased@${DOMAIN}\",\"destinations\":[\"x@example.net\"]}"
	assert_status 201
	run --separate-stderr cli user add "aliased@${DOMAIN}" <<<"${DEFAULT_PASSWORD}"
	assert_cli_error 65 already_exists
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email LIKE '%@${DOMAIN}'"
	assert_output 0
}

@test "cli: user passwd changes the password and revokes sessions" {
	create_account pw
	login_ok "${EMAIL}"
	run cli user passwd "${EMAIL}" <<<'Cli-New-Password-5'
	assert_success
	remember_secret Cli-New-Password-5
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	login "${EMAIL}"
	assert_error 401 invalid_credentials
	login_ok "${EMAIL}" Cli-New-Password-5
	run --separate-stderr cli user passwd "${EMAIL}" <<<'password123'
	assert_cli_error 65 weak_password
	run --separate-stderr cli user passwd "missing@${DOMAIN}" <<<'Cli-New-Password-5'
	assert_cli_error 65 not_found
}

@test "cli: user disable, enable, quota" {
	create_account toggled
	login_ok "${EMAIL}"
	run cli user disable "${EMAIL}"
	assert_success
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	login "${EMAIL}"
	assert_error 401 invalid_credentials
	run cli user enable "${EMAIL}"
	assert_success
	login_ok "${EMAIL}"
	run cli user quota "${EMAIL}" 777
	assert_success
	api_as "${TOKEN}" GET /api/v1/me
	assert_equal "$(json .quota_bytes)" 777
	run --separate-stderr cli user quota "${EMAIL}" lots
	[[ ${status} == 64 || ${status} == 65 ]] || fail "quota 'lots': exit ${status}"
	run --separate-stderr cli user quota "${EMAIL}" -5
	[[ ${status} == 64 || ${status} == 65 ]] || fail "quota -5: exit ${status}"
	run db_sql "SELECT quota_bytes FROM mailboxes WHERE email = '${EMAIL}'"
	assert_output 777
	run --separate-stderr cli user disable "missing@${DOMAIN}"
	assert_cli_error 65 not_found
	run --separate-stderr cli user quota "missing@${DOMAIN}" 5
	assert_cli_error 65 not_found
}

@test "cli: user purge refuses an active mailbox, then purges a disabled one" {
	create_account gone
	run --separate-stderr cli user purge "${EMAIL}"
	assert_cli_error 65 mailbox_active
	run cli user disable "${EMAIL}"
	assert_success
	run cli user purge "${EMAIL}"
	assert_success
	run db_sql "SELECT (SELECT COUNT(*) FROM mailboxes WHERE email = '${EMAIL}'), (SELECT COUNT(*) FROM maildir_purge_queue WHERE email = '${EMAIL}')"
	assert_output "$(printf '0\t1')"
	run --separate-stderr cli user purge "${EMAIL}"
	assert_cli_error 65 not_found
}

@test "cli: user list [DOMAIN]" {
	create_account lister1
	create_account lister2
	run cli user list "${DOMAIN}"
	assert_success
	assert_line --partial "lister1@${DOMAIN}"
	assert_line --partial "lister2@${DOMAIN}"
	run cli user list
	assert_success
	assert_line --partial "lister1@${DOMAIN}"
}

@test "cli: alias add, list, del" {
	run cli alias add "team@${DOMAIN}" "a@example.net,B@example.net"
	assert_success
	run db_sql "SELECT destination FROM aliases WHERE source = 'team@${DOMAIN}' ORDER BY destination"
	assert_output "$(printf 'a@example.net\nb@example.net')"
	run cli alias list "${DOMAIN}"
	assert_success
	assert_output --partial "team@${DOMAIN}"
	assert_output --partial "a@example.net"
	run --separate-stderr cli alias add "team@${DOMAIN}" "c@example.net"
	assert_cli_error 65 already_exists
	create_account realbox
	run --separate-stderr cli alias add "realbox@${DOMAIN}" "c@example.net"
	assert_cli_error 65 already_exists
	run --separate-stderr cli alias add "team2@${DOMAIN}" "not an address"
	[[ ${status} == 65 ]] || fail "bad destination: exit ${status}"
	run cli alias del "team@${DOMAIN}"
	assert_success
	run db_sql "SELECT COUNT(*) FROM aliases WHERE source = 'team@${DOMAIN}'"
	assert_output 0
	run --separate-stderr cli alias del "team@${DOMAIN}"
	assert_cli_error 65 not_found
}

@test "cli: invite create prints usable codes; list; revoke" {
	run --separate-stderr cli invite create --count 3 --expires 3600 --note "cli batch"
	assert_success
	local -a codes
	mapfile -t codes <<<"${output}"
	assert_equal "${#codes[@]}" 3
	local c
	for c in "${codes[@]}"; do
		remember_secret "${c}"
	done
	run cli invite list
	assert_success
	assert_output --partial "cli batch"
	[[ ${output} != *"${codes[0]}"* ]] || fail "invite list shows a code"
	run cli registration invite
	assert_success
	api POST /api/v1/accounts "{\"username\":\"invited\",\"password\":\"${DEFAULT_PASSWORD}\",\"invite\":\"${codes[0]}\"}"
	assert_status 201
	local id
	id=$(db_sql "SELECT id FROM invites WHERE note = 'cli batch' AND used_at IS NULL ORDER BY id LIMIT 1")
	run cli invite revoke "${id}"
	assert_success
	run db_sql "SELECT revoked_at IS NOT NULL FROM invites WHERE id = ${id}"
	assert_output 1
	run --separate-stderr cli invite revoke 999999999
	assert_cli_error 65 not_found
}

@test "cli: registration prints and sets the mode" {
	run cli registration
	assert_success
	assert_output open
	run cli registration closed
	assert_success
	run cli registration
	assert_output closed
	register shutout
	assert_error 403 registration_closed
	run --separate-stderr cli registration sometimes
	[[ ${status} == 64 || ${status} == 65 ]] || fail "registration sometimes: exit ${status}"
	run cli registration
	assert_output closed
}

@test "cli: a database that cannot be reached is exit 69" {
	local cmd
	local -a args
	for cmd in 'domain list' 'migrate' 'user list' 'registration'; do
		read -r -a args <<<"${cmd}"
		run --separate-stderr bounded "$(scaled 30)" accountd_cli ACCOUNTD_DB_SOCKET=/nonexistent/mysqld.sock -- "${args[@]}"
		[[ ${status} == 69 ]] || fail "'accountd ${cmd}' without a DB: exit ${status}: ${stderr}"
	done
	run --separate-stderr bounded "$(scaled 30)" accountd_cli ACCOUNTD_DB_PASSWORD=wrong-password -- domain list
	[[ ${status} == 69 || ${status} == 78 ]] || fail "wrong DB password: exit ${status}"
	[[ ${stderr} != *wrong-password* ]] || fail "stderr shows the DB password"
}

@test "migrate: a second run is a no-op (schema_migrations and schema unchanged)" {
	local before schema_before
	before=$(db_sql "SELECT version, name, HEX(checksum), applied_at FROM schema_migrations ORDER BY version")
	schema_before=$(db_sql "SELECT table_name, column_name, column_type FROM information_schema.columns WHERE table_schema = 'mailnest' ORDER BY 1, 2")
	[[ -n ${before} ]] || fail "schema_migrations is empty after the first migrate"
	run db_sql "SELECT version FROM schema_migrations"
	assert_line 1
	run cli migrate
	assert_success
	run cli migrate
	assert_success
	assert_equal "$(db_sql "SELECT version, name, HEX(checksum), applied_at FROM schema_migrations ORDER BY version")" "${before}"
	assert_equal "$(db_sql "SELECT table_name, column_name, column_type FROM information_schema.columns WHERE table_schema = 'mailnest' ORDER BY 1, 2")" "${schema_before}"
}

@test "migrate: a fresh database gets every table; two migrates at once apply it once" {
	tempdb_create_app "${AD_DB_DIR}" mailnest_fresh accountd "${AD_DB_PASSWORD}"
	bounded "$(scaled 60)" accountd_cli ACCOUNTD_DB_NAME=mailnest_fresh -- migrate >"${BATS_TEST_TMPDIR}/m1" 2>&1 &
	local p1=$!
	bounded "$(scaled 60)" accountd_cli ACCOUNTD_DB_NAME=mailnest_fresh -- migrate >"${BATS_TEST_TMPDIR}/m2" 2>&1 &
	local p2=$! r1=0 r2=0
	wait "${p1}" || r1=$?
	wait "${p2}" || r2=$?
	((r1 == 0 && r2 == 0)) || fail "concurrent migrates: exit ${r1} / ${r2}: $(cat "${BATS_TEST_TMPDIR}"/m1 "${BATS_TEST_TMPDIR}"/m2)"
	run tempdb_sql "${AD_DB_DIR}" "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'mailnest_fresh'"
	assert_output aliases,domains,invites,mailboxes,maildir_purge_queue,schema_migrations,send_limits_domain,send_limits_mailbox,send_usage,sessions,settings
	local n
	n=$(find "${ACCOUNTD_REPO}/accountd/migrations" -name '*.sql' | wc -l)
	run tempdb_sql "${AD_DB_DIR}" "SELECT COUNT(*), COUNT(DISTINCT version) FROM mailnest_fresh.schema_migrations"
	assert_output "$(printf '%d\t%d' "${n}" "${n}")"
	tempdb_sql "${AD_DB_DIR}" "DROP DATABASE mailnest_fresh"
}

@test "migrate: a new migration is applied once; an edited applied one is refused" {
	local dir=${BATS_TEST_TMPDIR}/migrations
	mkdir -p "${dir}"
	cp "${ACCOUNTD_REPO}"/accountd/migrations/*.sql "${dir}/"
	# a version after any real migration
	printf '%s\n' 'CREATE TABLE test_extra (id INT PRIMARY KEY) ENGINE=InnoDB;' >"${dir}/9999_test_extra.sql"
	tempdb_create_app "${AD_DB_DIR}" mailnest_m2 accountd "${AD_DB_PASSWORD}"
	run cli_in mailnest_m2 "${dir}" migrate
	assert_success
	run cli_in mailnest_m2 "${dir}" migrate
	assert_success
	run tempdb_sql "${AD_DB_DIR}" "SELECT version, name LIKE '%test_extra%' FROM mailnest_m2.schema_migrations ORDER BY version"
	assert_line --index 0 "$(printf '1\t0')"
	assert_line --index $((${#lines[@]} - 1)) "$(printf '9999\t1')"
	assert_equal "${#lines[@]}" "$(find "${dir}" -name '*.sql' | wc -l)"
	run tempdb_sql "${AD_DB_DIR}" "SELECT COUNT(*) FROM mailnest_m2.test_extra"
	assert_output 0
	printf '%s\n' '-- edited after it was applied' >>"${dir}/0001_initial.sql"
	run --separate-stderr cli_in mailnest_m2 "${dir}" migrate
	((status != 0 && status < 128)) || fail "edited migration: exit ${status}"
	[[ ${stderr} == *0001* ]] || fail "the error does not name the migration: ${stderr}"
	tempdb_sql "${AD_DB_DIR}" "DROP DATABASE mailnest_m2"
}

@test "config: a missing ACCOUNTD_PRIMARY_DOMAIN stops serve with exit 78 naming it" {
	config_error ACCOUNTD_PRIMARY_DOMAIN -ACCOUNTD_PRIMARY_DOMAIN
	config_error ACCOUNTD_PRIMARY_DOMAIN 'ACCOUNTD_PRIMARY_DOMAIN=not a domain'
}

@test "config: a bad ACCOUNTD_LISTEN is exit 78 naming it" {
	local v
	for v in bogus 127.0.0.1 127.0.0.1:99999 127.0.0.1:0x50 ':8080' 'unix:' 'example.org:80' '[::1' '300.1.1.1:80'; do
		run --separate-stderr bounded "$(scaled 30)" accountd_cli "ACCOUNTD_LISTEN=${v}" -- serve
		[[ ${status} == 78 ]] || fail "ACCOUNTD_LISTEN=${v}: exit ${status}; ${stderr}"
		[[ ${stderr} == *ACCOUNTD_LISTEN* ]] || fail "ACCOUNTD_LISTEN=${v}: ${stderr}"
	done
}

@test "config: a bad rate is exit 78 naming the setting" {
	local s v
	for s in ACCOUNTD_RATE_REQUESTS ACCOUNTD_RATE_REGISTER ACCOUNTD_RATE_LOGIN_IP ACCOUNTD_RATE_LOGIN_ADDRESS \
		ACCOUNTD_RATE_ADMIN_FAIL; do
		for v in x/y 5 /5 5/ 5/0 -1/5 1.5/10 99999999999999999999/1; do
			config_error "${s}" "${s}=${v}"
		done
	done
}

@test "config: other invalid settings are exit 78 naming them" {
	config_error ACCOUNTD_ARGON2_PARALLELISM ACCOUNTD_ARGON2_PARALLELISM=2
	config_error ACCOUNTD_ARGON2_TIME ACCOUNTD_ARGON2_TIME=0
	config_error ACCOUNTD_ARGON2_MEMORY_KIB ACCOUNTD_ARGON2_MEMORY_KIB=lots
	config_error ACCOUNTD_SESSION_TTL ACCOUNTD_SESSION_TTL=-1
	config_error ACCOUNTD_DB_TIMEOUT ACCOUNTD_DB_TIMEOUT=0
	config_error ACCOUNTD_DB_PORT ACCOUNTD_DB_PORT=70000
	config_error ACCOUNTD_REGISTRATION_DEFAULT ACCOUNTD_REGISTRATION_DEFAULT=sometimes
	config_error ACCOUNTD_TRUSTED_PROXIES ACCOUNTD_TRUSTED_PROXIES=not-an-ip
	config_error ACCOUNTD_DEFAULT_QUOTA_BYTES ACCOUNTD_DEFAULT_QUOTA_BYTES=-5
	config_error ACCOUNTD_MAX_CONNECTIONS ACCOUNTD_MAX_CONNECTIONS=0
	config_error ACCOUNTD_CONNECTION_TIMEOUT ACCOUNTD_CONNECTION_TIMEOUT=abc
	config_error ACCOUNTD_ADMIN_TOKEN ACCOUNTD_ADMIN_TOKEN=tooshort
	config_error ACCOUNTD_ADMIN_TOKEN_FILE ACCOUNTD_ADMIN_TOKEN_FILE=/nonexistent/token -ACCOUNTD_ADMIN_TOKEN
	config_error ACCOUNTD_DB_PASSWORD_FILE ACCOUNTD_DB_PASSWORD_FILE=/nonexistent/password -ACCOUNTD_DB_PASSWORD
	config_error ACCOUNTD_CONFIG_FILE ACCOUNTD_CONFIG_FILE=/nonexistent/accountd.conf
}

@test "config: a bad line in ACCOUNTD_CONFIG_FILE is exit 78 naming the setting" {
	local conf=${BATS_TEST_TMPDIR}/bad.conf
	printf '%s\n' '# ok' 'ACCOUNTD_RATE_LOGIN_IP=x/y' >"${conf}"
	config_error ACCOUNTD_RATE_LOGIN_IP "ACCOUNTD_CONFIG_FILE=${conf}" -ACCOUNTD_RATE_LOGIN_IP
	run --separate-stderr bounded "$(scaled 30)" accountd_cli "ACCOUNTD_CONFIG_FILE=${conf}" -ACCOUNTD_RATE_LOGIN_IP -- check-config
	assert_equal "${status}" 78
}

@test "config: a listening address already in use fails start-up with a clear error" {
	run --separate-stderr bounded "$(scaled 30)" accountd_cli "ACCOUNTD_LISTEN=127.0.0.1:${AD_PORT}" -- serve
	((status != 0 && status != 124 && status < 128)) || fail "second serve on a used port: exit ${status}"
	[[ -n ${stderr} ]] || fail "no error message"
	assert_healthy
}

@test "cli: ACCOUNTD_DB_PASSWORD_FILE is read (first line)" {
	local f=${BATS_TEST_TMPDIR}/db.password
	printf '%s\n' "${AD_DB_PASSWORD}" >"${f}"
	run cli_file "${f}"
	assert_success
}

cli_file() { bounded "$(scaled 30)" accountd_cli -ACCOUNTD_DB_PASSWORD "ACCOUNTD_DB_PASSWORD_FILE=$1" -- domain list; }
