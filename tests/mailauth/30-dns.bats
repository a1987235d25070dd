#!/usr/bin/env bats
# Issue 4, test 5: what `mailnest-dns` prints, loaded as it is into the test
# DNS server (tests/lib/twohosts.bash does that), makes `mailnest-dns
# --check` pass; a missing or wrong record makes it fail, saying which and
# what to publish instead.

load helpers

teardown() {
	if [[ -n ${RESTORE_ZONE-} ]]; then twohosts_publish reject; fi
}

@test "5. the records mailnest-dns printed are what DNS serves, and --check passes on both hosts" {
	local host domain ip
	for host in "${TH_A}" "${TH_B}"; do
		domain=${TH_A_DOMAIN} ip=${TH_A_IP}
		[[ ${host} == "${TH_B}" ]] && domain=${TH_B_DOMAIN} ip=${TH_B_IP}
		run twohosts_exec "${host}" mailnest-dns --check
		assert_success
		assert_line --regexp "^ok +${domain//./\\.}\. MX: mail\.${domain//./\\.} receives its mail"
		assert_line --regexp "^ok +${domain//./\\.}\. SPF: passes for ${ip//./\\.}"
		assert_line --regexp "^ok +s[0-9]{8}._domainkey\.${domain//./\\.}\. DKIM: the public key matches"
		assert_line --regexp "^ok +_dmarc\.${domain//./\\.}\. DMARC: p=reject"
		assert_line --regexp "^ok +_submissions\._tcp\.${domain//./\\.}\. SRV: 0 1 465 mail\.${domain//./\\.}\.$"
		assert_line --regexp "^ok +_imaps\._tcp\.${domain//./\\.}\. SRV: 0 1 993 mail\.${domain//./\\.}\.$"
		assert_line --regexp "^ok +_imap\._tcp\.${domain//./\\.}\. SRV: 0 0 0 \.$"
		assert_line --regexp "^ok +_autodiscover\._tcp\.${domain//./\\.}\. SRV: 0 1 443 mail\.${domain//./\\.}\.$"
		assert_line --regexp "^ok +autoconfig\.${domain//./\\.}\. CNAME: mail\.${domain//./\\.}\.$"
		assert_line --regexp "^ok +mail\.${domain//./\\.}\. A: ${ip//./\\.}"
		assert_line --regexp "^ok +${ip##*.}\.0\.231\.10\.in-addr\.arpa\. PTR: mail\.${domain//./\\.}\."
		assert_line --regexp "^all [0-9]+ records are published correctly$"
		refute_output --regexp "^(MISSING|WRONG)"
	done
}

