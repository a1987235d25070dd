# shellcheck shell=bash disable=SC2154 # ABUSE_* come from tests/abuse/run, BATS_* from bats
# Helpers of the abuse tests (tests/abuse/*.bats). tests/abuse/run starts the
# hosts and exports their names and addresses:
#   ABUSE_MAIL / ABUSE_MAIL_IP   the mail host, installed with ./install.sh
#   ABUSE_INNOCENT(_IP)          a client that never fails a login
#   ABUSE_ATTACKERS / ABUSE_ATTACKER_IPS   five attackers, one per jail tested
#   ABUSE_SSH(_IP)               the client of a simulated SSH session

bats_load_library bats-support
bats_load_library bats-assert
# shellcheck source=tests/lib/nshost.bash
source "${BATS_TEST_DIRNAME}/../lib/nshost.bash"

# Every port the firewall opens (with MAILNEST_PLAIN_PORTS=yes) and every
# ban must close.
ABUSE_MAIL_WEB_PORTS=(25 80 443 465 587 993 995 143 110)
ABUSE_PASSWORD=Abuse-Test-Passw0rd-7
export ABUSE_MAIL_WEB_PORTS ABUSE_PASSWORD

# on_mail COMMAND...: run COMMAND on the mail host (nshost_exec_detached: a
# daemon it starts does not keep bats waiting).
on_mail() {
	nshost_exec_detached "${ABUSE_MAIL}" "$@"
}

# port_open FROM_HOST PORT: a TCP connection from FROM_HOST to the mail host
# is accepted within 3 seconds.
port_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	nshost_exec "$1" timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${ABUSE_MAIL_IP}" "$2" 2>/dev/null
}

# listens_on ADDRESS PORT: the mail host itself connects to ADDRESS:PORT.
listens_on() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	on_mail timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# listen_on ADDRESS PORT: make something accept connections on ADDRESS:PORT
# of the mail host (a socat that hangs up at once), unless something does
# already; the test reaches it through the host's own address.
listen_on() {
	local address=$1 port=$2
	listens_on "${ABUSE_MAIL_IP}" "${port}" && return 0
	# shellcheck disable=SC2016 # expanded by the inner bash
	on_mail bash -c 'setsid socat TCP-LISTEN:"$2",bind="$1",fork,reuseaddr SYSTEM:true </dev/null >/dev/null 2>&1 &' \
		listen "${address}" "${port}"
	wait_until 5 listens_on "${ABUSE_MAIL_IP}" "${port}"
}

# shellcheck source=tests/lib/wait.bash
source "${BATS_TEST_DIRNAME}/../lib/wait.bash"

banned_in() {	# JAIL IP
	on_mail fail2ban-client status "$1" | grep -q "Banned IP list:.*\<$2\>"
}

# wait_until_banned JAIL IP: fail2ban has read the log and banned IP (30 s).
wait_until_banned() {
	wait_until 30 banned_in "$1" "$2"
}

# install_mail_host [ENV=VALUE...]: run the installer on the mail host (with
# the given environment) and keep its output in ${ABUSE_LOG_DIR}.
install_mail_host() {
	local log
	log=$(mktemp "${ABUSE_LOG_DIR}/install.XXXXXX")
	on_mail env "$@" ./install.sh </dev/null >"${log}" 2>&1 || {
		cat -- "${log}" >&3
		return 1
	}
	printf '%s\n' "${log}"
}

set_setting() {	# KEY VALUE in /etc/mailnest/mailnest.conf of the mail host
	on_mail sed -i "s/^$1=.*/$1=$2/" /etc/mailnest/mailnest.conf
}
