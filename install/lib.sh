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
