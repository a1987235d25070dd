#!/usr/bin/env bash
# accountd: build, configure, migrate, and run it under PM2.
#
# accountd is built from this repository with meson and installed as one
# release, /opt/mailnest/releases/<version>-<source hash>, with the symlink
# /opt/mailnest/current pointing at the release in use (the layout a later
# deployment issue fills with new releases). A release whose source did not
# change is not built again. accountd runs as its own unprivileged user; its
# settings are KEY=VALUE lines in /etc/mailnest/accountd.env (database
# password included), readable by root and the accountd group only, and the
# admin token is in /etc/mailnest/admin-token, with the same rights. The
# migrations are applied on every run; the primary domain is created when
# absent. mailnest's one PM2 daemon (root's, install/lib.sh; it runs
# policyd too) supervises it as two processes, each dropped to the accountd
# user by setpriv (restart on crash, logs in /var/log/mailnest, a directory
# of root and group accountd); where systemd exists the unit mailnest-pm2
# (`pm2 startup`) makes PM2 and its saved process list come back after a
# reboot. An installation that ran a PM2 daemon of the accountd user has that
# daemon stopped and its unit pm2-accountd removed first. accountd is
# restarted only when its release, its settings or the PM2 file changed.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly USER_NAME=accountd
readonly HOME_DIR=/var/lib/accountd
# Processes in deploy/ecosystem.config.js (two, so that a deploy restarts
# one while the other serves).
readonly ACCOUNTD_INSTANCES=2
readonly ENV_FILE=${MAILNEST_ETC}/accountd.env
readonly TOKEN_FILE=${MAILNEST_ETC}/admin-token
readonly ECOSYSTEM=${MAILNEST_OPT}/ecosystem.config.js
readonly CURRENT=${MAILNEST_OPT}/current
readonly FINGERPRINT=${MAILNEST_STATE}/accountd.fingerprint

ensure_user() {
	if ! getent passwd "${USER_NAME}" >/dev/null; then
		useradd --system --user-group --home-dir "${HOME_DIR}" --shell /usr/sbin/nologin \
			--comment "mailnest account service" "${USER_NAME}"
	fi
	install -d -o "${USER_NAME}" -g "${USER_NAME}" -m 0750 -- "${HOME_DIR}"
	install -d -o "${USER_NAME}" -g "${USER_NAME}" -m 0700 -- "${HOME_DIR}/ratelimit"
	pm2_log_dir "${MAILNEST_LOG}" "${USER_NAME}" "${MAILNEST_LOG}"/accountd.log "${MAILNEST_LOG}"/accountd.error.log || return 1
	install -d -o root -g root -m 0755 -- "${MAILNEST_OPT}" "${MAILNEST_OPT}/releases" "${MAILNEST_STATE}"
}

