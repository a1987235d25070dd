#!/usr/bin/env bats
# Issue 13: on each supported system, PM2 (the pinned version, on the
# system's Node.js) brings back an accountd process that was killed.

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
