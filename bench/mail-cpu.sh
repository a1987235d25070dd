#!/usr/bin/env bash
# CPU per delivered message of the port-25 delivery path (issue 3), measured
# apart from whatever else runs on the machine.
#
#   sudo bench/mail-cpu.sh up [-d DIR]       # server host + client host, install
#   sudo bench/mail-cpu.sh run [-n N] [-c C] [-f F]
#   sudo bench/mail-cpu.sh exec CMD...       # run CMD in the server host
#   sudo bench/mail-cpu.sh down
#
# `run` sends N 1 KiB messages (2000) over C sessions (16) to 4 mailboxes that
# hold F messages each beforehand (0): a delivery's cost grows with the
# mailbox. `up -d DIR` puts the server's mail queue, MariaDB's files and
# Maildirs on DIR (a directory on a real disk) instead of the host's tmpfs,
# so that bench/mail.sh run inside (`exec bench/mail.sh`) measures the disk.
#
# The mail stack runs in a throw-away host (tests/lib/nshost.bash) whose init,
# and so every daemon in it, is in a cgroup v1 cpuacct group of its own; the
# client (Postfix's smtp-source) runs in a second host and group, so its CPU is
# not counted. `run` reads the server group's cpuacct.usage around the
# delivery of N messages (after a warm-up) and prints the CPU per message and
# its split by program (bench/cpu_by_process.py). Change settings between runs
# with `exec` (it joins the server group first, so that a daemon it restarts
# stays counted). Without -d the host's files are on tmpfs: fsync costs
# nothing there, this measures CPU only.
#
# Environment: BENCH_SERVER=pf1 BENCH_SERVER_IP=10.231.0.131
#              BENCH_CLIENT=pf2 BENCH_CLIENT_IP=10.231.0.132

# Helper functions are called in conditions on purpose.
# shellcheck disable=SC2310
set -Eeuo pipefail
shopt -s inherit_errexit

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly here
# shellcheck source=tests/lib/nshost.bash
source "${here}/../tests/lib/nshost.bash"

readonly server=${BENCH_SERVER:-pf1} server_ip=${BENCH_SERVER_IP:-10.231.0.131}
readonly client=${BENCH_CLIENT:-pf2} client_ip=${BENCH_CLIENT_IP:-10.231.0.132}
readonly cgroups=/sys/fs/cgroup/cpuacct
readonly server_group=${cgroups}/mailnest-bench-${server} client_group=${cgroups}/mailnest-bench-${client}
readonly boxes=4 domain=example.test

say() { printf '%s\n' "$*"; }

# join GROUP: move this shell (and so everything it starts) into GROUP.
join() {
	mkdir -p -- "$1"
	printf '%s\n' "${BASHPID}" >"$1/cgroup.procs"
}

# on_disk DIR: in the server host, the mail queue, MariaDB's files and the
# Maildirs move to DIR (a real disk; the host's own /var is tmpfs, where fsync
# costs nothing), their present contents copied first.
on_disk() {
	local dir
	for dir in /var/spool/postfix /var/lib/mysql /var/vmail; do
		mkdir -p -- "$1${dir}" || return 1
		# $1 and $2 are the arguments of the command in the host.
		# shellcheck disable=SC2016
		nshost_exec "${server}" bash -c 'mkdir -p "$2" && cp -a "$2/." "$1$2/" && mount --bind "$1$2" "$2"' \
			on-disk "$1" "${dir}" || return 1
	done
}

up() {
	local disk="" opt
	OPTIND=1
	while getopts d: opt; do
		case ${opt} in
		d) disk=${OPTARG} ;;
		*) return 64 ;;
		esac
	done
	(
		join "${server_group}"
		nshost_up "${server}" "${server_ip}"
		[[ -z ${disk} ]] || on_disk "${disk}"
		cd -- "${here}/.."
		nshost_exec "${server}" ./install.sh >/dev/null
	)
	(
		join "${client_group}"
		nshost_up "${client}" "${client_ip}"
	)
	local i code
	for ((i = 0; i < boxes; i++)); do
		code=$(in_server curl -sS -o /dev/null -w '%{http_code}' -X POST \
			-H 'Content-Type: application/json' -H "X-Forwarded-For: 203.0.113.$((i + 1))" \
			--data "{\"username\":\"bench${i}\",\"password\":\"Bench-password-${i}\"}" \
			http://127.0.0.1:8080/api/v1/accounts)
		[[ ${code} == 201 ]] || { say "cannot create bench${i} (HTTP ${code})" >&2; return 1; }
	done
	say "hosts ${server} (${server_ip}, mail stack) and ${client} (${client_ip}, client) are up"
}

in_server() {
	(
		join "${server_group}"
		nshost_exec "${server}" "$@"
	)
}

