#!/usr/bin/env bash
# MariaDB: the mail database and its least-privilege users.
#
# Starts the distribution's MariaDB (it listens on 127.0.0.1 and its unix
# socket only) and creates the database `mailnest` and one user per reader,
# each with a generated password kept root-only under /etc/mailnest/secrets:
# accountd reads and writes the whole database; postfix and dovecot get only
# SELECT on the columns they look up, granted by their own scripts once
# accountd's migrations have created the tables; roundcube's user is made
# now, with no rights yet, for the webmail issue. MariaDB is sized for a small
# mail server by a file of ours in /etc/mysql/mariadb.conf.d/ (restarted only
# when that file changes). Passwords are generated once
# and re-applied on every run, so the secrets files stay the truth.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly DB_USERS=(accountd postfix dovecot roundcube)

mariadb_answers() {
	mariadb-admin --protocol=socket --user=root ping
}

ensure_user() {
	local user=$1 pw
	pw=$(<"${MAILNEST_SECRETS}/db-${user}.pw")
	sql "CREATE USER IF NOT EXISTS '${user}'@'localhost' IDENTIFIED BY $(sql_quote "${pw}");
	     ALTER USER '${user}'@'localhost' IDENTIFIED BY $(sql_quote "${pw}");"
}

# sizing: our settings for a small mail server (issue 13; the template says
# why each). Returns 0 when the file changed (MariaDB must restart).
# MARIADB_CHARSET_COLLATIONS is read by render (the template).
# shellcheck disable=SC2034
sizing() {
	# Only MariaDB 11.2 and later know character_set_collations (and the
	# others would warn at every start about a loose- option). grep reads all
	# of the help: with -q it would stop early and fail the pipe.
	MARIADB_CHARSET_COLLATIONS="# (character_set_collations: not in this MariaDB)"
	if mariadbd --no-defaults --verbose --help 2>/dev/null | grep -- '--character-set-collations' >/dev/null; then
		MARIADB_CHARSET_COLLATIONS="character_set_collations ="
	fi
	render mariadb/70-mailnest.cnf /etc/mysql/mariadb.conf.d/70-mailnest.cnf root:root 0644 \
		MARIADB_CHARSET_COLLATIONS
}


main() {
	local user restart=""
	sizing && restart=restart
	service_converge mariadb "${restart}"
	wait_until 30 mariadb_answers || die "MariaDB does not answer on its socket; see /var/log/mysql/error.log"

	install -d -o root -g root -m 0700 -- "${MAILNEST_SECRETS}"
	step "creating database mailnest (if absent)" \
		sql "CREATE DATABASE IF NOT EXISTS mailnest CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	for user in "${DB_USERS[@]}"; do
		secret_file "${MAILNEST_SECRETS}/db-${user}.pw" root:root 0600
		step "database user ${user} with its generated password" ensure_user "${user}"
	done
	step "granting accountd read/write on mailnest.*" \
		sql "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, LOCK TABLES
		     ON mailnest.* TO 'accountd'@'localhost'"
}

main "$@"
