#!/usr/bin/env bash
# Shared helpers for install.sh and the component scripts under install/.
#
# Every component script sources this file. It gives them one way to print
# progress (one line per step, the failing command's output on failure), to
# install files only when their content changed (so that a re-run restarts
# nothing that did not change), to render templates with an explicit list of
# variables, to generate secrets only when absent, and to start, reload or
# restart daemons the same way with or without systemd as PID 1.
#
# It only defines functions and constants; sourcing it changes nothing.

# Predicates (has_systemd, service_is_running, ...) are meant to be called in
# conditions, where set -e does not apply to them; they never rely on it.
# shellcheck disable=SC2310
set -Eeuo pipefail
shopt -s inherit_errexit

MAILNEST_SRC=${MAILNEST_SRC:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)}
export MAILNEST_SRC

# The constants below are used by the scripts that source this file.
# shellcheck disable=SC2034
readonly MAILNEST_ETC=/etc/mailnest
readonly MAILNEST_CONF=${MAILNEST_ETC}/mailnest.conf
readonly MAILNEST_SECRETS=${MAILNEST_ETC}/secrets
readonly MAILNEST_OPT=/opt/mailnest
readonly MAILNEST_STATE=/var/lib/mailnest
readonly MAILNEST_LOG=/var/log/mailnest
readonly MAILNEST_TEMPLATES=${MAILNEST_SRC}/install/templates
export MAILNEST_ETC MAILNEST_CONF MAILNEST_SECRETS MAILNEST_OPT MAILNEST_STATE MAILNEST_LOG

# The settings install.sh keeps in ${MAILNEST_CONF}, in the order written,
# and exports to the component scripts (empty here until install.sh sets them).
# shellcheck disable=SC2034
readonly MAILNEST_SETTINGS=(MAILNEST_DOMAIN MAILNEST_HOSTNAME MAILNEST_TRIAL
	MAILNEST_TLS_CERT MAILNEST_TLS_KEY MAILNEST_DNS MAILNEST_MESSAGE_SIZE_LIMIT
	MAILNEST_QUOTA_FULL MAILNEST_DEFAULT_QUOTA_BYTES MAILNEST_ACCOUNTD_LISTEN
	MAILNEST_ROUNDCUBE_URL MAILNEST_ROUNDCUBE_SHA256 MAILNEST_PLAIN_PORTS
	MAILNEST_FIREWALL)
MAILNEST_DOMAIN=${MAILNEST_DOMAIN-}
MAILNEST_HOSTNAME=${MAILNEST_HOSTNAME-}
MAILNEST_TRIAL=${MAILNEST_TRIAL-}
MAILNEST_TLS_CERT=${MAILNEST_TLS_CERT-}
MAILNEST_TLS_KEY=${MAILNEST_TLS_KEY-}
MAILNEST_DNS=${MAILNEST_DNS-}
MAILNEST_MESSAGE_SIZE_LIMIT=${MAILNEST_MESSAGE_SIZE_LIMIT-}
MAILNEST_QUOTA_FULL=${MAILNEST_QUOTA_FULL-}
MAILNEST_DEFAULT_QUOTA_BYTES=${MAILNEST_DEFAULT_QUOTA_BYTES-}
MAILNEST_ACCOUNTD_LISTEN=${MAILNEST_ACCOUNTD_LISTEN-}
MAILNEST_ROUNDCUBE_URL=${MAILNEST_ROUNDCUBE_URL-}
MAILNEST_ROUNDCUBE_SHA256=${MAILNEST_ROUNDCUBE_SHA256-}
MAILNEST_PLAIN_PORTS=${MAILNEST_PLAIN_PORTS-}
MAILNEST_FIREWALL=${MAILNEST_FIREWALL-}

# ---- progress ---------------------------------------------------------------

_step_log=""

# say MESSAGE: one line of progress for the component that is running.
say() {
	printf '%s %s\n' "[${MAILNEST_COMPONENT:-install}]" "$*"
}

