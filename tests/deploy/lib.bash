# shellcheck shell=bash
# Helpers of the deploy tests (tests/deploy/*.bats): a deploy target on this
# machine, built from the same parts as the real server.
#
#   deploytest_setup / deploytest_teardown   (setup_file / teardown_file)
#
# The setup builds two releases of accountd with deploy/build-release.sh
# (A and B) and derives two bad ones from B (one whose accountd exits at
# start-up, one with a migration that fails half-way); starts a throw-away
# MariaDB (tests/lib/tempdb.bash); installs A under a temporary base
# directory the way the installer does (releases/A, current -> releases/A,
# `accountd migrate`) and starts it under a PM2 daemon of its own, root's
# as on a server (PM2_HOME in the temporary directory), as `nobody`
# (setpriv, as the ecosystem does for accountd), with the project's
# ecosystem file (two processes sharing a loopback port with SO_REUSEPORT;
# only the paths are the test's); and starts an OpenSSH server on
# 127.0.0.1 and a free port with its own host key, which lets in one
# throw-away deploy key as root. deploy_via_workflow then deploys a release
# exactly as .github/workflows/deploy.yml does: it runs that workflow's
# `ship` step, as written there, with the secrets pointing at this server.
# Everything started here is stopped by deploytest_teardown; nothing listens
# beyond loopback. Every wait is a bounded poll.

# The DT_* variables are read by the .bats files.
# shellcheck disable=SC2034

DT_REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
readonly DT_REPO
# shellcheck source=tests/lib/tempdb.bash
source "${DT_REPO}/tests/lib/tempdb.bash"

# The state shared by the tests of one file lives in files under DT_ROOT
# (bats runs each test in a subshell); deploytest_env re-reads it.
DT_STATE=${BATS_FILE_TMPDIR:-/tmp}/deploytest.state

deploytest_env() {
	# shellcheck source=/dev/null
	[[ -f ${DT_STATE} ]] && source "${DT_STATE}"
	return 0
}

