#!/usr/bin/env bash
# Installs one release of accountd on this server and makes it live without
# dropping a request, or puts everything back the way it was.
#
#   deploy.sh [options] accountd-VERSION.tar.gz      (run as root)
#
# The tarball is what deploy/build-release.sh makes; the SHA256SUMS written
# beside it must list it. In order, under one lock (a second deploy waits
# --lock-wait seconds, by default none, then refuses with status 75):
#  1. verify the tarball against SHA256SUMS, unpack it to
#     BASE/releases/VERSION and verify every file against the release's own
#     SHA256SUMS; run `accountd check-config` with the new binary;
#  2. back the database up (a mariadb-dump per table, in
#     BASE/backups/TIME-VERSION, mode 0700) and run `accountd migrate` with
#     the new release's migrations. MariaDB DDL is not transactional, so if a
#     migration fails the script puts the database back itself: tables the
#     migration created are dropped, tables whose definition changed (and
#     schema_migrations) are restored from the dump, and the schema is then
#     compared with the one before. Rows written meanwhile to a restored
#     table are lost (only tables the failed migration touched are
#     restored); the full dump stays in the backup directory;
#  3. switch BASE/current to the new release atomically (a symlink made
#     under a temporary name, then `mv -T` over the old one);
#  4. restart the PM2 processes of the app one at a time (`pm2 restart ID`),
#     each time waiting, at most --timeout seconds, until PM2 shows a new
#     process that stays up, that process listens on the port of the
#     readiness URL and GET /readyz answers 200 with X-Accountd-Version equal
#     to the new version. accountd listens with SO_REUSEPORT, so while one
#     process drains the other serves: with net.ipv4.tcp_migrate_req=1 not
#     even the connections queued on the closing socket are lost;
#  5. on any failure after the switch: point current back to the previous
#     release, restart the processes already restarted and wait until they
#     answer with the previous version, then exit 1 naming the reason
#     (exit 2 if even that fails: a person must look). Migrations are not
#     undone by a code rollback, which is why they must stay compatible
#     with the previous release (expand first, contract a release later);
#  6. keep the newest --keep releases and backups (default 5), delete the
#     rest (never the current or the previous release).
# What it expects of the server (the installer's layout): BASE/current, a
# symlink to a release under BASE/releases; the PM2 daemon (root's, in
# PM2_HOME) whose app runs BASE/current/bin/accountd, directly or through
# setpriv as the run-as user, as two processes (ecosystem: `instances: 2`,
# env ACCOUNTD_REUSE_PORT=1); and net.ipv4.tcp_migrate_req=1
# (e.g. /etc/sysctl.d/60-mailnest.conf), else the script warns.
# Run by hand as root:
#   deploy.sh /path/to/accountd-0.1.0+abc123.tar.gz   (SHA256SUMS beside it)
# Settings come from options, else the environment, else the file named by
# MAILNEST_DEPLOY_CONF (default /etc/mailnest/deploy.env, KEY=VALUE lines,
# optional), else the defaults below. Exit: 0 deployed (or already current),
# 1 failed and nothing changed or rolled back, 2 rollback failed, 64 usage,
# 75 another deploy is running.

# Functions called as conditions here return their status explicitly; none
# relies on set -e inside such a call.
# shellcheck disable=SC2310
set -Eeuo pipefail
shopt -s inherit_errexit nullglob

readonly settings=(MAILNEST_BASE MAILNEST_PM2_APP PM2_HOME MAILNEST_RUN_AS MAILNEST_READYZ_URL
	ACCOUNTD_CONFIG_FILE MAILNEST_KEEP MAILNEST_READY_TIMEOUT MAILNEST_SETTLE MAILNEST_LOCK_WAIT
	MAILNEST_DB_BACKUP)