warn() {
	printf '%s warning: %s\n' "[${MAILNEST_COMPONENT:-install}]" "$*" >&2
}

# die MESSAGE: stop the installation, saying what to do.
die() {
	printf '%s error: %s\n' "[${MAILNEST_COMPONENT:-install}]" "$*" >&2
	exit 1
}

# step DESCRIPTION COMMAND...: run COMMAND quietly, print one line saying what
# was done and whether it finished; on failure print the command's output and
# stop.
step() {
	local desc=$1 rc=0
	shift
	_step_log=$(mktemp)
	"$@" >"${_step_log}" 2>&1 || rc=$?
	if ((rc != 0)); then
		say "${desc} ... FAILED (exit ${rc}: $*)"
		sed 's/^/    | /' -- "${_step_log}" >&2
		rm -f -- "${_step_log}"
		die "fix the cause above and run ./install.sh again (it is safe to re-run)"
	fi
	say "${desc} ... done"
	rm -f -- "${_step_log}"
}

# ---- files ------------------------------------------------------------------

# install_if_changed SRC DST OWNER:GROUP MODE: install SRC as DST when the
# content differs; always re-apply owner and mode. Returns 0 when the file was
# (re)written, 1 when it was already identical.
install_if_changed() {
	local src=$1 dst=$2 owner=$3 mode=$4
	if [[ -f ${dst} ]] && cmp -s -- "${src}" "${dst}"; then
		chown -- "${owner}" "${dst}"
		chmod -- "${mode}" "${dst}"
		return 1
	fi
	install -D -o "${owner%:*}" -g "${owner#*:}" -m "${mode}" -- "${src}" "${dst}"
	return 0
}

# render TEMPLATE DST OWNER:GROUP MODE VAR...: substitute only the named
# variables (so that ${...} meant for the daemon survives) and install the
# result if it changed. Same return values as install_if_changed.
render() {
	local tmpl=$1 dst=$2 owner=$3 mode=$4 tmp rc=0 var list=""
	shift 4
	for var in "$@"; do
		[[ -v ${var} ]] || die "template ${tmpl}: variable ${var} is not set"
		export "${var?}"
		list+="\${${var}} "
	done
	tmp=$(mktemp)
	envsubst "${list}" <"${MAILNEST_TEMPLATES}/${tmpl}" >"${tmp}"
	install_if_changed "${tmp}" "${dst}" "${owner}" "${mode}" || rc=$?
	rm -f -- "${tmp}"
	return "${rc}"
}

# write_if_changed DST OWNER:GROUP MODE: install standard input as DST if it
# changed. Same return values as install_if_changed.
write_if_changed() {
	local dst=$1 owner=$2 mode=$3 tmp rc=0
	tmp=$(mktemp)
	cat >"${tmp}"
	install_if_changed "${tmp}" "${dst}" "${owner}" "${mode}" || rc=$?
	rm -f -- "${tmp}"
	return "${rc}"
}

# secret_file PATH OWNER:GROUP MODE: create PATH with a random 40-character
# hex secret if it is absent; re-apply owner and mode; print nothing.
secret_file() {
	local path=$1 owner=$2 mode=$3
	if [[ ! -s ${path} ]]; then
		(umask 077 && openssl rand -hex 20 >"${path}")
	fi
	chown -- "${owner}" "${path}"
	chmod -- "${mode}" "${path}"
}

# ---- daemons ----------------------------------------------------------------

has_systemd() {
	[[ -d /run/systemd/system ]]
}

# service_do NAME ACTION: start|stop|restart|reload a daemon through systemd
# where it is PID 1, through its init script otherwise.
service_do() {
	local name=$1 action=$2
	if has_systemd; then
		systemctl "${action}" "${name}"
	else
		service "${name}" "${action}"
	fi
}

