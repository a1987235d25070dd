#!/usr/bin/env bats
# The deploy path, for real: releases built by deploy/build-release.sh are
# shipped over SSH by the `ship` step of .github/workflows/deploy.yml to an
# OpenSSH server on loopback, where deploy/deploy.sh installs them into a
# temporary base directory and restarts accountd, which runs as two PM2
# processes sharing a port (PM2 root's, accountd as nobody through setpriv) (see lib.bash for the set-up). The tests run in
# order and each starts from the state the previous one left: A live, then B.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load lib

setup_file() { deploytest_setup; }
teardown_file() { deploytest_teardown; }
setup() { deploytest_env; }
teardown() { load_stop; }

# A load result as one line, for the TAP log.
load_summary() {
	jq -r '"\(.requests) requests in \(.seconds) s (\(.per_second)/s), \(.failed) failed \(.failures), versions \(.versions), longest gap between answers \(.max_gap_seconds) s"' "$1"
}

@test "0. the project's PM2 ecosystem runs accountd as two processes sharing one port" {
	# deploy/ecosystem.config.js: instances: 2 and ACCOUNTD_REUSE_PORT=1;
	# otherwise a restart leaves no process to answer.
	wait_until 10 both_online
	run listening_pids
	assert_equal "${#lines[@]}" 2
	all_answers_are 200 "${DT_VA}"
}

@test "1. a good release deploys over SSH; /readyz and /healthz answer from it on every process" {
	assert_equal "$(live_version)" "${DT_VA}"
	load_start good
	run deploy_via_workflow "${DT_B}"
	load_stop
	sed 's/^/# /' "${DT_ROOT}/ship.log" >&3
	assert_success
	grep -q "deployed ${DT_VB} (previous: ${DT_VA})" "${DT_ROOT}/ship.log"
	assert_equal "$(live_version)" "${DT_VB}"
	all_answers_are 200 "${DT_VB}"
	run curl -sS --max-time 2 "http://127.0.0.1:${DT_APP_PORT}/healthz"
	assert_output "{\"status\":\"ok\",\"version\":\"${DT_VB}\"}"
	both_online
	# The upload directory on the server is gone.
	run find /tmp -maxdepth 1 -name 'mailnest-deploy.*' -newer "${DT_ROOT}/accountd.env"
	assert_output ''
}

@test "2. a load running during that whole deploy had zero failed requests" {
	local out="${DT_ROOT}/load-good.json"
	[[ -f ${out} ]] || fail "test 1 left no load result"
	echo "# during the deploy: $(load_summary "${out}")" >&3
	assert_equal "$(jq .failed "${out}")" 0
	(($(jq .requests "${out}") > 500))
	# Both versions answered: the load spanned the switch-over...
	(($(jq --arg v "${DT_VA}" '.versions[$v] // 0' "${out}") > 0))
	(($(jq --arg v "${DT_VB}" '.versions[$v] // 0' "${out}") > 0))
	# ...and never stalled (a bound loose enough for a busy CI machine).
	jq -e '.max_gap_seconds < 2' "${out}"
}

@test "3. a release whose accountd exits at start-up is rolled back; the old one keeps serving" {
	load_start broken
	run deploy_via_workflow "${DT_BROKEN}"
	load_stop
	sed 's/^/# /' "${DT_ROOT}/ship.log" >&3
	assert_equal "${status}" 1
	grep -q "FAILED: process [0-9]* did not serve 0.1.0+deploytest.broken within 20 s" "${DT_ROOT}/ship.log"
	grep -q "rolled back: ${DT_VB} is live again" "${DT_ROOT}/ship.log"
	assert_equal "$(live_version)" "${DT_VB}"
	all_answers_are 200 "${DT_VB}"
	wait_until 10 both_online
	echo "# during the failed deploy and its rollback: $(load_summary "${DT_ROOT}/load-broken.json")" >&3
	assert_equal "$(jq .failed "${DT_ROOT}/load-broken.json")" 0
}

