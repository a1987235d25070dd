# shellcheck shell=bash
# A small internet on this machine: an authoritative DNS server, two mail
# hosts running the installed mailnest stack, a stranger and a forwarding
# relay that alters mail. Built on tests/lib/nshost.bash (one network, mount
# and PID namespace per host); nothing leaves the bridge nshost0.
#
#   host        address        what
#   madns       10.231.0.10    nsd, authoritative for a.test, b.test, fwd.test
#                              and 0.231.10.in-addr.arpa; every host resolves
#                              through it
#   maa         10.231.0.11    ./install.sh --domain a.test --hostname mail.a.test
#   mab         10.231.0.12    ./install.sh --domain b.test --hostname mail.b.test
#   mastr       10.231.0.13    a stranger: no mail server, listed by no SPF
#   marel       10.231.0.14    MX of fwd.test: tests/lib/twohosts-relay.py
#                              forwards USER@fwd.test to USER@b.test, with a
#                              line added to the body, as relay@fwd.test
# Names and addresses can be changed with the TH_* variables below (set them
# before sourcing), so that other suites can run their own copy.
#
#   source tests/lib/twohosts.bash
#   twohosts_up                 # ~1 min: hosts, installs, zones from mailnest-dns
#   twohosts_exec maa mailnest-dns --check
#   twohosts_down
#
# The zones of a.test and b.test are what `mailnest-dns --dmarc-policy reject`
# prints on each mail host (twohosts_publish), loaded as they are below a
# fixed SOA/NS header; tests change them with twohosts_zone_load.

