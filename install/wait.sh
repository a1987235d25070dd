# shellcheck shell=bash
# The one bounded poll of mailnest, sourced by install/lib.sh and by the test
# suites (tests/lib/wait.bash): never sleep and hope.

# wait_until SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds;
# fail (return 1) once SECONDS have passed.
wait_until() {
	local timeout=$1 deadline
	shift
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}
