#!/usr/bin/env bash
# Memory footprint of the whole stack (issue 13): PSS and RSS per program and
# in total, idle and while mail flows.
#
#   sudo bench/footprint.sh [-k] [-s SYSTEM] [-n N] [-c C]
#
# Installs the stack in a throw-away host (tests/lib/nshost.bash; with -s, one
# of tests/lib/osroot.bash's systems, whose root must be built already, e.g.
# by tests/os: debian12 debian13 ubuntu2204 ubuntu2404 ubuntu2604), waits until
# it is idle (bounded poll: the total PSS steady within 1 MiB for 5 s), and
# prints a table of every process in the host's PID namespace grouped by
# program: count, PSS, PSS here, RSS and USS in MiB. PSS counts a shared page
# once in all (split between the processes that map it), so the PSS total is
# what the stack costs a machine of its own; RSS counts it in every process.
# "PSS" is counted among the host's own processes only (as if it were alone
# on a VPS); "PSS here" is the kernel's (/proc/PID/smaps_rollup), lower on
# this machine, whose other hosts map the same program files; USS counts the
# pages no other process of the host maps: what ending them would free
# (bench/footprint_pss.py). Then the same while mail flows: N messages (500)
# of 1 KiB over C sessions (8) to 4 local mailboxes on port 25 of 127.0.0.1,
# sent by Postfix's smtp-source from the host itself (its processes are left
# out of the table; loopback is in $mynetworks, so Postfix's per-client rate
# limits, which would hold a single sender to 60 connections a minute, do not
# apply), sampled about every second: the table of the sample with the
# largest total PSS. Finally the figures in Markdown, for the README. -k keeps
# the host (then `nshost_down` or `osroot_down` it yourself).
#
# Environment: BENCH_HOST=fp1 BENCH_HOST_IP=10.231.0.240

# Helper functions are called in conditions on purpose.
# shellcheck disable=SC2310
set -Eeuo pipefail
shopt -s inherit_errexit

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly here
# shellcheck source=tests/lib/osroot.bash
source "${here}/../tests/lib/osroot.bash"
# shellcheck source=tests/lib/wait.bash
source "${here}/../tests/lib/wait.bash"

readonly bench_host=${BENCH_HOST:-fp1} host_ip=${BENCH_HOST_IP:-10.231.0.240}
readonly domain=example.test boxes=4

say() { printf '%s\n' "$*"; }

system=""

# in_host COMMAND...: run COMMAND in the host, whichever kind it is.
in_host() {
	if [[ -n ${system} ]]; then
		osroot_exec "${bench_host}" "$@"
	else
		nshost_exec "${bench_host}" "$@"
	fi
}

host_up() {
	if [[ -n ${system} ]]; then
		osroot_up "${bench_host}" "${host_ip}" "${system}" && osroot_clone "${bench_host}" || return 1
		# Ubuntu 26.04's own Roundcube does not run on its PHP 8.5: a release
		# made of Debian 13's, as in tests/os/run.
		if [[ ${system} == ubuntu2604 ]]; then
			osroot_roundcube_release "${bench_host}" >/dev/null || return 1
		fi
		osroot_exec -C /root/mailnest "${bench_host}" ./install.sh >/dev/null || return 1
		# The release's web server is the bench's, not the stack's.
		if [[ ${system} == ubuntu2604 ]]; then
			osroot_exec "${bench_host}" pkill -f 'http.server 8633' || true
		fi
	else
		nshost_up "${bench_host}" "${host_ip}" && (cd -- "${here}/.." && nshost_exec "${bench_host}" ./install.sh >/dev/null)
	fi
}

host_down() {
	if [[ -n ${system} ]]; then
		osroot_down "${bench_host}"
	else
		nshost_down "${bench_host}"
	fi
}

# sample: one line per process of the host: PROGRAM PSS RSS PSS-ALONE USS (KiB;
# bench/footprint_pss.py says how they are counted and grouped).
sample() {
	local init
	init=$(nshost_pid "${bench_host}") || return 1
	python3 "${here}/footprint_pss.py" "${init}"
}

# table: the samples on standard input, grouped by program, largest PSS
# first, with the total, as tab-separated PROGRAM COUNT PSS PSS-HERE RSS USS
# (MiB).
table() {
	awk -F '\t' '
		{ n[$1]++; pss[$1] += $2; rss[$1] += $3; alone[$1] += $4; uss[$1] += $5; tp += $2; tr += $3; ta += $4; tu += $5; tn++ }
		END {
			for (p in n) printf "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\n", p, n[p], alone[p] / 1024, pss[p] / 1024, rss[p] / 1024, uss[p] / 1024 | "sort -t \"\t\" -k3,3 -g -r"
			close("sort -t \"\t\" -k3,3 -g -r")
			printf "(total)\t%d\t%.1f\t%.1f\t%.1f\t%.1f\n", tn, ta / 1024, tp / 1024, tr / 1024, tu / 1024
		}'
}

total_pss() {
	table | awk -F '\t' '$1 == "(total)" { print $3 }'
}

