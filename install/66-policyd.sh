#!/usr/bin/env bash
# mailnest-policyd: sending limits on submission, enforced at SMTP time.
#
# policyd (policyd/ in this repository, C) is the Postfix policy service
# that 68-postfix.sh wires into ports 587 and 465 at RCPT and at the end of
# each message: it refuses with a 4xx what would cross an account's (or its
# domain's) hourly or daily limits, and suspends from sending an account that
# keeps trying. It is built with meson like accountd, into
# /opt/mailnest/policyd/<version>-<source hash> with the symlink `current`;
# an unchanged source is not built again. It runs as its own unprivileged
# user `policyd` (setpriv drops to it) under mailnest's one PM2 daemon,
# root's, beside accountd (install/lib.sh), which restarts it on a crash;
# where systemd exists the unit mailnest-pm2 makes that PM2 come back after a
# reboot (a PM2 daemon of the policyd user, from an older installation, is
# stopped and its unit pm2-policyd removed). Its database user `policyd` may
# read the sending account (never its password hash) and the overrides, set
# only the suspension column, and keep the counters (policyd/sql/grants.sql).
# Its settings, database password included, are in /etc/mailnest/policyd.env
# (root:policyd 0640). Postfix's chrooted smtpd reaches it at
# /var/spool/postfix/mailnest/policy, a directory only policyd and the
# postfix group may enter (private/ is Postfix's own, 0700 postfix: a
# foreign daemon cannot create its socket there without being root or in
# group postfix, which would let it read Postfix's database passwords). It is
# restarted only when its build, settings or PM2 file changed.
#
# The same binary, run as `mailnest-policyd milter` (a second app of the same
# PM2 daemon, same user, same settings and database user), is the milter that
# 68-postfix.sh puts in front of OpenDKIM: on 587/465 every From:/Sender:
# address must be the login's own (its mailbox and the aliases delivered to
# it, as sender-login-maps.cf grants the envelope), and on port 25 none may
# be in one of our domains; so our DKIM key signs only mail that passed. It
# listens on /var/spool/postfix/mailnest/milter, beside the policy socket. A
# process of its own because libmilter owns the main loop and the signals
# (policyd/README.md, "The From: milter").

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly USER_NAME=policyd
readonly HOME_DIR=/var/lib/policyd
readonly LOG_DIR=/var/log/mailnest-policyd
readonly BASE=${MAILNEST_OPT}/policyd
readonly CURRENT=${BASE}/current
readonly ENV_FILE=${MAILNEST_ETC}/policyd.env
readonly ECOSYSTEM=${BASE}/ecosystem.config.js
readonly SOCKET_DIR=/var/spool/postfix/mailnest
readonly FINGERPRINT=${MAILNEST_STATE}/policyd.fingerprint
readonly APP=mailnest-policyd
readonly MILTER_APP=mailnest-policyd-milter