usage() {
	cat >&2 <<-'EOF'
		usage: deploy.sh [options] accountd-VERSION.tar.gz
		  -b, --base DIR            install root (MAILNEST_BASE, /opt/mailnest)
		  -a, --app NAME            PM2 app name (MAILNEST_PM2_APP, accountd)
		  -H, --pm2-home DIR        PM2_HOME of root's PM2 (PM2_HOME, /var/lib/mailnest/pm2)
		  -u, --user USER           user accountd runs as (MAILNEST_RUN_AS, accountd)
		  -r, --readyz URL          readiness URL (MAILNEST_READYZ_URL, http://127.0.0.1:8080/readyz)
		  -c, --config FILE         accountd settings (ACCOUNTD_CONFIG_FILE, /etc/mailnest/accountd.env)
		  -k, --keep N              releases and backups kept (MAILNEST_KEEP, 5)
		  -t, --timeout SECONDS     readiness bound per process (MAILNEST_READY_TIMEOUT, 60)
		      --settle SECONDS      a new process must stay up this long (MAILNEST_SETTLE, 2)
		  -w, --lock-wait SECONDS   wait for another deploy, 0 = refuse (MAILNEST_LOCK_WAIT, 0)
		      --no-db-backup        skip the dump (then a failed migration is not undone)
		  -f, --force               redeploy even if VERSION is already current
		  -s, --sums FILE           checksum list (default: SHA256SUMS beside the tarball)
	EOF
	exit 64
}

# ---------------------------------------------------------------- output

say() { printf 'deploy: %s\n' "$*" >&2; }
step() { printf 'deploy: [%4ss] %s\n' "$((SECONDS))" "$*" >&2; }

# ------------------------------------------------------------- settings

load_settings() {	# environment > MAILNEST_DEPLOY_CONF file > defaults
	local conf=${MAILNEST_DEPLOY_CONF:-/etc/mailnest/deploy.env} line key value
	declare -gA file_values=()
	if [[ -f ${conf} ]]; then
		while IFS= read -r line || [[ -n ${line} ]]; do
			[[ ${line} =~ ^[[:space:]]*(#|$) ]] && continue
			[[ ${line} =~ ^[[:space:]]*([A-Z0-9_]+)=(.*)$ ]] || { say "${conf}: cannot parse: ${line}"; exit 64; }
			key=${BASH_REMATCH[1]}
			value=${BASH_REMATCH[2]}
			[[ " ${settings[*]} " == *" ${key} "* ]] || { say "${conf}: unknown setting ${key}"; exit 64; }
			file_values[${key}]=${value}
		done <"${conf}"
	fi
	setting() { local name=$1 def=$2; printf '%s' "${!name:-${file_values[${name}]:-${def}}}"; }
	base=$(setting MAILNEST_BASE /opt/mailnest)
	app=$(setting MAILNEST_PM2_APP accountd)
	pm2_home=$(setting PM2_HOME /var/lib/mailnest/pm2)
	run_as=$(setting MAILNEST_RUN_AS accountd)
	readyz_url=$(setting MAILNEST_READYZ_URL http://127.0.0.1:8080/readyz)
	config_file=$(setting ACCOUNTD_CONFIG_FILE /etc/mailnest/accountd.env)
	keep=$(setting MAILNEST_KEEP 5)
	ready_timeout=$(setting MAILNEST_READY_TIMEOUT 60)
	settle=$(setting MAILNEST_SETTLE 2)
	lock_wait=$(setting MAILNEST_LOCK_WAIT 0)
	db_backup=$(setting MAILNEST_DB_BACKUP 1)
}

parse_options() {
	force=0
	sums=''
	tarball=''
	while (($# > 0)); do
		case $1 in
		-b | --base) base=${2:?}; shift ;;
		-a | --app) app=${2:?}; shift ;;
		-H | --pm2-home) pm2_home=${2:?}; shift ;;
		-u | --user) run_as=${2:?}; shift ;;
		-r | --readyz) readyz_url=${2:?}; shift ;;
		-c | --config) config_file=${2:?}; shift ;;
		-k | --keep) keep=${2:?}; shift ;;
		-t | --timeout) ready_timeout=${2:?}; shift ;;
		--settle) settle=${2:?}; shift ;;
		-w | --lock-wait) lock_wait=${2:?}; shift ;;
		--no-db-backup) db_backup=0 ;;
		-f | --force) force=1 ;;
		-s | --sums) sums=${2:?}; shift ;;
		-h | --help) usage ;;
		-*) say "unknown option $1"; usage ;;
		*) [[ -z ${tarball} ]] || usage; tarball=$1 ;;
		esac
		shift
	done
	[[ -n ${tarball} ]] || usage
	local n
	for n in "${keep}" "${ready_timeout}" "${settle}" "${lock_wait}"; do
		[[ ${n} =~ ^[0-9]+$ ]] || { say "not a number: ${n}"; usage; }
	done
	((keep >= 2)) || { say "--keep must be at least 2 (current and previous)"; usage; }
	[[ ${readyz_url} =~ ^https?://(\[[^]]+\]|[^/:]+):([0-9]+)/ ]] || { say "readiness URL must name its port: ${readyz_url}"; usage; }
	readyz_port=${BASH_REMATCH[2]}
}

# --------------------------------------------------------- run-as helpers

as_app_user() {	# CMD...: run CMD as the run-as user (from /: an SSH session's /root is not its to enter)
	runuser -u "${run_as}" -- env -C / "$@"
}

# pm2_run ARGS...: pm2 against root's daemon in PM2_HOME (from there: a
# daemon PM2 would start keeps its working directory).
pm2_run() { env -C "${pm2_home}" PM2_HOME="${pm2_home}" pm2 "$@"; }

# pm2_instances: one line per process of the app, sorted by id:
# "ID PID STATUS RESTARTS PROGRAM" (STATUS with "_" for spaces, as in
# waiting_restart; PROGRAM the script, or the argument under BASE/current/
# when the script is setpriv). Node is there wherever PM2 is.
pm2_instances() {
	local json
	json=$(pm2_run jlist 2>/dev/null) || return 1
	# shellcheck disable=SC2016 # JavaScript, not shell
	node -e '
		const lines = require("fs").readFileSync(0, "utf8").split("\n");
		const json = lines.filter((l) => l.startsWith("[")).pop();
		if (json === undefined) process.exit(1);
		JSON.parse(json)
			.filter((p) => p.name === process.argv[1])
			.sort((a, b) => a.pm_id - b.pm_id)
			.forEach((p) => console.log([p.pm_id, p.pid || 0, String(p.pm2_env.status).replace(/ /g, "_"),
				p.pm2_env.restart_time,
				[].concat(p.pm2_env.args || []).find((a) => String(a).startsWith(process.argv[2])) ||
					p.pm2_env.pm_exec_path].join(" ")));
	' "${app}" "${base}/current/" <<<"${json}"
}

pm2_daemon_alive() {
	local pid
	[[ -r ${pm2_home}/pm2.pid ]] || return 1
	pid=$(<"${pm2_home}/pm2.pid")
	[[ ${pid} =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null
}

# ---------------------------------------------------------- readiness

# probe: print "STATUS VERSION" of one GET of the readiness URL, on a
# connection of its own (so that successive probes spread over the
# processes sharing the port).
probe() {
	local headers status version
	headers=$(curl -sS --max-time 2 -o /dev/null -D - -H 'Connection: close' "${readyz_url}" 2>/dev/null) || {
		echo "000 -"
		return 0
	}
	status=$(awk 'NR == 1 { print $2 }' <<<"${headers}")
	version=$(awk 'tolower($1) == "x-accountd-version:" { sub(/\r$/, "", $2); print $2 }' <<<"${headers}")
	echo "${status:-000} ${version:--}"
}

pid_listens() {	# PID: does it hold a listening socket on the readiness port?
	ss -Hltnp "sport = :${readyz_port}" 2>/dev/null | grep -q "pid=$1,"
}

# wait_ready ID OLD_PID VERSION: wait until process ID is a new process that
# has stayed up for the settle time, listens, and /readyz answers 200 from
# VERSION. Sets ready_why to what was last missing.
wait_ready() {
	local id=$1 old_pid=$2 want=$3 deadline=$((SECONDS + ready_timeout))
	local line pid status restarts stable_pid=0 stable_since=0 answer
	ready_why="no answer yet"
	while ((SECONDS < deadline)); do
		line=$(pm2_instances | awk -v id="${id}" '$1 == id') || line=''
		read -r _ pid status restarts _ <<<"${line:-x 0 missing 0 x}"
		if [[ ${status} != online || ${pid} == 0 || ${pid} == "${old_pid}" ]]; then
			ready_why="PM2 shows process ${id} as ${status} (pid ${pid}, ${restarts} restarts)"
			stable_pid=0
		elif ((pid != stable_pid)); then
			stable_pid=${pid}
			stable_since=${SECONDS}
			ready_why="process ${id} (pid ${pid}) just started"
		elif ! pid_listens "${pid}"; then
			ready_why="process ${id} (pid ${pid}) does not listen on port ${readyz_port}"
		else
			answer=$(probe)
			if [[ ${answer} != "200 ${want}" ]]; then
				ready_why="${readyz_url} answered '${answer}', want '200 ${want}'"
			elif ((SECONDS - stable_since >= settle)); then
				return 0
			else
				ready_why="process ${id} (pid ${pid}) up for less than ${settle} s"
			fi
		fi
		sleep 0.2
	done
	return 1
}

# restart_one ID VERSION: restart process ID and wait until it is ready.
restart_one() {
	local id=$1 want=$2 old_pid line out
	line=$(pm2_instances | awk -v id="${id}" '$1 == id') || line=''
	read -r _ old_pid _ <<<"${line:-x 0}"
	# PM2 refuses to restart a process that is waiting to be restarted after
	# a crash ("Process with pid N already exists"): stop it first.
	if ! out=$(pm2_run restart "${id}" 2>&1); then
		pm2_run stop "${id}" >/dev/null 2>&1 || true
		out=$(pm2_run restart "${id}" 2>&1) || {
			ready_why="pm2 restart ${id} failed: $(tail -n 3 <<<"${out}")"
			return 1
		}
	fi
	wait_ready "${id}" "${old_pid}" "${want}"
}

# ------------------------------------------------------------ database

db_value() {	# KEY DEFAULT: an accountd setting, environment first, then its file
	local key=$1 def=$2 line file_value='' have=0
	if [[ -n ${!key+x} ]]; then
		printf '%s' "${!key}"
		return
	fi
	while IFS= read -r line || [[ -n ${line} ]]; do
		if [[ ${line} =~ ^[[:space:]]*${key}[[:space:]]*=(.*)$ ]]; then
			file_value=${BASH_REMATCH[1]}
			have=1
		fi
	done <"${config_file}"
	if ((have)); then printf '%s' "${file_value}"; else printf '%s' "${def}"; fi
}

cnf_quote() {	# a value for a MariaDB option file: in double quotes, escaped
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# db_prepare: a client option file (mode 0600) with accountd's own DB
# credentials, so the password is on no command line.
db_prepare() {
	local host port socket user password password_file
	host=$(db_value ACCOUNTD_DB_HOST localhost)
	port=$(db_value ACCOUNTD_DB_PORT 3306)
	socket=$(db_value ACCOUNTD_DB_SOCKET '')
	user=$(db_value ACCOUNTD_DB_USER accountd)
	db_name=$(db_value ACCOUNTD_DB_NAME mailnest)
	password=$(db_value ACCOUNTD_DB_PASSWORD '')
	password_file=$(db_value ACCOUNTD_DB_PASSWORD_FILE '')
	if [[ -z ${password} && -n ${password_file} ]]; then
		IFS= read -r password <"${password_file}" || [[ -n ${password} ]]
	fi
	db_conf="${work}/client.cnf"
	(
		umask 077
		{
			echo '[client]'
			echo "user=$(cnf_quote "${user}")"
			echo "password=$(cnf_quote "${password}")"
			if [[ -n ${socket} ]]; then
				echo "socket=$(cnf_quote "${socket}")"
			elif [[ ${host} != localhost ]]; then
				echo "host=$(cnf_quote "${host}")"
				echo "port=${port}"
			fi
		} >"${db_conf}"
	)
}

db_sql() { mariadb --defaults-file="${db_conf}" --batch --skip-column-names "${db_name}" -e "$1"; }

# db_schema DIR: the list of tables and views ("NAME TYPE") in DIR/tables
# and each one's definition, AUTO_INCREMENT counters left out, in
# DIR/schema/NAME.
db_schema() {
	local dir=$1 name
	mkdir -p "${dir}/schema" || return 1
	db_sql "SELECT table_name, REPLACE(table_type, ' ', '_') FROM information_schema.tables
		WHERE table_schema = DATABASE() ORDER BY table_name" >"${dir}/tables" || return 1
	while read -r name _; do
		db_sql "SHOW CREATE TABLE \`${name}\`" | sed -E 's/ AUTO_INCREMENT=[0-9]+//' >"${dir}/schema/${name}" || return 1
	done <"${dir}/tables"
	db_sql "SELECT trigger_name, event_object_table, action_timing, event_manipulation, action_statement
		FROM information_schema.triggers WHERE trigger_schema = DATABASE() ORDER BY trigger_name" >"${dir}/triggers"
}

db_backup_now() {
	local name
	backup_dir="${base}/backups/$(date -u +%Y%m%dT%H%M%SZ)-${version}"
	mkdir -p "${backup_dir}/dump" || return 1
	chmod 0700 "${backup_dir}" || return 1
	db_schema "${backup_dir}/before" || return 1
	while read -r name _; do
		mariadb-dump --defaults-file="${db_conf}" --single-transaction --quick --skip-dump-date \
			--no-tablespaces --hex-blob "${db_name}" "${name}" >"${backup_dir}/dump/${name}.sql" || return 1
	done <"${backup_dir}/before/tables"
}

# db_restore: undo what a failed migration did (see the top of this file).
db_restore() {
	local now="${backup_dir}/after-failure" name type
	db_schema "${now}"
	while read -r name type; do
		grep -q "^${name}[[:space:]]" "${backup_dir}/before/tables" && continue
		say "database: dropping ${name}, made by the failed migration"
		if [[ ${type} == VIEW ]]; then
			db_sql "DROP VIEW \`${name}\`"
		else
			db_sql "SET FOREIGN_KEY_CHECKS = 0; DROP TABLE \`${name}\`"
		fi
	done <"${now}/tables"
	while read -r name type; do
		if [[ ${name} == schema_migrations ]] || ! cmp -s "${backup_dir}/before/schema/${name}" "${now}/schema/${name}"; then
			say "database: restoring ${name} from ${backup_dir}/dump/${name}.sql"
			mariadb --defaults-file="${db_conf}" "${db_name}" <"${backup_dir}/dump/${name}.sql"
		fi
	done <"${backup_dir}/before/tables"
	db_schema "${backup_dir}/restored"
	diff -r "${backup_dir}/before" "${backup_dir}/restored" >&2
}

# ------------------------------------------------------------- releases

# release_version DIR: the version the release's accountd reports (what
# /readyz shows in X-Accountd-Version): its VERSION file, or for a release
# the installer built, `accountd version`.
release_version() {
	if [[ -f $1/VERSION ]]; then
		printf '%s\n' "$(<"$1/VERSION")"
	else
		as_app_user "$1/bin/accountd" version 2>/dev/null | awk 'NR == 1 { print $2 }'
	fi
}

switch_current() {	# RELEASE_DIR: point BASE/current at it, atomically
	local tmp="${base}/.current.$$"
	ln -sfn -- "releases/${1##*/}" "${tmp}"
	mv -T -- "${tmp}" "${base}/current"
}

prune() {	# keep the newest $keep entries of DIR, never those named
	local dir=$1 entry n=0
	shift
	while IFS= read -r entry; do
		[[ -n ${entry} ]] || continue
		n=$((n + 1))
		((n > keep)) || continue
		[[ " $* " == *" ${entry} "* ]] && continue
		say "pruning ${dir}/${entry}"
		rm -rf -- "${dir:?}/${entry:?}"
	done < <(find "${dir}" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%T@ %f\n' | sort -rn | cut -d ' ' -f 2-)
}

unpack() {	# verify and unpack the tarball to BASE/releases/VERSION
	local dir name line
	dir=$(dirname -- "${tarball}")
	name=$(basename -- "${tarball}")
	[[ ${name} =~ ^accountd-([0-9A-Za-z.+_-]+)\.tar\.gz$ ]] || fail "the tarball must be named accountd-VERSION.tar.gz, not ${name}"
	version=${BASH_REMATCH[1]}
	[[ -n ${sums} ]] || sums="${dir}/SHA256SUMS"
	[[ -r ${sums} ]] || fail "no checksum list ${sums}"
	line=$(awk -v n="${name}" '$2 == n || $2 == "*" n' "${sums}")
	[[ -n ${line} ]] || fail "${sums} does not list ${name}"
	(cd "${dir}" && sha256sum --quiet --strict -c - <<<"${line}") >&2 || fail "${name} does not match its checksum in ${sums}"
	step "verified ${name} (sha256 ${line%% *})"

	mkdir -p "${base}/releases" "${base}/backups"
	chmod 0700 "${base}/backups"
	incoming=$(mktemp -d "${base}/releases/.incoming.XXXXXX")
	tar -xzf "${tarball}" -C "${incoming}" --no-same-owner --no-same-permissions || fail "cannot unpack ${name}"
	local top="${incoming}/accountd-${version}"
	[[ -d ${top} ]] || fail "${name} has no accountd-${version}/ directory"
	(cd "${top}" && sha256sum --quiet --strict -c SHA256SUMS) >&2 || fail "files in ${name} do not match its SHA256SUMS"
	[[ $(<"${top}/VERSION") == "${version}" ]] || fail "${name} says it is version $(<"${top}/VERSION")"
	[[ -x ${top}/bin/accountd ]] || fail "${name} has no bin/accountd"
	chmod -R u=rwX,go=rX "${top}"

	release="${base}/releases/${version}"
	if [[ -d ${release} ]] && cmp -s "${release}/SHA256SUMS" "${top}/SHA256SUMS" &&
		(cd "${release}" && sha256sum --quiet --strict -c SHA256SUMS) >/dev/null 2>&1; then
		step "release ${version} already unpacked and intact"
		rm -rf -- "${incoming}"
	else
		[[ ${release} != "${previous}" ]] || fail "the unpacked ${release} differs from ${name} but is live; refusing to replace it"
		[[ ! -e ${release} ]] || mv -T -- "${release}" "${incoming}/old"
		mv -T -- "${top}" "${release}"
		rm -rf -- "${incoming}"
		step "unpacked to ${release}"
	fi
	incoming=''
	touch -- "${release}"
}

# --------------------------------------------------------------- failure

# fail REASON: undo what has been done so far, say why, exit.
fail() {
	local reason=$1 id
	trap - ERR
	set +e
	say "FAILED: ${reason}"
	[[ -z ${incoming} ]] || rm -rf -- "${incoming}"
	case ${phase} in
	prepare)
		say "nothing was changed${previous_version:+; ${previous_version} is still live}"
		exit 1
		;;
	migrating)
		if [[ -z ${backup_dir} ]]; then
			say "the database was not backed up (--no-db-backup): check it by hand"
			exit 2
		fi
		if db_restore; then
			say "database restored to its state before the migration (backup kept in ${backup_dir})"
			say "nothing else was changed${previous_version:+; ${previous_version} is still live}"
			exit 1
		fi
		say "DATABASE NOT RESTORED: restore it by hand from ${backup_dir}/dump"
		exit 2
		;;
	switched) ;;
	*) exit 1 ;;
	esac
	if [[ -z ${previous} ]]; then
		say "there is no previous release to roll back to"
		exit 2
	fi
	say "rolling back to ${previous_version}"
	switch_current "${previous}"
	for id in "${restarted[@]}"; do
		if restart_one "${id}" "${previous_version}"; then
			step "process ${id} serves ${previous_version} again"
		else
			say "ROLLBACK FAILED: process ${id}: ${ready_why}"
			exit 2
		fi
	done
	say "rolled back: ${previous_version} is live again; ${version} is not (reason above)"
	exit 1
}

on_error() {
	local status=$1 line=$2 cmd=$3
	fail "unexpected error (status ${status}) at line ${line}: ${cmd}"
}

# ------------------------------------------------------------------ main

main() {
	local id line
	phase=prepare
	incoming=''
	previous=''
	previous_version=''
	backup_dir=''
	restarted=()
	version=''
	trap 'on_error $? ${LINENO} "${BASH_COMMAND}"' ERR
	trap '' HUP # a dropped SSH connection must not stop a deploy half-way

	load_settings
	parse_options "$@"
	[[ -f ${tarball} ]] || fail "no such file: ${tarball}"
	tarball=$(realpath -- "${tarball}")
	[[ ${tarball##*/} =~ ^accountd-([0-9A-Za-z.+_-]+)\.tar\.gz$ ]] || fail "the tarball must be named accountd-VERSION.tar.gz, not ${tarball##*/}"
	[[ -z ${sums} ]] || sums=$(realpath -- "${sums}")
	[[ -d ${base} ]] || fail "no base directory ${base} (run the installer first, or give --base)"
	base=$(cd -- "${base}" && pwd -P)
	cd /

	((EUID == 0)) || fail "run as root (PM2 is root's)"
	local tool
	for tool in curl node pm2 sha256sum tar flock ss mariadb mariadb-dump; do
		command -v "${tool}" >/dev/null || fail "${tool} is missing"
	done

	# One deploy at a time. The lock file also says who holds it.
	local lock="${base}/.deploy.lock" lock_fd
	exec {lock_fd}<>"${lock}"
	if ! flock -w "${lock_wait}" "${lock_fd}"; then
		say "another deploy is running ($(tr -d '\n' <"${lock}" || true)); refusing (use --lock-wait to wait)"
		exit 75
	fi
	printf 'pid %s, %s, since %s\n' "$$" "$(basename -- "${tarball}")" "$(date -u +%FT%TZ)" >"${lock}"

	work=$(mktemp -d)
	trap 'rm -rf -- "${work}"' EXIT

	if [[ -L ${base}/current ]]; then
		previous=$(realpath -- "${base}/current")
		previous_version=$(release_version "${previous}")
		[[ -n ${previous_version} ]] || fail "cannot tell the version of the live release ${previous}"
	elif [[ -e ${base}/current ]]; then
		fail "${base}/current is not a symlink (the installer makes it one, to releases/VERSION)"
	fi
	step "deploying $(basename -- "${tarball}") to ${base} (live now: ${previous_version:-nothing})"

	pm2_daemon_alive || fail "no PM2 daemon in ${pm2_home} (run the installer first)"
	local -a ids=()
	while read -r id _ _ _ line; do
		[[ ${line} == "${base}/current/"* ]] || fail "PM2 process ${id} runs ${line}, not a program under ${base}/current"
		ids+=("${id}")
	done < <(pm2_instances)
	((${#ids[@]} > 0)) || fail "PM2 in ${pm2_home} has no app named ${app}"
	((${#ids[@]} > 1)) || say "warning: ${app} has one process: requests fail while it restarts (set instances: 2)"

	unpack
	if [[ ${release} == "${previous}" ]] && ((force == 0)); then
		step "${version} is already live; nothing to do (--force restarts it anyway)"
		exit 0
	fi
	as_app_user env ACCOUNTD_CONFIG_FILE="${config_file}" "${release}/bin/accountd" check-config >"${work}/check.log" 2>&1 ||
		fail "the new accountd rejects the configuration: $(tail -n 3 "${work}/check.log")"
	step "accountd ${version} accepts ${config_file}"
	if [[ -f ${base}/ecosystem.config.js ]] && ! cmp -s "${base}/ecosystem.config.js" "${release}/ecosystem.config.js"; then
		say "note: this release's ecosystem.config.js differs from ${base}/ecosystem.config.js; PM2 keeps the installed one (run the installer to apply it)"
	fi
	if [[ $(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo 1) == 0 ]]; then
		say "warning: net.ipv4.tcp_migrate_req is 0: connections queued on a stopping process may be reset (set it to 1)"
	fi

	# The database.
	if ((db_backup)); then
		db_prepare
		db_backup_now || fail "cannot back the database up"
		step "database ${db_name} backed up to ${backup_dir}"
	fi
	phase=migrating
	if ! as_app_user env ACCOUNTD_CONFIG_FILE="${config_file}" \
		ACCOUNTD_MIGRATIONS_DIR="${release}/share/mailnest/migrations" \
		"${release}/bin/accountd" migrate >"${work}/migrate.log" 2>&1; then
		line=$(grep -E '^accountd: ' "${work}/migrate.log" | tail -n 1) || line=$(tail -n 3 "${work}/migrate.log")
		fail "${line:-accountd migrate failed}"
	fi
	step "$(tail -n 1 "${work}/migrate.log")"

	# The code.
	phase=switched
	switch_current "${release}"
	step "current -> releases/${version}"
	for id in "${ids[@]}"; do
		restarted+=("${id}")
		restart_one "${id}" "${version}" ||
			fail "process ${id} did not serve ${version} within ${ready_timeout} s: ${ready_why}"
		step "process ${id} serves ${version}"
	done
	phase=finished

	# The deploy is done: a failure to prune is only worth a warning.
	prune "${base}/releases" "${version}" "${previous##*/}" || say "warning: could not prune ${base}/releases"
	prune "${base}/backups" "${backup_dir##*/}" || say "warning: could not prune ${base}/backups"
	step "deployed ${version} (previous: ${previous_version:-none})"
}

main "$@"