_dt_save() {	# NAME...: append the variables to the state file
	local name
	for name in "$@"; do
		printf '%s=%q\n' "${name}" "${!name}" >>"${DT_STATE}"
	done
}

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pm2_as_app ARGS...: the test's PM2 daemon, root's as on a server (from
# its home: the daemon keeps the working directory it was started in).
pm2_as_app() { env -C "${DT_PM2_HOME}" PM2_HOME="${DT_PM2_HOME}" pm2 "$@"; }

# readyz: "STATUS VERSION" of one GET /readyz on a fresh connection.
readyz() {
	curl -sS --max-time 2 -o /dev/null -D - -H 'Connection: close' "http://127.0.0.1:${DT_APP_PORT}/readyz" 2>/dev/null |
		awk 'NR == 1 { s = $2 } tolower($1) == "x-accountd-version:" { sub(/\r$/, "", $2); v = $2 } END { print (s ? s : "000") " " (v ? v : "-") }'
}

# all_answers_are STATUS VERSION: 20 fresh connections all get this answer
# (the kernel spreads them over both processes).
all_answers_are() {
	local i
	for ((i = 0; i < 20; i++)); do
		[[ $(readyz) == "$1 $2" ]] || return 1
	done
}

# pm2_online_count: processes of the app PM2 shows online.
pm2_online_count() {
	pm2_as_app jlist 2>/dev/null | grep '^\[' | tail -n 1 |
		node -e 'let s = require("fs").readFileSync(0, "utf8"); console.log(JSON.parse(s).filter((p) => p.name === "accountd" && p.pm2_env.status === "online").length)'
}

both_online() { [[ $(pm2_online_count) == 2 ]]; }
some_online() { (($(pm2_online_count) > 0)); }

# listening_pids: the processes listening on the app's port.
listening_pids() { ss -Hltnp "sport = :${DT_APP_PORT}" | grep -o 'pid=[0-9]*' | sort -u; }

live_version() { basename -- "$(readlink -- "${DT_BASE}/current")"; }

# schema_fingerprint: the database's tables and their definitions, and the
# applied migrations.
schema_fingerprint() {
	local t
	tempdb_sql "${DT_DB}" "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mailnest' ORDER BY 1"
	for t in $(tempdb_sql "${DT_DB}" "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mailnest' ORDER BY 1"); do
		tempdb_sql "${DT_DB}" "SHOW CREATE TABLE mailnest.\`${t}\`" | sed -E 's/ AUTO_INCREMENT=[0-9]+//'
	done
	tempdb_sql "${DT_DB}" "SELECT version, name, checksum FROM mailnest.schema_migrations ORDER BY version"
}

# ------------------------------------------------------------- releases

_dt_build() {	# ID: build a release; sets DT_TARBALL
	DT_TARBALL=$("${DT_REPO}/deploy/build-release.sh" --release "$1" --out "${DT_ROOT}/dist-$1" \
		--build-dir "${DT_ROOT}/build" 2>"${DT_ROOT}/build-$1.log" | tail -n 1)
	[[ -f ${DT_TARBALL} ]] || { cat "${DT_ROOT}/build-$1.log" >&2; return 1; }
}

# _dt_derive FROM_TARBALL ID EDIT_FUNCTION: a copy of a release under a new
# version, changed by EDIT_FUNCTION (run inside the unpacked tree), with
# its checksums made anew; sets DT_TARBALL.
_dt_derive() {
	local from=$1 id=$2 edit=$3 old_top new_version work out
	old_top=$(tar -tzf "${from}" | head -n 1)
	old_top=${old_top%%/*}
	new_version="${old_top#accountd-}"
	new_version="${new_version%+*}+${id}"
	work="${DT_ROOT}/derive-${id}"
	out="${DT_ROOT}/dist-${id}"
	mkdir -p "${work}" "${out}"
	tar -xzf "${from}" -C "${work}"
	mv "${work}/${old_top}" "${work}/accountd-${new_version}"
	(
		cd "${work}/accountd-${new_version}" || exit 1
		printf '%s\n' "${new_version}" >VERSION
		"${edit}"
		find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum -- >"${work}/sums"
		mv "${work}/sums" SHA256SUMS
	)
	tar -C "${work}" -czf "${out}/accountd-${new_version}.tar.gz" "accountd-${new_version}"
	cp "${DT_REPO}/deploy/deploy.sh" "${out}/deploy.sh"
	printf '%s\n' "${new_version}" >"${out}/VERSION"
	(cd "${out}" && sha256sum -- "accountd-${new_version}.tar.gz" deploy.sh >SHA256SUMS)
	DT_TARBALL="${out}/accountd-${new_version}.tar.gz"
}

# A release whose accountd passes `check-config` and `migrate` but exits at
# once when started as a server (a start-up failure the deploy cannot see
# before the switch).
_dt_edit_broken() {
	mv bin/accountd bin/accountd.real
	cat >bin/accountd <<-'EOF'
		#!/bin/sh
		if [ "$1" = serve ]; then
			echo "accountd: fatal: simulated start-up failure (deploy test)" >&2
			exit 1
		fi
		exec "$(dirname "$0")/accountd.real" "$@"
	EOF
	chmod 0755 bin/accountd
}

# A release with a migration that changes the schema and then fails.
_dt_edit_bad_migration() {
	cat >share/mailnest/migrations/0900_deploy_test_fails.sql <<-'EOF'
		CREATE TABLE deploy_test_probe (id INT PRIMARY KEY);
		ALTER TABLE domains ADD COLUMN deploy_test_column INT NULL;
		INSERT INTO no_such_table VALUES (1);
	EOF
}

# ---------------------------------------------------------------- setup

deploytest_setup() {
	local key
	: >"${DT_STATE}"
	DT_ROOT=$(mktemp -d /tmp/mailnest-deploytest.XXXXXX)
	chmod 0755 "${DT_ROOT}"
	# sshd insists that the authorized_keys file and every directory above it
	# be writable by root only: not under /tmp.
	DT_SSH=$(mktemp -d /run/mailnest-deploytest-ssh.XXXXXX)
	chmod 0755 "${DT_SSH}"
	DT_BASE="${DT_ROOT}/opt"
	DT_PM2_HOME="${DT_ROOT}/pm2"
	DT_DB="${DT_ROOT}/db"
	DT_APP_PORT=$(free_port)
	DT_SSH_PORT=$(free_port)
	_dt_save DT_ROOT DT_SSH DT_BASE DT_PM2_HOME DT_DB DT_APP_PORT DT_SSH_PORT

	# Releases.
	_dt_build deploytest.a || return 1
	DT_A=${DT_TARBALL}
	_dt_build deploytest.b || return 1
	DT_B=${DT_TARBALL}
	_dt_derive "${DT_B}" deploytest.broken _dt_edit_broken || return 1
	DT_BROKEN=${DT_TARBALL}
	_dt_derive "${DT_B}" deploytest.badmigration _dt_edit_bad_migration || return 1
	DT_BADMIG=${DT_TARBALL}
	DT_VA=$(<"${DT_A%/*}/VERSION")
	DT_VB=$(<"${DT_B%/*}/VERSION")
	_dt_save DT_A DT_B DT_BROKEN DT_BADMIG DT_VA DT_VB

	# The database.
	local password
	password=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
	tempdb_start "${DT_DB}" || return 1
	chmod 0755 "${DT_DB}"
	# The privileges install/30-mariadb.sh grants accountd, no more: the
	# deploy's backup and restore must work with them.
	tempdb_sql "${DT_DB}" "CREATE DATABASE mailnest;
		CREATE USER 'accountd'@'localhost' IDENTIFIED BY '${password}';
		GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, LOCK TABLES
			ON mailnest.* TO 'accountd'@'localhost';" || return 1
	install -m 0640 -g nogroup /dev/null "${DT_ROOT}/accountd.env"
	cat >"${DT_ROOT}/accountd.env" <<-EOF
		ACCOUNTD_LISTEN=127.0.0.1:${DT_APP_PORT}
		ACCOUNTD_DB_HOST=localhost
		ACCOUNTD_DB_SOCKET=$(tempdb_socket "${DT_DB}")
		ACCOUNTD_DB_NAME=mailnest
		ACCOUNTD_DB_USER=accountd
		ACCOUNTD_DB_PASSWORD=${password}
		ACCOUNTD_PRIMARY_DOMAIN=example.test
		ACCOUNTD_RATE_REQUESTS=100000000/1
		ACCOUNTD_HTTP_THREADS=2
		ACCOUNTD_HASH_WORKERS=1
	EOF

	# Release A, installed as the installer does.
	mkdir -p "${DT_BASE}/releases"
	tar -xzf "${DT_A}" -C "${DT_BASE}/releases"
	mv "${DT_BASE}/releases/accountd-${DT_VA}" "${DT_BASE}/releases/${DT_VA}"
	ln -s "releases/${DT_VA}" "${DT_BASE}/current"
	# Its migrations named as deploy.sh names them: the built-in path is the
	# server's /opt/mailnest/current, which this machine need not have.
	runuser -u nobody -- env ACCOUNTD_CONFIG_FILE="${DT_ROOT}/accountd.env" \
		ACCOUNTD_MIGRATIONS_DIR="${DT_BASE}/current/share/mailnest/migrations" \
		"${DT_BASE}/current/bin/accountd" migrate >"${DT_ROOT}/migrate-a.log" 2>&1 ||
		{ cat "${DT_ROOT}/migrate-a.log" >&2; return 1; }

	# PM2 runs the project's own ecosystem (deploy/ecosystem.config.js), only
	# with this test's paths: the deploy is tested with the processes the
	# server really has.
	# (A copy: nobody may not be able to read the checkout, e.g. under a
	# CI runner's home.)
	install -d -m 0700 "${DT_PM2_HOME}"
	mkdir -p "${DT_ROOT}/logs"
	install -m 0644 "${DT_REPO}/deploy/ecosystem.config.js" "${DT_ROOT}/project-ecosystem.config.js"
	# The same setpriv arguments, with nobody for accountd and this base.
	cat >"${DT_ROOT}/ecosystem.config.js" <<-EOF
		'use strict';
		const real = require('${DT_ROOT}/project-ecosystem.config.js').apps[0];
		module.exports = { apps: [Object.assign({}, real, {
			args: real.args.map((a) => a.replace('/opt/mailnest/current', '${DT_BASE}/current')
				.replace(/^--reuid=accountd\$/, '--reuid=nobody').replace(/^--regid=accountd\$/, '--regid=nogroup')),
			cwd: '${DT_ROOT}',
			env: Object.assign({}, real.env, { ACCOUNTD_CONFIG_FILE: '${DT_ROOT}/accountd.env' }),
			out_file: '${DT_ROOT}/logs/accountd.log',
			error_file: '${DT_ROOT}/logs/accountd.error.log',
		})] };
	EOF
	pm2_as_app start "${DT_ROOT}/ecosystem.config.js" >"${DT_ROOT}/pm2-start.log" 2>&1 ||
		{ cat "${DT_ROOT}/pm2-start.log" >&2; return 1; }
	wait_until 30 some_online || { echo "PM2 did not start accountd" >&2; return 1; }
	wait_until 30 all_answers_are 200 "${DT_VA}" || {
		echo "release A does not answer on port ${DT_APP_PORT}: $(readyz)" >&2
		tail -n 20 "${DT_ROOT}"/logs/*.log >&2
		return 1
	}

	# The deploy target: sshd on loopback, its own host key, one deploy key.
	ssh-keygen -q -t ed25519 -N '' -C deploytest-host -f "${DT_SSH}/host_key"
	ssh-keygen -q -t ed25519 -N '' -C deploytest-deploy -f "${DT_SSH}/deploy_key"
	# The server's deploy settings, as /etc/mailnest/deploy.env would hold them.
	cat >"${DT_ROOT}/deploy.env" <<-EOF
		MAILNEST_BASE=${DT_BASE}
		MAILNEST_PM2_APP=accountd
		PM2_HOME=${DT_PM2_HOME}
		MAILNEST_RUN_AS=nobody
		MAILNEST_READYZ_URL=http://127.0.0.1:${DT_APP_PORT}/readyz
		ACCOUNTD_CONFIG_FILE=${DT_ROOT}/accountd.env
		MAILNEST_READY_TIMEOUT=20
	EOF
	key=$(<"${DT_SSH}/deploy_key.pub")
	printf 'restrict,environment="MAILNEST_DEPLOY_CONF=%s" %s\n' "${DT_ROOT}/deploy.env" "${key}" >"${DT_SSH}/authorized_keys"
	chmod 0600 "${DT_SSH}/authorized_keys"
	cat >"${DT_SSH}/sshd_config" <<-EOF
		ListenAddress 127.0.0.1:${DT_SSH_PORT}
		HostKey ${DT_SSH}/host_key
		PidFile ${DT_SSH}/sshd.pid
		AuthorizedKeysFile ${DT_SSH}/authorized_keys
		AuthenticationMethods publickey
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		PermitRootLogin prohibit-password
		AllowUsers root
		PermitUserEnvironment MAILNEST_DEPLOY_CONF
		StrictModes yes
		AllowTcpForwarding no
		X11Forwarding no
		Subsystem sftp internal-sftp
		LogLevel VERBOSE
	EOF
	mkdir -p /run/sshd
	/usr/sbin/sshd -t -f "${DT_SSH}/sshd_config"
	/usr/sbin/sshd -D -e -f "${DT_SSH}/sshd_config" 2>"${DT_ROOT}/sshd.log" &
	DT_SSHD_PID=$!
	_dt_save DT_SSHD_PID
	wait_until 10 port_open "${DT_SSH_PORT}" || { cat "${DT_ROOT}/sshd.log" >&2; return 1; }
	# Pinned host key: what the DEPLOY_KNOWN_HOSTS secret holds.
	printf '[127.0.0.1]:%s %s\n' "${DT_SSH_PORT}" "$(cut -d ' ' -f 1,2 "${DT_SSH}/host_key.pub")" >"${DT_SSH}/known_hosts"
}

deploytest_teardown() {
	deploytest_env
	[[ -n ${DT_ROOT:-} ]] || return 0
	load_stop || true
	if [[ -n ${DT_SSHD_PID:-} ]]; then
		kill -TERM "${DT_SSHD_PID}" 2>/dev/null || true
		wait_until 10 _dt_gone "${DT_SSHD_PID}" || kill -KILL "${DT_SSHD_PID}" 2>/dev/null || true
	fi
	if [[ -f ${DT_PM2_HOME}/pm2.pid ]]; then
		pm2_as_app kill >/dev/null 2>&1 || true
	fi
	tempdb_stop "${DT_DB}" || true
	if [[ -n ${DEPLOYTEST_KEEP:-} ]]; then
		echo "# kept ${DT_ROOT} and ${DT_SSH}" >&3
		return 0
	fi
	rm -rf -- "${DT_ROOT}" "${DT_SSH}"
}

_dt_gone() { ! kill -0 "$1" 2>/dev/null; }

# ----------------------------------------------------------------- load

# load_start NAME [ARGS...]: start load.py in the background against
# /readyz; results in DT_ROOT/load-NAME.json once load_stop has run.
load_start() {
	local name=$1
	shift
	DT_LOAD_OUT="${DT_ROOT}/load-${name}.json"
	rm -f "${DT_ROOT}/load.stop" "${DT_LOAD_OUT}" "${DT_LOAD_OUT}.started"
	python3 "${DT_REPO}/tests/deploy/load.py" "http://127.0.0.1:${DT_APP_PORT}/readyz" \
		"${DT_ROOT}/load.stop" "${DT_LOAD_OUT}" --max-seconds 240 "$@" &
	DT_LOAD_PID=$!
	wait_until 10 test -f "${DT_LOAD_OUT}.started"
	# Let it run a moment before the deploy starts.
	sleep 1
}

load_stop() {
	[[ -n ${DT_LOAD_PID:-} ]] || return 0
	: >"${DT_ROOT}/load.stop"
	wait "${DT_LOAD_PID}" || true
	DT_LOAD_PID=''
}

# ---------------------------------------------------------------- deploy

# deploy_via_workflow TARBALL [LOG]: put the release's dist/ where the workflow's
# download step puts it and run the `ship` step of deploy.yml as GitHub
# would (bash --noprofile --norc -eo pipefail), with the secrets of this
# test server. Its output goes to LOG (default DT_ROOT/ship.log); returns
# its status.
deploy_via_workflow() {
	local tarball=$1 log=${2:-${DT_ROOT}/ship.log} ws step status=0
	ws=$(mktemp -d "${DT_ROOT}/workspace.XXXXXX")
	cp -R "${tarball%/*}" "${ws}/dist"
	mkdir -p "${ws}/runner-temp" "${ws}/home"
	step="${ws}/ship.sh"
	python3 "${DT_REPO}/tests/deploy/workflow_step.py" "${DT_REPO}/.github/workflows/deploy.yml" deploy ship \
		DEPLOY_HOST DEPLOY_PORT DEPLOY_USER DEPLOY_SSH_KEY DEPLOY_KNOWN_HOSTS >"${step}" 2>"${log}" || return 1
	(
		cd "${ws}"
		env -i PATH="${PATH}" HOME="${ws}/home" LANG=C.UTF-8 \
			RUNNER_TEMP="${ws}/runner-temp" GITHUB_WORKSPACE="${ws}" \
			DEPLOY_HOST=127.0.0.1 DEPLOY_PORT="${DT_SSH_PORT}" DEPLOY_USER=root \
			DEPLOY_SSH_KEY="$(<"${DT_SSH}/deploy_key")" \
			DEPLOY_KNOWN_HOSTS="$(<"${DT_SSH}/known_hosts")" \
			bash --noprofile --norc -eo pipefail "${step}"
	) >"${ws}/ship.log" 2>&1 || status=$?
	cp "${ws}/ship.log" "${log}"
	# The runner's temporary directory holds no key afterwards.
	if [[ -n $(find "${ws}/runner-temp" -mindepth 1 -print -quit) ]]; then
		echo "the ship step left files in RUNNER_TEMP" >>"${log}"
		return 99
	fi
	return "${status}"
}