# release_name: <meson project version>-<12 hex digits of the source's hash>.
release_name() {
	local version hash
	version=$(sed -n "s/^ *version: *'\([^']*\)'.*/\1/p" "${MAILNEST_SRC}/accountd/meson.build" | head -n 1)
	# What goes into the release: the build files, the sources (with the
	# shared libmailnest), the migrations (not the tests, nor build
	# directories).
	hash=$(cd "${MAILNEST_SRC}" &&
		find accountd/meson.build accountd/meson_options.txt accountd/src accountd/migrations \
			libmailnest -type f -print0 2>/dev/null |
		LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
	printf '%s-%s\n' "${version:-0}" "${hash}"
}

build_release() {
	local release=$1 prefix=${MAILNEST_OPT}/releases/$1 build stage
	build=$(mktemp -d /tmp/mailnest-build.XXXXXX)
	stage=$(mktemp -d /tmp/mailnest-stage.XXXXXX)
	meson setup "${build}" "${MAILNEST_SRC}/accountd" --prefix "${prefix}" \
		--buildtype=release -Db_ndebug=if-release
	ninja -C "${build}" accountd
	meson install -C "${build}" --no-rebuild --destdir "${stage}"
	if ! compgen -G "${stage}${prefix}/share/mailnest/migrations/*.sql" >/dev/null; then
		install -d -m 0755 -- "${stage}${prefix}/share/mailnest/migrations"
		install -m 0644 -- "${MAILNEST_SRC}"/accountd/migrations/*.sql \
			"${stage}${prefix}/share/mailnest/migrations/"
	fi
	"${stage}${prefix}/bin/accountd" version
	chown -R root:root -- "${stage}${prefix}"
	mv -T -- "${stage}${prefix}" "${prefix}.tmp"
	mv -T -- "${prefix}.tmp" "${prefix}"
	rm -rf -- "${build}" "${stage}"
	printf '%s\n' "${release}"
}

point_current_at() {
	local target=${MAILNEST_OPT}/releases/$1
	# deploy/deploy.sh makes a relative link: compare where they lead.
	[[ $(realpath -q -- "${CURRENT}" || true) == "${target}" ]] && return 1
	ln -sfn -- "${target}" "${CURRENT}.new"
	mv -T -- "${CURRENT}.new" "${CURRENT}"
}

write_env_file() {
	local pw
	pw=$(<"${MAILNEST_SECRETS}/db-accountd.pw")
	write_if_changed "${ENV_FILE}" "root:${USER_NAME}" 0640 <<ENV
# accountd settings, written by install/40-accountd.sh on every run.
# Change them through /etc/mailnest/mailnest.conf and ./install.sh.
ACCOUNTD_LISTEN=${MAILNEST_ACCOUNTD_LISTEN}
ACCOUNTD_DB_SOCKET=/run/mysqld/mysqld.sock
ACCOUNTD_DB_NAME=mailnest
ACCOUNTD_DB_USER=accountd
ACCOUNTD_DB_PASSWORD=${pw}
ACCOUNTD_PRIMARY_DOMAIN=${MAILNEST_DOMAIN}
ACCOUNTD_ADMIN_TOKEN_FILE=${TOKEN_FILE}
ACCOUNTD_DEFAULT_QUOTA_BYTES=${MAILNEST_DEFAULT_QUOTA_BYTES}
# accountd listens on loopback only; its clients are local front ends
# (webmail, reverse proxy) that pass the real client in X-Forwarded-For.
ACCOUNTD_TRUSTED_PROXIES=127.0.0.1,::1
# Deactivations reach IMAP/POP3/SMTP AUTH at once: accountd flushes the
# user's entries from Dovecot's auth cache (group access to this socket is
# granted in dovecot.conf).
ACCOUNTD_DOVECOT_AUTH_SOCKET=/run/dovecot/auth-master
# Both PM2 processes map the same rate-limit tables: one budget per client.
ACCOUNTD_RATE_LIMIT_DIR=${HOME_DIR}/ratelimit
# ... and one revocation generation: a logout, password change or
# deactivation in either (or through the CLI) empties both session caches.
ACCOUNTD_REVOCATION_PATH=${HOME_DIR}/revocations
ENV
}

# as_accountd CMD...: CMD as the accountd user, from its home (the
# installer's working directory, /root/... for one, is not its to enter).
as_accountd() {
	(cd -- "${HOME_DIR}" &&
		runuser -u "${USER_NAME}" -- env HOME="${HOME_DIR}" ACCOUNTD_CONFIG_FILE="${ENV_FILE}" "$@")
}

# prune_releases: keep the release in use and the two newest others (to
# go back to); remove older ones.
prune_releases() {
	local in_use dir kept=0
	in_use=$(readlink -- "${CURRENT}")
	while IFS= read -r dir; do
		[[ ${dir} == "${in_use}" ]] && continue
		if ((kept < 2)); then
			kept=$((kept + 1))
			continue
		fi
		rm -rf -- "${dir}"
	done < <(find "${MAILNEST_OPT}/releases" -mindepth 1 -maxdepth 1 -type d \
		-not -name '*.tmp' -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
}

ensure_domain() {
	if as_accountd "${CURRENT}/bin/accountd" domain list | grep -qiw -- "${MAILNEST_DOMAIN}"; then
		say "domain ${MAILNEST_DOMAIN} exists"
	else
		step "creating domain ${MAILNEST_DOMAIN}" as_accountd "${CURRENT}/bin/accountd" domain add "${MAILNEST_DOMAIN}"
	fi
}

# accountd_pids: the pids of the accountd processes PM2 runs, one a line.
accountd_pids() {
	pm2_app_pids accountd
}

# accountd_is_online: as many live processes as the ecosystem asks for.
accountd_is_online() {
	local pid n=0
	while IFS= read -r pid; do
		kill -0 "${pid}" 2>/dev/null || return 1
		n=$((n + 1))
	done < <(accountd_pids)
	((n == ACCOUNTD_INSTANCES))
}

healthz_answers() {
	curl -fsS --max-time 2 "http://${MAILNEST_ACCOUNTD_LISTEN}/healthz"
}

fingerprint() {
	{
		readlink -- "${CURRENT}"
		cat -- "${ENV_FILE}" "${TOKEN_FILE}" "${ECOSYSTEM}"
	} | sha256sum | cut -d' ' -f1
}

start_under_pm2() {
	local running
	running=$(accountd_pids | wc -l)
	# startOrRestart does not change the number of processes of a running
	# app: start afresh when it differs (an upgrade from one process).
	if ((running != 0 && running != ACCOUNTD_INSTANCES)); then
		pm2_run delete accountd >/dev/null
	fi
	pm2_run startOrRestart "${ECOSYSTEM}" --update-env
	pm2_run save --force
}

main() {
	local release fp old_fp=""
	step "system user ${USER_NAME} and its directories" ensure_user

	release=$(release_name)
	if [[ -x ${MAILNEST_OPT}/releases/${release}/bin/accountd ]]; then
		say "release ${release} is built"
	else
		step "building accountd release ${release}" build_release "${release}"
	fi
	if point_current_at "${release}"; then
		say "${CURRENT} -> releases/${release}"
		step "removing releases older than the last three" prune_releases
	fi

	secret_file "${TOKEN_FILE}" "root:${USER_NAME}" 0640
	if write_env_file; then
		say "wrote ${ENV_FILE}"
	else
		say "${ENV_FILE} is unchanged"
	fi
	install_if_changed "${MAILNEST_SRC}/deploy/ecosystem.config.js" "${ECOSYSTEM}" root:root 0644 || true

	step "applying database migrations (accountd migrate)" as_accountd "${CURRENT}/bin/accountd" migrate
	ensure_domain

	pm2_daemon_ensure
	pm2_retire_old_daemon "${USER_NAME}"
	fp=$(fingerprint)
	[[ -f ${FINGERPRINT} ]] && old_fp=$(<"${FINGERPRINT}")
	if [[ ${fp} != "${old_fp}" ]] || ! accountd_is_online; then
		step "starting accountd under PM2 (as ${USER_NAME})" start_under_pm2
		printf '%s\n' "${fp}" >"${FINGERPRINT}"
	else
		say "accountd is online under PM2 and unchanged"
	fi
	wait_until 15 healthz_answers ||
		die "accountd does not answer on http://${MAILNEST_ACCOUNTD_LISTEN}/healthz; see ${MAILNEST_LOG}/accountd*.log"
	say "accountd answers on http://${MAILNEST_ACCOUNTD_LISTEN}"
}

main "$@"