delivered() {
	{ nshost_exec "${server}" find "/var/vmail/${domain}" -path '*/Maildir/new/*' -type f -printf . 2>/dev/null || true; } | wc -c
}

# send N SESSIONS: N messages of 1 KiB from the client host, spread over the
# bench mailboxes, and wait until all are in the Maildirs.
send() {
	local n=$1 sessions=$2 per=$(($1 / boxes)) per_sessions=$((($2 + boxes - 1) / boxes)) before i
	local -a pids=()
	before=$(delivered)
	for ((i = 0; i < boxes; i++)); do
		nshost_exec "${client}" smtp-source -c -s "${per_sessions}" -m "${per}" -l 1024 \
			-f bench@outside.invalid -M bench.invalid -t "bench${i}@${domain}" "${server_ip}:25" >/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	local deadline=$((SECONDS + 300))
	while (($(delivered) - before < per * boxes)); do
		((SECONDS < deadline)) || { say "not all delivered within 300 s" >&2; return 1; }
		sleep 0.1
	done
}

# fill_mailboxes N: N messages of 1 KiB already in each bench mailbox,
# indexed as IMAP would leave them (doveadm syncs the default location).
fill_mailboxes() {
	# Expanded in the server host, not here.
	# shellcheck disable=SC2016
	in_server bash -c '
		set -e
		body=$(head -c 1024 /dev/zero | tr "\\0" x)
		for ((b = 0; b < '"${boxes}"'; b++)); do
			dir=/var/vmail/'"${domain}"'/bench${b}/Maildir
			mkdir -p "${dir}/cur" "${dir}/new" "${dir}/tmp"
			for ((i = 0; i < $1; i++)); do
				printf "Subject: fill %d\n\n%s\n" "${i}" "${body}" >"${dir}/cur/1700000000.M${i}P${b}.fill,S=1050:2,S"
			done
			chown -R vmail:vmail "/var/vmail/'"${domain}"'/bench${b}"
			doveadm mailbox status -u "bench${b}@'"${domain}"'" messages INBOX >/dev/null
		done' fill "$1"
}

run() {
	local n=2000 sessions=16 fill=0 opt
	OPTIND=1
	while getopts n:c:f: opt; do
		case ${opt} in
		n) n=${OPTARG} ;;
		c) sessions=${OPTARG} ;;
		f) fill=${OPTARG} ;;
		*) return 64 ;;
		esac
	done
	join "${client_group}"
	# Same start for every run: a delivery's cost grows with the mailbox
	# (Dovecot rereads dovecot-uidlist), so begin with empty mailboxes.
	in_server bash -c "rm -rf /var/vmail/${domain}/bench*/Maildir"
	((fill == 0)) || fill_mailboxes "${fill}"
	send 200 "${sessions}"
	local stop report start
	stop=$(mktemp -u) report=$(mktemp)
	python3 "${here}/cpu_by_process.py" "${server_group}" "${stop}" >"${report}" &
	local sampler=$!
	start=${EPOCHREALTIME}
	send "${n}" "${sessions}"
	local seconds
	seconds=$(awk -v a="${start}" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%.2f", b - a }')
	: >"${stop}"
	wait "${sampler}"
	rm -f -- "${stop}"
	awk -v n="${n}" -v s="${seconds}" -v c="${sessions}" '
		/^\(total\)/ { total = $2 }
		{ ms[NR] = $2; name[NR] = $1 }
		END {
			printf "%d messages, %d sessions, %.1f s (%.0f msg/s on a shared machine)\n", n, c, s, n / s
			printf "CPU per message (mail stack only): %.2f ms => CPU-bound ceiling %.0f msg/s on 2 cores\n", total / n, 2000 * n / total
			for (i = 1; i <= NR; i++)
				if (name[i] != "(total)")
					printf "  %-28s %6.3f ms %5.1f%%\n", name[i], ms[i] / n, 100 * ms[i] / total
		}' "${report}"
	rm -f -- "${report}"
}

down() {
	nshost_down "${client}" || true
	nshost_down "${server}" || true
	# A group can be removed once the last killed process has left it.
	local i group
	for group in "${server_group}" "${client_group}"; do
		for ((i = 0; i < 50; i++)); do
			[[ -d ${group} ]] || break
			rmdir -- "${group}" 2>/dev/null || sleep 0.1
		done
	done
}

main() {
	((EUID == 0)) || { say "bench/mail-cpu.sh: run as root" >&2; exit 1; }
	local command=${1-}
	shift || true
	case ${command} in
	up) up "$@" ;;
	run) run "$@" ;;
	exec) in_server "$@" ;;
	down) down ;;
	*) say "usage: bench/mail-cpu.sh up [-d DIR]|run [-n N] [-c C] [-f F]|exec CMD...|down" >&2; exit 64 ;;
	esac
}

main "$@"