# service_is_running NAME
service_is_running() {
	local name=$1
	if has_systemd; then
		systemctl is-active --quiet "${name}"
	else
		service "${name}" status >/dev/null 2>&1
	fi
}

# service_enable NAME: start at boot (systemd only; init scripts of Debian
# packages are enabled on install).
service_enable() {
	if has_systemd; then
		systemctl enable --quiet "$1"
	fi
}

# service_converge NAME CHANGED: start NAME if it is down; otherwise reload
# it when CHANGED is "reload", restart it when CHANGED is "restart", leave it
# alone when CHANGED is empty.
service_converge() {
	local name=$1 changed=${2:-}
	service_enable "${name}"
	if ! service_is_running "${name}"; then
		step "starting ${name}" service_do "${name}" start
	elif [[ -n ${changed} ]]; then
		step "${changed}ing ${name} (configuration changed)" service_do "${name}" "${changed}"
	else
		say "${name} is running and its configuration is unchanged"
	fi
}

# wait_until SECONDS COMMAND...: the bounded poll, shared with the tests.
# shellcheck source=install/wait.sh
source "${BASH_SOURCE[0]%/*}/wait.sh"

# ---- database ---------------------------------------------------------------

# sql STATEMENTS: run SQL as MariaDB's root (unix socket authentication).
sql() {
	mariadb --protocol=socket --user=root --batch --skip-column-names -e "$1"
}

