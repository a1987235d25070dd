#!/usr/bin/env bats
# Issue 13: on each supported system, PM2 (the pinned version, on the
# system's Node.js) brings back an accountd process that was killed, and its
# one daemon (root's) runs accountd and policyd each as its own user.

# E2E_API comes from lib.bash.
# shellcheck disable=SC2154
load lib

api_answers() {
	curl -fsS --max-time 2 "${E2E_API}/healthz" >/dev/null
}

both_back_without() {
	local pids
	pids=$(accountd_pids)
	[[ $(wc -l <<<"${pids}") -eq 2 ]] && ! grep -qx -- "$1" <<<"${pids}"
}

@test "PM2 brings back a killed accountd" {
	local victim
	victim=$(accountd_pids | head -n 1)
	[[ -n ${victim} ]] || fail "PM2 lists no accountd process"
	in_host kill -KILL "${victim}"
	wait_until 30 both_back_without "${victim}"
	wait_until 10 api_answers
}

# runs_as PID USER: all four user and group ids are USER's and it cannot
# gain privileges (setpriv --reuid --regid --init-groups --no-new-privs).
runs_as() {
	local status uid gid
	status=$(in_host cat "/proc/$1/status")
	uid=$(in_host id -u "$2")
	gid=$(in_host id -g "$2")
	grep -qxP "Uid:\t${uid}\t${uid}\t${uid}\t${uid}" <<<"${status}" &&
		grep -qxP "Gid:\t${gid}\t${gid}\t${gid}\t${gid}" <<<"${status}" &&
		grep -qxP 'NoNewPrivs:\t1' <<<"${status}"
}

@test "one PM2 daemon, root's, runs accountd and policyd, each as its own user" {
	local daemons pid
	daemons=$(in_host pgrep -f '^PM2 v[0-9.]+: God Daemon')
	[[ $(wc -l <<<"${daemons}") -eq 1 ]] || fail "PM2 daemons: ${daemons}"
	[[ $(in_host ps -o user= -p "${daemons}") == root ]] || fail "PM2 is not root's"
	for pid in $(accountd_pids); do
		runs_as "${pid}" accountd || fail "accountd ${pid}: $(in_host cat "/proc/${pid}/status")"
	done
	for pid in $(in_host pgrep -x mailnest-policy); do
		runs_as "${pid}" policyd || fail "policyd ${pid}: $(in_host cat "/proc/${pid}/status")"
	done
	[[ $(in_host pgrep -c -x accountd) -eq 2 && $(in_host pgrep -c -x mailnest-policy) -eq 2 ]] ||
		fail "$(in_host pgrep -a -x accountd) $(in_host pgrep -a -x mailnest-policy)"
}
