#!/usr/bin/env bats
# shellcheck disable=SC2154 # TH_* come from tests/lib/twohosts.bash (through helpers)
# Issue 12, item 2: mailnest-dns leads the administrator up the DMARC ladder,
# p=none -> p=quarantine -> p=reject, one step at a time and only once
# --check finds DKIM and SPF published and passing (they align: mailnest
# signs and sends as the From domain itself). The advice never turns a
# passing --check into a failing one.

load helpers

teardown() {
	twohosts_publish reject
}

# dmarc_re POLICY: the record mailnest-dns proposes for a.test, as a regex.
dmarc_re() {
	printf '^ +publish: _dmarc\\.%s\\. [0-9]+ IN TXT "v=DMARC1; p=%s; aspf=s; rua=mailto:postmaster@%s"$' \
		"${TH_A_DOMAIN//./\\.}" "$1" "${TH_A_DOMAIN//./\\.}"
}

@test "5f. with p=none published and DKIM and SPF passing, --check proposes p=quarantine, then p=reject, then nothing" {
	local d=${TH_A_DOMAIN//./\\.}
	twohosts_publish none
	run twohosts_exec "${TH_A}" mailnest-dns --check "${TH_A_DOMAIN}"
	assert_success
	assert_line --regexp "^ok +_dmarc\.${d}\. DMARC: p=none$"
	assert_line --regexp "^next +_dmarc\.${d}\. DMARC: DKIM and SPF pass and align for ${d}: move from p=none to p=quarantine$"
	assert_line --regexp "$(dmarc_re quarantine)"
	assert_line --regexp "^all [0-9]+ records are published correctly$"
	twohosts_publish quarantine
	run twohosts_exec "${TH_A}" mailnest-dns --check "${TH_A_DOMAIN}"
	assert_success
	assert_line --regexp "^next +_dmarc\.${d}\. DMARC: DKIM and SPF pass and align for ${d}: move from p=quarantine to p=reject$"
	assert_line --regexp "$(dmarc_re reject)"
	twohosts_publish reject
	run twohosts_exec "${TH_A}" mailnest-dns --check "${TH_A_DOMAIN}"
	assert_success
	refute_line --regexp '^next '
}

@test "5g. with p=none and no DKIM record, --check says to keep p=none until DKIM and SPF are ok" {
	twohosts_publish none
	twohosts_zone_records "${TH_A_DOMAIN}" | grep -v '_domainkey' | twohosts_zone_load "${TH_A_DOMAIN}"
	run twohosts_exec "${TH_A}" mailnest-dns --check "${TH_A_DOMAIN}"
	assert_failure
	assert_line --regexp "^next +_dmarc\.${TH_A_DOMAIN//./\\.}\. DMARC: keep p=none until DKIM and SPF above are ok; then p=quarantine$"
	refute_line --regexp "$(dmarc_re quarantine)"
}

@test "5h. the printed records say that p=none is a step towards p=quarantine and p=reject" {
	run twohosts_exec "${TH_A}" mailnest-dns "${TH_A_DOMAIN}"
	assert_success
	assert_line --regexp '^; DMARC p=none is a step, not the goal: .*--check'
	assert_line --regexp '^; .*p=quarantine \(--dmarc-policy quarantine\)'
	assert_line --regexp '^; .*p=reject \(--dmarc-policy reject\)\.$'
	run twohosts_exec "${TH_A}" mailnest-dns --dmarc-policy reject "${TH_A_DOMAIN}"
	refute_line --regexp '^; DMARC p='
}