show() {
	local title=$1
	printf '\n%s\n\n' "${title}"
	say "| program | processes | PSS MiB | PSS here MiB | RSS MiB | USS MiB |"
	say "|---|--:|--:|--:|--:|--:|"
	awk -F '\t' '{ printf "| %s | %d | %.1f | %.1f | %.1f | %.1f |\n", $1, $2, $3, $4, $5, $6 }'
}

# idle: poll until the total PSS moved less than 1 MiB over the last 5 s
# (daemons have started their workers, MariaDB has warmed up), at most 120 s.
last=""
steady_since=0
is_idle() {
	local now
	now=$(sample | total_pss)
	if [[ -n ${last} ]] && awk -v a="${last}" -v b="${now}" 'BEGIN { exit !(a - b < 1 && b - a < 1) }'; then
		((SECONDS - steady_since >= 5)) && return 0
	else
		steady_since=${SECONDS}
		last=${now}
	fi
	return 1
}

delivered() {
	{ in_host find "/var/vmail/${domain}" -path '*/fp[0-9]*/Maildir/new/*' -type f -printf . 2>/dev/null ||
		true; } | wc -c
}

# make_box N: mailbox fpN.
make_box() {
	local code
	code=$(in_host curl -sS -o /dev/null -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' -H "X-Forwarded-For: 203.0.113.$(($1 + 1))" \
		--data "{\"username\":\"fp$1\",\"password\":\"Footprint-password-$1\"}" \
		http://127.0.0.1:8080/api/v1/accounts)
	[[ ${code} == 201 ]] || { say "cannot create fp$1 (HTTP ${code})" >&2; return 1; }
}

main() {
	local keep="" n=500 sessions=8 opt
	while getopts ks:n:c: opt; do
		case ${opt} in
		k) keep=1 ;;
		s) system=${OPTARG} ;;
		n) n=${OPTARG} ;;
		c) sessions=${OPTARG} ;;
		*) say "usage: bench/footprint.sh [-k] [-s SYSTEM] [-n MESSAGES] [-c SESSIONS]" >&2; exit 64 ;;
		esac
	done
	((EUID == 0)) || { say "bench/footprint.sh: run as root" >&2; exit 1; }
	[[ -n ${keep} ]] || trap 'host_down || true' EXIT
	host_up
	local i
	for ((i = 0; i < boxes; i++)); do
		make_box "${i}"
	done
	wait_until 120 is_idle || say "(not steady within 120 s: measured anyway)" >&2

	local idle busy best=-1 now tmp
	idle=$(sample | table)
	# Mail: smtp-source in the host, spread over the mailboxes (Dovecot 2.4
	# defers a mailbox's deliveries beyond 10 at once:
	# lmtp_user_concurrency_limit).
	local -a senders=()
	for ((i = 0; i < boxes; i++)); do
		in_host smtp-source -c -s "$(((sessions + boxes - 1) / boxes))" -m "$((n / boxes))" -l 1024 \
			-f footprint@outside.invalid -M footprint.invalid -t "fp${i}@${domain}" 127.0.0.1:25 >/dev/null &
		senders+=($!)
	done
	local deadline=$((SECONDS + 300)) flushed=${SECONDS}
	tmp=$(mktemp)
	while :; do
		sample | table >"${tmp}"
		now=$(awk -F '\t' '$1 == "(total)" { print $3 }' "${tmp}")
		if awk -v a="${now}" -v b="${best}" 'BEGIN { exit !(a > b) }'; then
			best=${now}
			busy=$(<"${tmp}")
		fi
		(($(delivered) < n / boxes * boxes)) || break
		((SECONDS < deadline)) || { say "not all ${n} messages delivered within 300 s" >&2; break; }
		# Deliveries Dovecot deferred (451, too many at once for one
		# mailbox) are retried now rather than minutes later.
		((SECONDS - flushed < 5)) || { in_host postqueue -f || true; flushed=${SECONDS}; }
		sleep 0.3
	done
	rm -f -- "${tmp}"
	wait "${senders[@]}" || say "smtp-source failed" >&2

	local pretty
	# Expanded in the host.
	# shellcheck disable=SC2016
	pretty=$(in_host sh -c '. /etc/os-release && printf "%s" "${PRETTY_NAME}"')
	printf '%s\n' "${idle}" | show "Idle (${pretty}, $(date -u +%F))"
	printf '%s\n' "${busy}" | show "While mail flows (${n} messages over ${sessions} sessions on port 25; peak sample; $(delivered) delivered)"
	local god
	god=$(printf '%s\n' "${idle}" | awk -F '\t' '$1 == "PM2 God daemon" {
		printf "%d daemon(s), %.1f MiB PSS, %.1f MiB USS", $2, $3, $6 }')
	printf '\nPM2 God daemon (one, root'"'"'s, for accountd and policyd), idle: %s.\n' "${god:-none}"
	[[ -z ${keep} ]] || say "host ${bench_host} (${host_ip}) kept: take it down with nshost_down (or osroot_down with -s)"
}

main "$@"