TH_DNS=${TH_DNS:-madns}
TH_A=${TH_A:-maa}
TH_B=${TH_B:-mab}
TH_STRANGER=${TH_STRANGER:-mastr}
TH_RELAY=${TH_RELAY:-marel}
TH_DNS_IP=${TH_DNS_IP:-10.231.0.10}
TH_A_IP=${TH_A_IP:-10.231.0.11}
TH_B_IP=${TH_B_IP:-10.231.0.12}
TH_STRANGER_IP=${TH_STRANGER_IP:-10.231.0.13}
TH_RELAY_IP=${TH_RELAY_IP:-10.231.0.14}
TH_A_DOMAIN=${TH_A_DOMAIN:-a.test}
TH_B_DOMAIN=${TH_B_DOMAIN:-b.test}
TH_FWD_DOMAIN=${TH_FWD_DOMAIN:-fwd.test}
TH_REVERSE_ZONE=${TH_REVERSE_ZONE:-0.231.10.in-addr.arpa}
TH_LOG=${TH_LOG:-/tmp/twohosts-logs}
TH_REPO=${TH_REPO:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
export TH_DNS TH_A TH_B TH_STRANGER TH_RELAY TH_DNS_IP TH_A_IP TH_B_IP TH_STRANGER_IP \
	TH_RELAY_IP TH_A_DOMAIN TH_B_DOMAIN TH_FWD_DOMAIN TH_REVERSE_ZONE TH_LOG TH_REPO

# shellcheck source=tests/lib/nshost.bash
source "${TH_REPO}/tests/lib/nshost.bash"

_th_say() {
	printf '# twohosts: %s\n' "$*"
}

# twohosts_exec HOST COMMAND...: run COMMAND in HOST from the repository.
# Descriptor 3 (bats's) is closed: a daemon COMMAND starts must not hold it.
twohosts_exec() {
	local host=$1
	shift
	(cd -- "${TH_REPO}" && nshost_exec "${host}" "$@" 3>&-)
}

# shellcheck source=tests/lib/wait.bash
source "${BASH_SOURCE[0]%/*}/wait.bash"

# ---- DNS --------------------------------------------------------------------

_th_nsd_conf() {
	local zone
	printf '%s\n' "server:" "  ip-address: ${TH_DNS_IP}" "  port: 53" "  username: nsd" \
		"  zonesdir: /etc/nsd/zones" "  pidfile: /run/nsd/nsd.pid" '  database: ""' \
		"  logfile: /var/log/nsd.log" "  verbosity: 1" \
		"remote-control:" "  control-enable: yes" "  control-interface: /run/nsd/nsd.ctl"
	for zone in "${TH_A_DOMAIN}" "${TH_B_DOMAIN}" "${TH_FWD_DOMAIN}" "${TH_REVERSE_ZONE}"; do
		printf '%s\n' "zone:" "  name: ${zone}" "  zonefile: ${zone}.zone"
	done
	# An empty root: every other name is NXDOMAIN, as a resolver on the
	# internet would answer for it (not REFUSED, which reads as an outage).
	printf '%s\n' "zone:" '  name: "."' "  zonefile: root.zone"
}

_th_root_zone() {
	printf '.\t60\tIN\tSOA\tns.root. hostmaster.root. 1 60 60 600 30\n'
	printf '.\t60\tIN\tNS\tns.root.\n'
}

# twohosts_zone_load ZONE: make standard input (records in zone-file syntax,
# absolute names) the content of ZONE, below a fixed SOA and NS, and have
# nsd serve it; waits until it does.
twohosts_zone_load() {
	local zone=$1 serial
	serial=$(date +%s)
	{
		printf '%s\n' "\$TTL 60"
		printf '%s.\t60\tIN\tSOA\tns.%s. hostmaster.%s. %s 60 60 600 30\n' "${zone}" "${zone}" "${zone}" "${serial}"
		printf '%s.\t60\tIN\tNS\tns.%s.\n' "${zone}" "${zone}"
		[[ ${zone} == *.arpa ]] || printf 'ns.%s.\t60\tIN\tA\t%s\n' "${zone}" "${TH_DNS_IP}"
		cat
	} | nshost_exec "${TH_DNS}" bash -c "cat >/etc/nsd/zones/${zone}.zone.new && mv /etc/nsd/zones/${zone}.zone.new /etc/nsd/zones/${zone}.zone" ||
		return 1
	# Before nsd runs (the fixture's first zones) there is nothing to reload.
	nshost_exec "${TH_DNS}" test -S /run/nsd/nsd.ctl || return 0
	nshost_exec "${TH_DNS}" nsd-control -c /etc/nsd/nsd.conf reload "${zone}" >/dev/null || return 1
	wait_until 10 _th_serial_is "${zone}" "${serial}"
}

_th_serial_is() {
	[[ $(dig +short +norecurse +time=1 +tries=1 "@${TH_DNS_IP}" SOA "$1" | awk '!/^;/ { print $3 }') == "$2" ]]
}

_th_base_zone() {	# DOMAIN MAIL_IP
	printf '%s.\t60\tIN\tMX\t10 mail.%s.\n' "$1" "$1"
	printf 'mail.%s.\t60\tIN\tA\t%s\n' "$1" "$2"
}

_th_dns_up() {
	_th_host_up "${TH_DNS}" "${TH_DNS_IP}" || return 1
	_th_nsd_conf | nshost_exec "${TH_DNS}" bash -c 'mkdir -p /etc/nsd/zones /run/nsd && chown nsd:nsd /run/nsd && cat >/etc/nsd/nsd.conf' ||
		return 1
	_th_root_zone | nshost_exec "${TH_DNS}" tee /etc/nsd/zones/root.zone >/dev/null || return 1
	_th_base_zone "${TH_A_DOMAIN}" "${TH_A_IP}" | twohosts_zone_load "${TH_A_DOMAIN}" || true
	_th_base_zone "${TH_B_DOMAIN}" "${TH_B_IP}" | twohosts_zone_load "${TH_B_DOMAIN}" || true
	{
		printf '%s.\t60\tIN\tMX\t10 relay.%s.\n' "${TH_FWD_DOMAIN}" "${TH_FWD_DOMAIN}"
		printf 'relay.%s.\t60\tIN\tA\t%s\n' "${TH_FWD_DOMAIN}" "${TH_RELAY_IP}"
		printf '%s.\t60\tIN\tTXT\t"v=spf1 ip4:%s -all"\n' "${TH_FWD_DOMAIN}" "${TH_RELAY_IP}"
	} | twohosts_zone_load "${TH_FWD_DOMAIN}" || true
	true | twohosts_zone_load "${TH_REVERSE_ZONE}" || true
	nshost_exec "${TH_DNS}" nsd -c /etc/nsd/nsd.conf || return 1
	wait_until 10 _th_serial_is "${TH_A_DOMAIN}" "$(_th_zone_serial "${TH_A_DOMAIN}")"
}

_th_zone_serial() {
	# shellcheck disable=SC2016 # awk's fields
	nshost_exec "${TH_DNS}" awk '$4 == "SOA" { print $7; exit }' "/etc/nsd/zones/$1.zone"
}

# twohosts_publish [POLICY]: load into DNS what mailnest-dns prints on each
# mail host (DMARC policy POLICY, default reject), as it is.
twohosts_publish() {
	local policy=${1:-reject} domain host
	for host in "${TH_A}" "${TH_B}"; do
		domain=${TH_A_DOMAIN}
		[[ ${host} == "${TH_B}" ]] && domain=${TH_B_DOMAIN}
		twohosts_exec "${host}" mailnest-dns --dmarc-policy "${policy}" --zone "${domain}" |
			twohosts_zone_load "${domain}" || return 1
	done
	{
		twohosts_exec "${TH_A}" mailnest-dns --zone "${TH_REVERSE_ZONE}"
		twohosts_exec "${TH_B}" mailnest-dns --zone "${TH_REVERSE_ZONE}"
	} | twohosts_zone_load "${TH_REVERSE_ZONE}"
}

# twohosts_zone_show ZONE: the zone file as nsd serves it.
twohosts_zone_show() {
	nshost_exec "${TH_DNS}" cat "/etc/nsd/zones/$1.zone"
}

# twohosts_zone_records ZONE: its records, without the fixture's SOA/NS header.
twohosts_zone_records() {
	twohosts_zone_show "$1" | sed '1,/\tIN\tNS\t/d' | grep -v "^ns\.$1\.	"
}

# ---- mail hosts ---------------------------------------------------------------

# _th_install HOST DOMAIN: the installer, as a user runs it.
_th_install() {
	local host=$1 domain=$2
	twohosts_exec "${host}" ./install.sh --domain "${domain}" --hostname "mail.${domain}" \
		</dev/null >"${TH_LOG}/install-${host}.log" 2>&1
}

_th_relay_up() {
	_th_host_up "${TH_RELAY}" "${TH_RELAY_IP}" || return 1
	# shellcheck disable=SC2016 # expanded by the host's bash
	twohosts_exec "${TH_RELAY}" bash -c 'setsid python3 "$1" "$2" "$3" "$4" "$5" </dev/null >/var/log/relay.log 2>&1 &' \
		th "${TH_REPO}/tests/lib/twohosts-relay.py" "${TH_RELAY_IP}" "${TH_FWD_DOMAIN}" "${TH_B_IP}" "${TH_B_DOMAIN}" ||
		return 1
	wait_until 10 _th_port_open "${TH_RELAY_IP}" 25
}

# _th_host_up NAME IP: nshost_up, resolving through the DNS host.
_th_host_up() {
	nshost_up "$1" "$2" "${TH_DNS_IP}"
}

_th_port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# twohosts_up: the whole setup, ready for mail (returns 1 and shows the
# install log on failure).
twohosts_up() {
	local host rc=0 pid_a pid_b
	mkdir -p -- "${TH_LOG}"
	_th_say "DNS host ${TH_DNS} (${TH_DNS_IP})"
	_th_dns_up || return 1
	_th_host_up "${TH_A}" "${TH_A_IP}" || return 1
	_th_host_up "${TH_B}" "${TH_B_IP}" || return 1
	_th_say "installing ${TH_A_DOMAIN} on ${TH_A} and ${TH_B_DOMAIN} on ${TH_B} (logs in ${TH_LOG})"
	_th_install "${TH_A}" "${TH_A_DOMAIN}" &
	pid_a=$!
	_th_install "${TH_B}" "${TH_B_DOMAIN}" &
	pid_b=$!
	wait "${pid_a}" || rc=1
	wait "${pid_b}" || rc=1
	if ((rc != 0)); then
		for host in "${TH_A}" "${TH_B}"; do
			tail -n 30 "${TH_LOG}/install-${host}.log" | sed "s/^/# install ${host}: /"
		done
		return 1
	fi
	_th_say "publishing the records mailnest-dns prints"
	twohosts_publish reject || return 1
	_th_host_up "${TH_STRANGER}" "${TH_STRANGER_IP}" || return 1
	_th_relay_up || return 1
	for host in "${TH_A_IP}" "${TH_B_IP}"; do
		wait_until 30 _th_port_open "${host}" 25 || return 1
		wait_until 30 _th_port_open "${host}" 587 || return 1
		wait_until 30 _th_port_open "${host}" 993 || return 1
	done
	_th_say "ready"
}

twohosts_down() {
	local host
	for host in "${TH_RELAY}" "${TH_STRANGER}" "${TH_B}" "${TH_A}" "${TH_DNS}"; do
		nshost_down "${host}" || true
	done
}

# ---- mail ---------------------------------------------------------------------

# twohosts_add_user HOST EMAIL PASSWORD: a mailbox, made with accountd's CLI.
twohosts_add_user() {
	printf '%s\n' "$3" | nshost_exec "$1" runuser -u accountd -- \
		env ACCOUNTD_CONFIG_FILE=/etc/mailnest/accountd.env /opt/mailnest/current/bin/accountd user add "$2"
}

# twohosts_ip HOST: the address of a host of the fixture.
twohosts_ip() {
	case $1 in
	"${TH_A}") printf '%s\n' "${TH_A_IP}" ;;
	"${TH_B}") printf '%s\n' "${TH_B_IP}" ;;
	"${TH_STRANGER}") printf '%s\n' "${TH_STRANGER_IP}" ;;
	"${TH_RELAY}") printf '%s\n' "${TH_RELAY_IP}" ;;
	"${TH_DNS}") printf '%s\n' "${TH_DNS_IP}" ;;
	*) return 1 ;;
	esac
}

