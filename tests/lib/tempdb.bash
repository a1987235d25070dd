# shellcheck shell=bash
# A throw-away MariaDB server for tests and benchmarks: its own data
# directory, socket and port, so it works whether or not a system MariaDB
# runs. Source this file, then:
#   tempdb_start DIR        start a server in DIR (created), root over the socket
#   tempdb_stop DIR         stop it (SIGTERM, bounded wait)
#   tempdb_sql DIR SQL...   run SQL as root
#   tempdb_socket DIR       print the socket path
# Every wait is a bounded poll; nothing sleeps and hopes.

tempdb_socket() { printf '%s/mysqld.sock\n' "$1"; }

tempdb_sql() {
	local dir=$1
	shift
	mariadb --no-defaults --socket="$(tempdb_socket "${dir}")" -uroot --batch --skip-column-names -e "$*"
}

# _tempdb_wait_until TRIES CMD...: retry CMD every 0.1 s, TRIES times.
_tempdb_wait_until() {
	local tries=$1
	shift
	while ((tries-- > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# tempdb_start DIR: start the server. Commits are flushed to disk once a
# second (fast tests); TEMPDB_DURABLE=1 flushes every commit, as an installed
# MariaDB does (benchmarks).
tempdb_start() {
	local dir=$1 flush=2
	[[ -n ${TEMPDB_DURABLE:-} ]] && flush=1
	mkdir -p "${dir}/data"
	if [[ ! -d ${dir}/data/mysql ]]; then
		mariadb-install-db --no-defaults --datadir="${dir}/data" --user="$(id -un)" \
			--auth-root-authentication-method=socket --skip-test-db >"${dir}/install.log" 2>&1 || {
			cat "${dir}/install.log" >&2
			return 1
		}
	fi
	mariadbd --no-defaults --datadir="${dir}/data" --socket="$(tempdb_socket "${dir}")" \
		--skip-networking --pid-file="${dir}/mysqld.pid" --user="$(id -un)" \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
		--innodb-flush-log-at-trx-commit="${flush}" --log-error="${dir}/error.log" &
	_tempdb_wait_until 300 mariadb-admin --no-defaults --socket="$(tempdb_socket "${dir}")" -uroot ping || {
		cat "${dir}/error.log" >&2
		return 1
	}
}

tempdb_stop() {
	local dir=$1 pid
	[[ -f ${dir}/mysqld.pid ]] || return 0
	pid=$(<"${dir}/mysqld.pid")
	kill -TERM "${pid}" 2>/dev/null || return 0
	_tempdb_wait_until 300 _tempdb_gone "${pid}" || kill -KILL "${pid}" 2>/dev/null || true
}

_tempdb_gone() { ! kill -0 "$1" 2>/dev/null; }

# tempdb_create_app DIR DB USER PASSWORD: a database and a user with full
# rights on it, the way the installer grants accountd.
tempdb_create_app() {
	local dir=$1 db=$2 user=$3 password=$4
	tempdb_sql "${dir}" "CREATE DATABASE IF NOT EXISTS \`${db}\`;
		CREATE USER IF NOT EXISTS '${user}'@'localhost' IDENTIFIED BY '${password}';
		GRANT ALL ON \`${db}\`.* TO '${user}'@'localhost';"
}
