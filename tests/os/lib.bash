# shellcheck shell=bash
# Helpers of the OS matrix's checks (tests/os/*.bats), run by tests/os/run on
# this machine against one throw-away host made from another system's root
# (tests/lib/osroot.bash), named by OS_HOST. The test clients are this
# machine's (curl, swaks, openssl, dkimpy), run in the host's network
# namespace only, so that they reach its loopback services as a local user
# would; what must be read on the server is read with in_host. The
# end-to-end helpers (tests/lib/e2e.bash: new_account, swaks_submit,
# imap_has, ...) are reused as they are, with curl and swaks routed that way.

# shellcheck disable=SC2154 source=tests/lib/osroot.bash
source "${BATS_TEST_DIRNAME}/../lib/osroot.bash"
# (e2e.bash reads the machine's /etc/mailnest at load: set again below.)
load ../lib/e2e 2>/dev/null

: "${OS_HOST:?OS_HOST names the host under test (tests/os/run sets it)}"
E2E_HOST=127.0.0.1
E2E_API=http://127.0.0.1:8080
E2E_DOMAIN=example.test
E2E_QUOTA_FULL=reject
OS_WEB_NAME=mail.example.test
export E2E_HOST E2E_API E2E_DOMAIN E2E_QUOTA_FULL

# in_host COMMAND...: run COMMAND on the server, from /.
in_host() {
	osroot_exec "${OS_HOST}" env -C / "$@"
}

curl() {
	osroot_net "${OS_HOST}" curl "$@"
}

swaks() {
	osroot_net "${OS_HOST}" swaks "$@"
}

admin_token() {
	in_host cat /etc/mailnest/admin-token
}

# accountd_pids: the processes of accountd that mailnest's PM2 runs.
accountd_pids() {
	in_host mailnest-pm2 pid accountd 2>/dev/null | grep -E '^[1-9][0-9]*$' | sort -n
}

# https PATH [curl args...]: a request to Nginx by the mail host's name.
https() {
	local path=$1
	shift
	curl -sS --insecure --max-time 20 --resolve "${OS_WEB_NAME}:443:127.0.0.1" "$@" \
		"https://${OS_WEB_NAME}${path}"
}

# dkim_verify < MESSAGE: dkimpy verifies the message's signature with the
# public key of the signing domain's active selector, read from the server
# (a trial has no DNS to publish it in).
dkim_verify() {
	local domain=${E2E_DOMAIN} selector pub
	selector=$(in_host cat "/etc/opendkim/keys/${domain}/active") || return 1
	pub=$(in_host openssl pkey -in "/etc/opendkim/keys/${domain}/${selector}.private" -pubout -outform DER |
		base64 -w 0) || return 1
	DKIM_NAME="${selector}._domainkey.${domain}." DKIM_TXT="v=DKIM1; k=rsa; p=${pub}" \
		/usr/bin/python3 -c '
import dkim, os, sys
def dns(name, timeout=5):
	name = name.decode() if isinstance(name, bytes) else name
	return os.environ["DKIM_TXT"].encode() if name.rstrip(".") + "." == os.environ["DKIM_NAME"] else None
ok = dkim.verify(sys.stdin.buffer.read(), dnsfunc=dns)
print("dkimpy:", "pass" if ok else "fail")
sys.exit(0 if ok else 1)'
}

# imap_fetch_message EMAIL PASSWORD TEXT: the whole first message with TEXT.
imap_fetch_message() {
	local uid
	uid=$(imap_search "$1" "$2" "$3" | head -n 1)
	[[ -n ${uid} ]] || return 1
	curl -sS --insecure --max-time 20 -u "$1:$2" "imaps://${E2E_HOST}:993/INBOX;UID=${uid}"
}

# imap_can_log_in EMAIL PASSWORD: the account opens its INBOX over IMAPS.
imap_can_log_in() {
	curl -fsS --insecure --max-time 20 -u "$1:$2" "imaps://${E2E_HOST}:993/INBOX" -X 'EXAMINE INBOX' >/dev/null
}