# twohosts_imap_search IP EMAIL PASSWORD TEXT: UIDs of INBOX messages with TEXT.
twohosts_imap_search() {
	curl -sS --insecure --max-time 20 -u "$2:$3" "imaps://$1:993/INBOX" \
		-X "UID SEARCH TEXT \"$4\"" | tr -d '\r' | sed -n 's/^\* SEARCH//p' | tr ' ' '\n' | sed '/^$/d'
}

twohosts_imap_has() {
	[[ -n $(twohosts_imap_search "$@") ]]
}

# twohosts_imap_count IP EMAIL PASSWORD: messages in INBOX.
twohosts_imap_count() {
	curl -sS --insecure --max-time 20 -u "$2:$3" "imaps://$1:993/" -X 'STATUS INBOX (MESSAGES)' |
		tr -d '\r' | sed -n 's/.*MESSAGES \([0-9]*\).*/\1/p'
}

# twohosts_imap_fetch IP EMAIL PASSWORD TEXT: the whole first message with
# TEXT (header and body), CRLF turned into LF.
twohosts_imap_fetch() {
	local uid
	uid=$(twohosts_imap_search "$@" | head -n 1)
	[[ -n ${uid} ]] || return 1
	curl -sS --insecure --max-time 20 -u "$2:$3" "imaps://$1:993/INBOX;UID=${uid}" | tr -d '\r'
}

# twohosts_imap_raw IP EMAIL PASSWORD TEXT: the same, exactly as stored
# (CRLF line ends), for signature checks.
twohosts_imap_raw() {
	local uid
	uid=$(twohosts_imap_search "$@" | head -n 1)
	[[ -n ${uid} ]] || return 1
	curl -sS --insecure --max-time 20 -u "$2:$3" "imaps://$1:993/INBOX;UID=${uid}"
}

# twohosts_header NAME: the unfolded header fields NAME of the message on
# standard input, one a line.
twohosts_header() {
	sed '/^$/q' | awk -v name="$1" '
		/^[ \t]/ { if (keep) line = line " " $0; next }
		{ if (keep) print line; keep = (tolower(substr($0, 1, length(name) + 1)) == tolower(name) ":"); line = $0 }
		END { if (keep) print line }' | tr -s ' \t' ' '
}