@test "5b. the output is zone-file syntax: MX, SPF with -all, DKIM in strings of at most 255 bytes, DMARC with rua" {
	run twohosts_exec "${TH_A}" mailnest-dns
	assert_success
	assert_line --regexp "^${TH_A_DOMAIN//./\\.}\.	[0-9]+	IN	MX	10 mail\.${TH_A_DOMAIN//./\\.}\.$"
	assert_line --regexp "^${TH_A_DOMAIN//./\\.}\.	[0-9]+	IN	TXT	\"v=spf1 ip4:${TH_A_IP//./\\.} -all\"$"
	assert_line --regexp "^_dmarc\.${TH_A_DOMAIN//./\\.}\.	[0-9]+	IN	TXT	\"v=DMARC1; p=none; aspf=s; rua=mailto:postmaster@${TH_A_DOMAIN//./\\.}\"$"
	assert_line --regexp "^mail\.${TH_A_DOMAIN//./\\.}\.	[0-9]+	IN	A	${TH_A_IP//./\\.}$"
	assert_line --regexp "^_submission\._tcp\.${TH_A_DOMAIN//./\\.}\.	[0-9]+	IN	SRV	0 1 587 mail\.${TH_A_DOMAIN//./\\.}\.$"
	assert_line --regexp "^_pop3\._tcp\.${TH_A_DOMAIN//./\\.}\.	[0-9]+	IN	SRV	0 0 0 \.$"
	assert_line --regexp "^${TH_A_IP##*.}\.0\.231\.10\.in-addr\.arpa\.	[0-9]+	IN	PTR	mail\.${TH_A_DOMAIN//./\\.}\.$"
	local dkim strings s
	dkim=$(grep -E '^s[0-9]{8}[-0-9]*\._domainkey\.' <<<"${output}" | head -n 1)
	[[ ${dkim} == *'IN	TXT	( "v=DKIM1; k=rsa; h=sha256; p='* ]]
	mapfile -t strings < <(grep -oE '"[^"]*"' <<<"${dkim}")
	((${#strings[@]} >= 2))
	for s in "${strings[@]}"; do
		((${#s} - 2 <= 255))
	done
	# A 2048-bit RSA key (the DER SubjectPublicKeyInfo is 294 bytes).
	local key
	key=$(tr -d '" ()' <<<"${dkim#*p=}")
	[[ $(base64 -d <<<"${key}" | wc -c) == 294 ]]
	# nsd accepted it as a zone (the fixture loaded it): the same text, parsed.
	run nshost_exec "${TH_DNS}" nsd-checkzone "${TH_A_DOMAIN}" "/etc/nsd/zones/${TH_A_DOMAIN}.zone"
	assert_success
}

@test "5c. without the DKIM record --check fails, names it and prints the record to publish" {
	local sel
	RESTORE_ZONE=yes
	sel=$(twohosts_exec "${TH_A}" mailnest-dkim list | awk -v d="${TH_A_DOMAIN}" '$1 == d { sub("signing=", "", $2); print $2 }')
	twohosts_zone_records "${TH_A_DOMAIN}" | grep -v '_domainkey' | twohosts_zone_load "${TH_A_DOMAIN}"
	run twohosts_exec "${TH_A}" mailnest-dns --check
	assert_failure
	assert_line --regexp "^MISSING ${sel}\._domainkey\.${TH_A_DOMAIN//./\\.}\. DKIM: no DKIM key record$"
	assert_line --regexp "^ +publish: ${sel}\._domainkey\.${TH_A_DOMAIN//./\\.}\. [0-9]+ IN TXT \( \"v=DKIM1; k=rsa; h=sha256; p="
	assert_line "1 record(s) missing or wrong: publish the lines shown after \"publish:\""
	assert_line --regexp "^ok +${TH_A_DOMAIN//./\\.}\. SPF"
}

@test "5d. --check reports wrong records: an SPF that leaves the server out, a second SPF, an MX elsewhere, a stale key" {
	RESTORE_ZONE=yes
	twohosts_zone_records "${TH_A_DOMAIN}" |
		sed -e "s/ip4:${TH_A_IP} -all/ip4:192.0.2.1 -all/" -e "s/IN	MX	10 mail\./IN	MX	10 other./" \
			-e 's/p=MIIB/p=MIIC/' |
		twohosts_zone_load "${TH_A_DOMAIN}"
	run twohosts_exec "${TH_A}" mailnest-dns --check
	assert_failure
	assert_line --regexp "^WRONG +${TH_A_DOMAIN//./\\.}\. SPF: does not pass for ${TH_A_IP//./\\.}: fail"
	assert_line --regexp "^WRONG +${TH_A_DOMAIN//./\\.}\. MX: does not name mail\.${TH_A_DOMAIN//./\\.}"
	assert_line --regexp "^WRONG +s[0-9]{8}[-0-9]*\._domainkey\.${TH_A_DOMAIN//./\\.}\. DKIM: the key differs"
	assert_line --regexp "^ +publish: ${TH_A_DOMAIN//./\\.}\. [0-9]+ IN TXT \"v=spf1 ip4:${TH_A_IP//./\\.} -all\"$"
	# Two SPF records are a permanent error for every receiver.
	{ twohosts_zone_records "${TH_A_DOMAIN}"; printf '%s.\t60\tIN\tTXT\t"v=spf1 -all"\n' "${TH_A_DOMAIN}"; } |
		twohosts_zone_load "${TH_A_DOMAIN}"
	run twohosts_exec "${TH_A}" mailnest-dns --check "${TH_A_DOMAIN}"
	assert_failure
	assert_line --regexp "^WRONG +${TH_A_DOMAIN//./\\.}\. SPF: more than one SPF record"
}

@test "5e. mailnest-dns refuses bad input and runs only as root" {
	run twohosts_exec "${TH_A}" mailnest-dns 'bad..name'
	assert_failure 64
	run twohosts_exec "${TH_A}" mailnest-dns --dmarc-policy maybe
	assert_failure 64
	run twohosts_exec "${TH_A}" mailnest-dns "$(printf 'a%.0s' {1..300}).test"
	assert_failure 64
	run twohosts_exec "${TH_A}" runuser -u nobody -- mailnest-dns
	assert_failure 77
}
