#!/usr/bin/env bash
# Mail benchmark of an installed mailnest (issue 3).
#
#   sudo bench/mail.sh [-n MESSAGES] [-c SESSIONS] [-t LOGIN_SECONDS] [-p LOGIN_CLIENTS] [-m]
#
# -m runs only part 1 with 1 KiB messages (for profiling the delivery path).
#
# 1. Postfix's smtp-source sends MESSAGES messages of 1 KiB, then of 100 KiB,
#    over port 25 with SESSIONS parallel sessions to 4 local mailboxes; it
#    prints accepted messages/s (all accepted by Postfix) and delivered
#    messages/s (all present in the Maildirs, i.e. through LMTP and Dovecot).
# 2. Beside it, the disk's durable-write limit measured now on the file
#    system of /var/vmail: files created + written + fsync'ed + directory
#    fsync'ed per second, with 1 writer and with SESSIONS writers.
# 3. IMAP logins/s: LOGIN_CLIENTS clients log in and out in a loop for
#    LOGIN_SECONDS over 4 accounts, against the installed Dovecot (auth cache
#    on) and against a second, temporary Dovecot instance with the same
#    configuration but auth_cache_size = 0; beside it the argon2id limit:
#    cores / the time of one verification of the accounts' hash.
# The bench accounts are created through accountd's API and purged after.

# Helper functions are called in conditions on purpose.
# shellcheck disable=SC2310
set -Eeuo pipefail
shopt -s inherit_errexit

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly here
messages=2000 sessions=16 login_seconds=10 login_clients=16 mail_only=no
while getopts n:c:t:p:m opt; do
	case ${opt} in
	n) messages=${OPTARG} ;;
	c) sessions=${OPTARG} ;;
	t) login_seconds=${OPTARG} ;;
	p) login_clients=${OPTARG} ;;
	m) mail_only=yes ;;
	*) exit 64 ;;
	esac
done
readonly messages sessions login_seconds login_clients mail_only
readonly api=http://127.0.0.1:8080 boxes=4
domain=$(sed -n 's/^MAILNEST_DOMAIN=//p' /etc/mailnest/mailnest.conf)
readonly domain
token=$(cat /etc/mailnest/admin-token)
readonly token
bench_dir=$(mktemp -d)
readonly bench_dir
emails=() passwords=()

say() { printf '%s\n' "$*"; }

# elapsed START: seconds since START (a value of EPOCHREALTIME).
elapsed() { awk -v a="$1" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }'; }

create_accounts() {
	local i user password code
	for ((i = 0; i < boxes; i++)); do
		user=bench$(openssl rand -hex 4)
		password=Bench-$(openssl rand -hex 8)
		code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
			-H "X-Forwarded-For: 203.0.113.$((RANDOM % 250 + 1))" \
			--data "{\"username\":\"${user}\",\"password\":\"${password}\"}" "${api}/api/v1/accounts")
		[[ ${code} == 201 ]] || { say "cannot create a bench account (HTTP ${code})" >&2; exit 1; }
		emails+=("${user}@${domain}")
		passwords+=("${password}")
	done
}

purge_accounts() {
	local email
	for email in "${emails[@]}"; do
		curl -sS -o /dev/null -X PATCH -H "Authorization: Bearer ${token}" -H 'Content-Type: application/json' \
			--data '{"active":false}' "${api}/api/v1/admin/mailboxes/${email}" || true
		curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer ${token}" \
			"${api}/api/v1/admin/mailboxes/${email}" || true
	done
	/usr/local/sbin/mailnest-purge-maildirs || true
	rm -rf -- "${bench_dir}"
}

delivered() {
	local email n=0 c
	for email in "${emails[@]}"; do
		c=$({ find "/var/vmail/${domain}/${email%@*}/Maildir/new" "/var/vmail/${domain}/${email%@*}/Maildir/cur" \
			-type f 2>/dev/null || true; } | wc -l)
		n=$((n + c))
	done
	printf '%s\n' "${n}"
}

# cpu_busy_ms: CPU time (all cores, every process, user+system) spent since
# boot, from /proc/stat, in milliseconds.
cpu_busy_ms() {
	awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print int(($2 + $3 + $4 + $7 + $8) * 1000 / hz); exit }' /proc/stat
}

mail_run() {
	local size=$1 label=$2 per=$((messages / boxes)) per_sessions=$(((sessions + boxes - 1) / boxes))
	local before start t_accept t_deliver i total=$((per * boxes))
	local -a pids=()
	before=$(delivered)
	local cpu_before cpu_ms
	cpu_before=$(cpu_busy_ms)
	start=${EPOCHREALTIME}
	for ((i = 0; i < boxes; i++)); do
		smtp-source -c -s "${per_sessions}" -m "${per}" -l "${size}" -f "bench@outside.invalid" \
			-M bench.invalid -t "${emails[i]}" 127.0.0.1:25 >/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	t_accept=$(elapsed "${start}")
	local deadline=$((SECONDS + 600))
	while (($(delivered) - before < total)); do
		((SECONDS < deadline)) || { say "  not all delivered within 600 s" >&2; break; }
		sleep 0.05
	done
	t_deliver=$(elapsed "${start}")
	cpu_ms=$(($(cpu_busy_ms) - cpu_before))
	say "  ${label}: ${total} messages, ${per_sessions}x${boxes} sessions: accepted $(rate "${total}" "${t_accept}") msg/s, delivered to Maildir $(rate "${total}" "${t_deliver}") msg/s"
	# The CPU the whole machine spent per message (the client included):
	# with every core busy, cores / that cost is the most this machine can
	# deliver, whatever the disk could take.
	awk -v ms="${cpu_ms}" -v n="${total}" -v c="$(nproc)" 'BEGIN {
		per = ms / n
		printf "    CPU per message (all processes): %.2f ms => CPU-bound ceiling %.0f msg/s on %d cores\n", per, (per > 0 ? c * 1000 / per : 0), c
	}'
}