ensure_user() {
	if ! getent passwd "${USER_NAME}" >/dev/null; then
		useradd --system --user-group --home-dir "${HOME_DIR}" --shell /usr/sbin/nologin \
			--comment "mailnest sending-limit policy service" "${USER_NAME}" || return 1
	fi
	install -d -o "${USER_NAME}" -g "${USER_NAME}" -m 0750 -- "${HOME_DIR}" || return 1
	pm2_log_dir "${LOG_DIR}" "${USER_NAME}" "${LOG_DIR}"/*.log || return 1
	install -d -o "${USER_NAME}" -g postfix -m 0750 -- "${SOCKET_DIR}" || return 1
	install -d -o root -g root -m 0755 -- "${BASE}" "${MAILNEST_STATE}"
}

# release_name: <meson project version>-<12 hex digits of the source's hash>
# (policyd's sources and the shared libmailnest it is built with).
release_name() {
	local version hash
	version=$(sed -n "s/^ *version: *'\([^']*\)'.*/\1/p" "${MAILNEST_SRC}/policyd/meson.build" | head -n 1)
	hash=$(cd "${MAILNEST_SRC}" &&
		find policyd/meson.build policyd/meson_options.txt policyd/src libmailnest -type f -print0 |
		LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
	printf '%s-%s\n' "${version:-0}" "${hash}"
}

build_release() {
	local release=$1 prefix=${BASE}/$1 build
	build=$(mktemp -d /tmp/mailnest-policyd-build.XXXXXX)
	# policyd's unit tests need cmocka, a test dependency: not built here.
	meson setup "${build}" "${MAILNEST_SRC}/policyd" --prefix "${prefix}" \
		--buildtype=release -Db_ndebug=if-release -Dtests=false || return 1
	ninja -C "${build}" mailnest-policyd || return 1
	install -d -m 0755 -- "${prefix}.tmp/bin" || return 1
	install -m 0755 -- "${build}/mailnest-policyd" "${prefix}.tmp/bin/" || return 1
	"${prefix}.tmp/bin/mailnest-policyd" version || return 1
	rm -rf -- "${prefix}" && mv -T -- "${prefix}.tmp" "${prefix}" || return 1
	rm -rf -- "${build}"
}

# point_current_at RELEASE: returns 1 when it already pointed there.
point_current_at() {
	local target=${BASE}/$1
	[[ $(realpath -q -- "${CURRENT}" || true) == "${target}" ]] && return 1
	ln -sfn -- "${target}" "${CURRENT}.new"
	mv -T -- "${CURRENT}.new" "${CURRENT}"
}

# prune_releases: keep the release in use and the newest other one.
prune_releases() {
	local in_use dir kept=0
	in_use=$(realpath -- "${CURRENT}")
	while IFS= read -r dir; do
		[[ ${dir} == "${in_use}" ]] && continue
		if ((kept < 1)); then
			kept=$((kept + 1))
			continue
		fi
		rm -rf -- "${dir}"
	done < <(find "${BASE}" -mindepth 1 -maxdepth 1 -type d -not -name '*.tmp' \
		-printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
}

grant_policyd() {
	local pw
	pw=$(<"${MAILNEST_SECRETS}/db-policyd.pw")
	sql "CREATE USER IF NOT EXISTS 'policyd'@'localhost' IDENTIFIED BY $(sql_quote "${pw}");
	     ALTER USER 'policyd'@'localhost' IDENTIFIED BY $(sql_quote "${pw}");
	     $(<"${MAILNEST_SRC}/policyd/sql/grants.sql")"
}

write_env_file() {
	local pw
	pw=$(<"${MAILNEST_SECRETS}/db-policyd.pw")
	write_if_changed "${ENV_FILE}" "root:${USER_NAME}" 0640 <<ENV
# mailnest-policyd settings, written by install/66-policyd.sh on every run.
# The limits below are policyd's defaults, stated here so they can be read;
# per-mailbox and per-domain overrides are set through accountd
# (PUT /api/v1/admin/mailboxes/{email}/send-limits, accountd limits set).
POLICYD_SOCKET=${SOCKET_DIR}/policy
POLICYD_METRICS_SOCKET=${HOME_DIR}/metrics.sock
POLICYD_MILTER_SOCKET=${SOCKET_DIR}/milter
POLICYD_DB_SOCKET=/run/mysqld/mysqld.sock
POLICYD_DB_NAME=mailnest
POLICYD_DB_USER=policyd
POLICYD_DB_PASSWORD=${pw}
POLICYD_DB_TIMEOUT=2
POLICYD_NEW_ACCOUNT_DAYS=7
POLICYD_NEW_MESSAGES_PER_HOUR=10
POLICYD_NEW_MESSAGES_PER_DAY=50
POLICYD_NEW_RECIPIENTS_PER_MESSAGE=20
POLICYD_NEW_RECIPIENTS_PER_DAY=200
POLICYD_MESSAGES_PER_HOUR=100
POLICYD_MESSAGES_PER_DAY=500
POLICYD_RECIPIENTS_PER_MESSAGE=100
POLICYD_RECIPIENTS_PER_DAY=1000
POLICYD_DOMAIN_MESSAGES_PER_HOUR=1000
POLICYD_DOMAIN_MESSAGES_PER_DAY=10000
POLICYD_DOMAIN_RECIPIENTS_PER_DAY=20000
POLICYD_SUSPEND_AFTER=20
ENV
}

write_logrotate() {
	write_if_changed /etc/logrotate.d/mailnest-policyd root:root 0644 <<ROTATE
# Log rotation of mailnest-policyd, installed by install/66-policyd.sh.
# PM2 keeps its log files open: copytruncate lets it go on writing.
${LOG_DIR}/*.log {
	daily
	rotate 14
	maxsize 100M
	compress
	delaycompress
	missingok
	notifempty
	copytruncate
	su root ${USER_NAME}
	create 0640 root ${USER_NAME}
}
ROTATE
}

# as_policyd CMD...: CMD as the policyd user, from its home (the
# installer's working directory, /root/... for one, is not its to enter).
as_policyd() {
	(cd -- "${HOME_DIR}" &&
		runuser -u "${USER_NAME}" -- env HOME="${HOME_DIR}" POLICYD_CONFIG_FILE="${ENV_FILE}" "$@")
}

# app_pid APP: the pid of one of the two PM2 apps.
app_pid() {
	pm2_app_pids "$1"
}

# policyd_is_online: both apps, the policy service and the milter, run.
policyd_is_online() {
	local app pid
	for app in "${APP}" "${MILTER_APP}"; do
		pid=$(app_pid "${app}") || return 1
		kill -0 "${pid}" 2>/dev/null || return 1
	done
}

socket_is_there() {
	[[ -S ${SOCKET_DIR}/$1 ]]
}

fingerprint() {
	{
		readlink -- "${CURRENT}"
		cat -- "${ENV_FILE}" "${ECOSYSTEM}"
	} | sha256sum | cut -d' ' -f1
}

start_under_pm2() {
	pm2_run startOrRestart "${ECOSYSTEM}" --update-env || return 1
	pm2_run save --force
}

main() {
	local release fp old_fp=""
	step "system user ${USER_NAME} and its directories" ensure_user
	secret_file "${MAILNEST_SECRETS}/db-policyd.pw" root:root 0600
	step "database user policyd with its grants (policyd/sql/grants.sql)" grant_policyd

	release=$(release_name)
	if [[ -x ${BASE}/${release}/bin/mailnest-policyd ]]; then
		say "policyd release ${release} is built"
	else
		step "building mailnest-policyd ${release}" build_release "${release}"
	fi
	if point_current_at "${release}"; then
		say "${CURRENT} -> ${release}"
		step "removing older policyd releases" prune_releases
	fi
	if write_env_file; then
		say "wrote ${ENV_FILE}"
	else
		say "${ENV_FILE} is unchanged"
	fi
	install_if_changed "${MAILNEST_SRC}/deploy/policyd.config.js" "${ECOSYSTEM}" root:root 0644 || true
	write_logrotate || true
	step "checking policyd's settings" as_policyd "${CURRENT}/bin/mailnest-policyd" check-config

	pm2_daemon_ensure
	pm2_retire_old_daemon "${USER_NAME}"
	fp=$(fingerprint)
	[[ -f ${FINGERPRINT} ]] && old_fp=$(<"${FINGERPRINT}")
	if [[ ${fp} != "${old_fp}" ]] || ! policyd_is_online; then
		step "starting mailnest-policyd under PM2 (as ${USER_NAME})" start_under_pm2
		printf '%s\n' "${fp}" >"${FINGERPRINT}"
	else
		say "mailnest-policyd is online under PM2 and unchanged"
	fi
	wait_until 15 socket_is_there policy ||
		die "mailnest-policyd does not listen on ${SOCKET_DIR}/policy; see ${LOG_DIR}/policyd.error.log"
	say "mailnest-policyd answers on ${SOCKET_DIR}/policy"
	wait_until 15 socket_is_there milter ||
		die "mailnest-policyd milter does not listen on ${SOCKET_DIR}/milter; see ${LOG_DIR}/milter.error.log"
	say "mailnest-policyd milter answers on ${SOCKET_DIR}/milter"
}

main "$@"