# sql_quote STRING: STRING as a single-quoted SQL literal (secrets are hex,
# names are validated, but quote anyway).
sql_quote() {
	local s=${1//\\/\\\\}
	printf "'%s'" "${s//\'/\'\'}"
}

# tls_changed_for DAEMON: true when the certificate or key changed since the
# last time this was asked for DAEMON (then DAEMON must reload to use them).
tls_changed_for() {
	local stamp=${MAILNEST_STATE}/tls.$1.sha256 now old=""
	now=$(cat -- "${MAILNEST_ETC}/tls/mailnest.crt" "${MAILNEST_ETC}/tls/mailnest.key" | sha256sum)
	[[ -f ${stamp} ]] && old=$(<"${stamp}")
	[[ ${now} == "${old}" ]] && return 1
	install -d -m 0755 -- "${MAILNEST_STATE}"
	printf '%s\n' "${now}" >"${stamp}"
}

# ---- the operating system ---------------------------------------------------

# The systems the installer is tested on (tests/os/run), as "ID VERSION_ID"
# from /etc/os-release.
# shellcheck disable=SC2034
readonly MAILNEST_SUPPORTED_OS=("debian 12" "debian 13" "ubuntu 22.04" "ubuntu 24.04" "ubuntu 26.04")

# os_release_field KEY: the value of KEY in /etc/os-release (read, not
# executed), without quotes; empty when absent.
os_release_field() {
	local key=$1 line value=""
	[[ -r /etc/os-release ]] || return 0
	while IFS= read -r line; do
		if [[ ${line} == "${key}="* ]]; then
			value=${line#*=}
			value=${value#[\"\']}
			value=${value%[\"\']}
		fi
	done </etc/os-release
	printf '%s\n' "${value}"
}

# os_check FORCE: stop, before anything is changed, on a system that is not
# in MAILNEST_SUPPORTED_OS, saying which ones are; FORCE "yes" (--force-os)
# only warns.
os_check() {
	local force=$1 id version os supported
	id=$(os_release_field ID)
	version=$(os_release_field VERSION_ID)
	os="${id} ${version}"
	for supported in "${MAILNEST_SUPPORTED_OS[@]}"; do
		[[ ${os} == "${supported}" ]] && return 0
	done
	local name
	name=$(os_release_field PRETTY_NAME)
	name=${name:-${os}}
	if [[ ${force} == yes ]]; then
		warn "${name} is not a supported system; going on because of --force-os"
		return 0
	fi
	die "${name:-an unknown system (no /etc/os-release)} is not supported; mailnest installs on Debian 12, Debian 13, Ubuntu 22.04, Ubuntu 24.04 and Ubuntu 26.04 (--force-os tries anyway). Nothing was changed."
}

# ---- PM2 --------------------------------------------------------------------

# One PM2 daemon, root's, supervises every app of ours (accountd's two
# processes, policyd and its milter); each app drops to its own user itself
# (deploy/*.config.js run it through `setpriv --reuid --regid --init-groups
# --no-new-privs`, which execs the daemon: the pid PM2 watches is the
# daemon's). PM2_HOME is root's only (0700): its RPC sockets let whoever can
# reach them run anything as root. Where systemd is PID 1 the unit
# mailnest-pm2 (made by `pm2 startup`) owns the daemon.
readonly MAILNEST_PM2_HOME=${MAILNEST_STATE}/pm2
readonly MAILNEST_PM2_UNIT=mailnest-pm2
# V8 settings of PM2's daemon (PM2 passes PM2_NODE_OPTIONS to the node that
# runs its daemon, lib/Client.js). --lite-mode: no optimising compiler and
# lazier feedback (PM2 does little but wait), which keeps the daemon about
# 8 MiB smaller (PSS 51.9 -> 43.4 MiB, Debian 12, Node.js 20); a young
# generation of 1 MiB at most bounds its growth. Measured and not worth it:
# --max-old-space-size=32, --optimize-for-size, --v8-pool-size=0,
# --single-threaded (less than 1 MiB each); --jitless saves the same as
# --lite-mode but also turns WebAssembly off. Most of what is left is the
# node binary's own pages (about 34 of 46 MiB RSS), which no flag shrinks.
readonly MAILNEST_PM2_NODE_OPTIONS="--lite-mode --max-semi-space-size=1"
export MAILNEST_PM2_HOME

# pm2_run ARGS...: the pm2 command against the one daemon, through
# /usr/local/sbin/mailnest-pm2 (install/templates/mailnest-pm2, installed by
# pm2_daemon_ensure), which the tests and an administrator use too.
readonly MAILNEST_PM2_CMD=/usr/local/sbin/mailnest-pm2
pm2_run() {
	"${MAILNEST_PM2_CMD}" "$@"
}

# pm2_app_pids APP: the pids of APP's processes, one a line.
pm2_app_pids() {
	pm2_run pid "$1" 2>/dev/null | grep -E '^[1-9][0-9]*$'
}

# pm2_drop_in: the unit's settings PM2's template does not have (the V8
# settings, the working directory). Returns 1 when unchanged.
pm2_drop_in() {
	local dir=/etc/systemd/system/${MAILNEST_PM2_UNIT}.service.d
	install -d -m 0755 -- "${dir}"
	write_if_changed "${dir}/mailnest.conf" root:root 0644 <<UNIT
# Written by install/lib.sh (pm2_daemon_ensure).
[Service]
Environment="PM2_NODE_OPTIONS=${MAILNEST_PM2_NODE_OPTIONS}"
WorkingDirectory=${MAILNEST_PM2_HOME}
UNIT
}

# pm2_daemon_ensure: the one PM2 daemon runs, with the current V8 settings.
# Under systemd it is the unit's; otherwise this starts it (run ./install.sh
# again after a reboot).
pm2_daemon_ensure() {
	local stamp=${MAILNEST_PM2_HOME}/mailnest-node-options changed=""
	install -d -o root -g root -m 0755 -- "${MAILNEST_STATE}"
	install -d -o root -g root -m 0700 -- "${MAILNEST_PM2_HOME}"
	render mailnest-pm2 "${MAILNEST_PM2_CMD}" root:root 0755 MAILNEST_PM2_HOME MAILNEST_PM2_NODE_OPTIONS || true
	if has_systemd; then
		if [[ ! -f /etc/systemd/system/${MAILNEST_PM2_UNIT}.service ]]; then
			step "enabling PM2 at boot (pm2 startup systemd, unit ${MAILNEST_PM2_UNIT})" \
				pm2_run startup systemd -u root --service-name "${MAILNEST_PM2_UNIT}"
		fi
		if pm2_drop_in; then
			systemctl daemon-reload
			changed=restart
		fi
		service_converge "${MAILNEST_PM2_UNIT}" "${changed}"
	elif ! pm2_daemon_alive; then
		step "starting PM2 (no systemd here: run ./install.sh again after a reboot)" pm2_run ping
		printf '%s\n' "${MAILNEST_PM2_NODE_OPTIONS}" >"${stamp}"
	elif [[ $(cat -- "${stamp}" 2>/dev/null || true) != "${MAILNEST_PM2_NODE_OPTIONS}" ]]; then
		# Saves the process list, starts a new daemon, resurrects.
		step "restarting PM2 with new V8 settings" pm2_run update
		printf '%s\n' "${MAILNEST_PM2_NODE_OPTIONS}" >"${stamp}"
	else
		say "PM2 is running"
	fi
}

# pm2_daemon_alive: the daemon of ${MAILNEST_PM2_HOME} runs.
pm2_daemon_alive() {
	local pid
	pid=$(cat -- "${MAILNEST_PM2_HOME}/pm2.pid" 2>/dev/null) || return 1
	[[ ${pid} =~ ^[1-9][0-9]*$ ]] && kill -0 "${pid}" 2>/dev/null
}

# pm2_retire_user_daemon USER: an installation made before the one daemon
# ran a PM2 daemon per service user (PM2_HOME ~USER/.pm2, unit pm2-USER):
# stop it with its apps, so that nothing runs or listens twice (accountd's
# port is shared with SO_REUSEPORT: two copies would not even fail), and
# remove its unit and its home. Nothing to do on later runs.
pm2_retire_user_daemon() {
	local user=$1 home unit pid
	home=$(getent passwd "${user}" | cut -d: -f6) || return 0
	unit=/etc/systemd/system/pm2-${user}.service
	if [[ -f ${unit} ]]; then
		if has_systemd; then
			# ExecStop is `pm2 kill`: the apps stop with it.
			systemctl disable --now --quiet "pm2-${user}" || return 1
		fi
		rm -f -- "${unit}"
		! has_systemd || systemctl daemon-reload
	fi
	[[ -n ${home} && -d ${home}/.pm2 ]] || return 0
	pid=$(cat -- "${home}/.pm2/pm2.pid" 2>/dev/null || true)
	if [[ ${pid} =~ ^[1-9][0-9]*$ ]] && kill -0 "${pid}" 2>/dev/null; then
		runuser -u "${user}" -- env -C "${home}" HOME="${home}" PM2_HOME="${home}/.pm2" pm2 kill || return 1
		wait_until 40 _pid_gone "${pid}" || return 1
	fi
	rm -rf -- "${home}/.pm2"
}

_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# pm2_retire_old_daemon USER: pm2_retire_user_daemon, as a step of the
# installer, when an older installation left USER a PM2 daemon or its unit.
pm2_retire_old_daemon() {
	local user=$1 home
	home=$(getent passwd "${user}" | cut -d: -f6) || home=""
	[[ (-n ${home} && -d ${home}/.pm2) || -f /etc/systemd/system/pm2-${user}.service ]] || return 0
	step "stopping the PM2 daemon of the ${user} user (one PM2 runs every app now)" \
		pm2_retire_user_daemon "${user}"
}

# pm2_log_dir DIR GROUP FILE...: DIR for the logs PM2 (root) writes, the
# FILEs (paths; those an older installation made as the service user too)
# root's and readable by GROUP alone.
pm2_log_dir() {
	local dir=$1 group=$2 log
	shift 2
	install -d -o root -g "${group}" -m 0750 -- "${dir}" || return 1
	for log in "$@"; do
		[[ ! -f ${log} ]] || chown root:"${group}" -- "${log}" || return 1
	done
}