# A second Dovecot: the installed configuration with other ports and
# sockets, IMAP only, and no auth cache.
start_uncached_dovecot() {
	local conf=${bench_dir}/dovecot.conf
	doveconf -n | sed -e 's/^\( *port = \)143$/\110143/' -e 's/^\( *port = \)993$/\110993/' \
		-e 's/^\( *port = \)110$/\110110/' -e 's/^\( *port = \)995$/\110995/' \
		-e "s|/var/spool/postfix/private/|${bench_dir}/|" \
		-e 's/^auth_cache_size = .*/auth_cache_size = 0/' \
		-e 's/^protocols = .*/protocols = imap/' \
		-e 's|^log_path = .*|log_path = /var/log/dovecot-bench.log|' >"${conf}"
	printf 'base_dir = %s/run\ninstance_name = dovecot-bench\n' "${bench_dir}" >>"${conf}"
	dovecot -c "${conf}" </dev/null >/dev/null 2>&1 3>&-
	local deadline=$((SECONDS + 20))
	until (exec 3<>/dev/tcp/127.0.0.1/10143) 2>/dev/null; do
		((SECONDS < deadline)) || { say "the uncached Dovecot did not start" >&2; return 1; }
		sleep 0.1
	done
}

stop_uncached_dovecot() {
	doveadm -c "${bench_dir}/dovecot.conf" stop >/dev/null 2>&1 || true
}

argon2_limit() {
	local hash runs=20 start t i cores
	hash=$(mariadb --protocol=socket -uroot -N -B mailnest \
		-e "SELECT password_hash FROM mailboxes WHERE email = '${emails[0]}'")
	cores=$(nproc)
	# doveadm starts a process per check: subtract that cost, measured
	# with a trivial scheme.
	start=${EPOCHREALTIME}
	for ((i = 0; i < runs; i++)); do doveadm pw -t '{PLAIN}x' -p x >/dev/null; done
	local base
	base=$(elapsed "${start}")
	start=${EPOCHREALTIME}
	for ((i = 0; i < runs; i++)); do doveadm pw -t "${hash}" -p "${passwords[0]}" >/dev/null; done
	t=$(elapsed "${start}")
	awk -v t="${t}" -v b="${base}" -v n="${runs}" -v c="${cores}" -v h="${hash%%\$*}" 'BEGIN {
		per = (t - b) / n
		printf "  argon2id limit: one verification %.1f ms (%s), %d cores => %.1f logins/s at most\n", per * 1000, substr(h, 1, 60), c, c / per
	}'
	say "  hash parameters: $(cut -d'$' -f3,4 <<<"${hash}")"
}

main() {
	((EUID == 0)) || { echo "bench/mail.sh: run as root" >&2; exit 1; }
	command -v smtp-source >/dev/null || { echo "smtp-source (postfix) is missing" >&2; exit 1; }
	trap 'stop_uncached_dovecot; purge_accounts' EXIT
	create_accounts
	local -a creds=()
	local i
	for ((i = 0; i < boxes; i++)); do creds+=("${emails[i]}:${passwords[i]}"); done

	say "mailnest mail benchmark ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
	if [[ ${mail_only} == yes ]]; then
		mail_run 1024 "1 KiB"
		return 0
	fi
	say "durable-write limit of $(df --output=source /var/vmail | tail -n 1) (/var/vmail):"
	say "  1 writer:  $(python3 "${here}/durable_writes.py" /var/vmail 5 1)"
	say "  ${sessions} writers: $(python3 "${here}/durable_writes.py" /var/vmail 5 "${sessions}")"
	say "SMTP port 25 -> Postfix -> LMTP -> Dovecot Maildir:"
	mail_run 1024 "1 KiB"
	mail_run 102400 "100 KiB"
	say "IMAP logins (${login_clients} clients, ${boxes} accounts, ${login_seconds} s, plain LOGIN on loopback):"
	say "  auth cache on (installed Dovecot): $(python3 "${here}/imap_logins.py" 127.0.0.1 143 "${login_seconds}" "${login_clients}" "${creds[@]}")"
	start_uncached_dovecot
	say "  auth cache off (same config, auth_cache_size = 0): $(python3 "${here}/imap_logins.py" 127.0.0.1 10143 "${login_seconds}" "${login_clients}" "${creds[@]}")"
	stop_uncached_dovecot
	argon2_limit
}

main "$@"