@test "4. a release whose migration fails leaves the database and the running version as they were" {
	runuser -u nobody -- env ACCOUNTD_CONFIG_FILE="${DT_ROOT}/accountd.env" \
		"${DT_BASE}/current/bin/accountd" domain add kept.example
	local before after
	before=$(schema_fingerprint)
	run deploy_via_workflow "${DT_BADMIG}"
	sed 's/^/# /' "${DT_ROOT}/ship.log" >&3
	assert_equal "${status}" 1
	grep -q "FAILED: accountd: .*0900_deploy_test_fails.sql: a statement failed" "${DT_ROOT}/ship.log"
	grep -q "database restored to its state before the migration" "${DT_ROOT}/ship.log"
	after=$(schema_fingerprint)
	assert_equal "${after}" "${before}"
	run tempdb_sql "${DT_DB}" "SELECT name FROM mailnest.domains WHERE name = 'kept.example'"
	assert_output kept.example
	assert_equal "$(live_version)" "${DT_VB}"
	all_answers_are 200 "${DT_VB}"
}

@test "5. two deploys started at once: one deploys, the other refuses; never both" {
	local s1=0 s2=0 p1 p2
	deploy_via_workflow "${DT_A}" "${DT_ROOT}/first.log" &
	p1=$!
	deploy_via_workflow "${DT_A}" "${DT_ROOT}/second.log" &
	p2=$!
	wait "${p1}" || s1=$?
	wait "${p2}" || s2=$?
	sed 's/^/# first: /' "${DT_ROOT}/first.log" >&3
	sed 's/^/# second: /' "${DT_ROOT}/second.log" >&3
	assert_equal "$(printf '%s\n' "${s1}" "${s2}" | sort -n | tr '\n' ' ')" "0 75 "
	run cat "${DT_ROOT}/first.log" "${DT_ROOT}/second.log"
	assert_equal "$(grep -c 'current -> releases/' <<<"${output}")" 1
	assert_equal "$(grep -c "deployed ${DT_VA}" <<<"${output}")" 1
	assert_equal "$(grep -c 'another deploy is running' <<<"${output}")" 1
	assert_equal "$(live_version)" "${DT_VA}"
	all_answers_are 200 "${DT_VA}"
}

@test "6. a tarball that does not match its SHA256SUMS is refused before anything changes" {
	local dir="${DT_ROOT}/dist-corrupt"
	cp -R "${DT_B%/*}" "${dir}"
	printf 'x' >>"${dir}/${DT_B##*/}"
	run deploy_via_workflow "${dir}/${DT_B##*/}"
	sed 's/^/# /' "${DT_ROOT}/ship.log" >&3
	assert_equal "${status}" 1
	grep -q "does not match its checksum" "${DT_ROOT}/ship.log"
	assert_equal "$(live_version)" "${DT_VA}"
}

@test "7. by hand, with --lock-wait: a deploy waits for the one holding the lock, then runs and prunes" {
	flock "${DT_BASE}/.deploy.lock" sleep 3 &
	local holder=$! start=${SECONDS}
	wait_until 5 bash -c "! flock -n '${DT_BASE}/.deploy.lock' true"
	run env MAILNEST_DEPLOY_CONF=/dev/null "${DT_REPO}/deploy/deploy.sh" --base "${DT_BASE}" --app accountd \
		--pm2-home "${DT_PM2_HOME}" --user nobody --readyz "http://127.0.0.1:${DT_APP_PORT}/readyz" \
		--config "${DT_ROOT}/accountd.env" --timeout 20 --lock-wait 30 --keep 2 "${DT_B}"
	wait "${holder}"
	sed 's/^/# /' <<<"${output}" >&3
	assert_success
	((SECONDS - start >= 2))
	assert_equal "$(live_version)" "${DT_VB}"
	all_answers_are 200 "${DT_VB}"
	# Kept: the two newest, which are the live one and the previous one.
	run ls "${DT_BASE}/releases"
	assert_output "$(printf '%s\n' "${DT_VA}" "${DT_VB}" | sort)"
	run ls "${DT_BASE}/backups"
	assert_equal "${#lines[@]}" 2
}
