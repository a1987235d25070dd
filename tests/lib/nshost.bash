# shellcheck shell=bash
# Throw-away "hosts" on this one machine, for tests that need more than one
# mail server (issue 4's two mail hosts and DNS server) or that must not touch
# the machine's own installation.
#
# A host is a set of Linux namespaces kept alive by one small process:
#   - mount: /etc /var /opt /usr /root /home /srv are overlays whose writable
#     layer is a tmpfs, and /run /tmp are fresh tmpfs, so an installer run
#     inside writes nothing to the real machine and everything vanishes with
#     the host. The repository (/work) and the package files below stay shared
#     and read-only in effect (nothing writes to them).
#   - network: its own loopback and one veth link to the bridge nshost0
#     (10.231.0.0/24, the machine's end is 10.231.0.1). There is no default
#     route, so nothing a host sends can leave the test's network.
#   - pid, uts, ipc: daemons started inside see only each other; killing the
#     host's init ends them all.
# There is no network for apt inside a host: nshost_up first installs, on the
# machine, whatever the installer's package list (install/10-packages.sh)
# lacks, once per shell.
#
#   source tests/lib/nshost.bash
#   nshost_up a 10.231.0.11 [DNS_IP]   # create host "a" (hostname "a")
#   nshost_exec a ./install.sh --domain a.test
#   nshost_exec a bash -c '...'         # any command, inside all namespaces
#   nshost_down a                        # stop everything in it, forget it
#
# Hosts are named by short words ([a-z0-9-], at most 10 characters); their
# state (the init's PID) is kept under ${NSHOST_STATE}.

NSHOST_STATE=${NSHOST_STATE:-/run/mailnest-nshost}
NSHOST_BRIDGE=${NSHOST_BRIDGE:-nshost0}
NSHOST_GATEWAY=${NSHOST_GATEWAY:-10.231.0.1}
NSHOST_PREFIX=${NSHOST_PREFIX:-24}
# Size of each host's writable layer (RAM-backed; a full mail host uses a few
# hundred MiB, mostly MariaDB's files).
NSHOST_TMPFS_SIZE=${NSHOST_TMPFS_SIZE:-3g}

_nshost_die() {
	printf 'nshost: %s\n' "$*" >&2
	return 1
}

_nshost_check_name() {
	[[ $1 =~ ^[a-z0-9][a-z0-9-]{0,9}$ ]] || _nshost_die "bad host name: $1"
}

# nshost_pid NAME: the host's init, as the machine sees it.
nshost_pid() {
	local pid
	_nshost_check_name "$1" || return 1
	pid=$(cat -- "${NSHOST_STATE}/$1.pid" 2>/dev/null) || _nshost_die "no host $1" || return 1
	kill -0 "${pid}" 2>/dev/null || _nshost_die "host $1 is not running" || return 1
	printf '%s\n' "${pid}"
}

_NSHOST_REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)

# _nshost_machine_packages: the installer's packages (and PM2) on the machine,
# so that an installer run inside a host finds them all.
_nshost_machine_packages() {
	local log
	[[ -z ${_NSHOST_PACKAGES_DONE-} ]] || return 0
	log=$(mktemp)
	if ! MAILNEST_HOSTNAME=${MAILNEST_HOSTNAME:-mail.example.test} MAILNEST_COMPONENT=nshost \
		bash "${_NSHOST_REPO}/install/10-packages.sh" </dev/null >"${log}" 2>&1; then
		cat -- "${log}" >&2
		rm -f -- "${log}"
		_nshost_die "could not install the packages on the machine" || return 1
	fi
	rm -f -- "${log}"
	_NSHOST_PACKAGES_DONE=1
}

_nshost_bridge_up() {
	if ! ip link show "${NSHOST_BRIDGE}" >/dev/null 2>&1; then
		ip link add "${NSHOST_BRIDGE}" type bridge || return 1
		ip addr add "${NSHOST_GATEWAY}/${NSHOST_PREFIX}" dev "${NSHOST_BRIDGE}" || return 1
	fi
	ip link set "${NSHOST_BRIDGE}" up
}

# The end of a host's init, its PID 1 (nshost's and osroot's): reap whatever
# daemons leave behind, until killed.
# shellcheck disable=SC2016
_NSHOST_IDLE='
trap "exit 0" TERM INT
while :; do
	sleep 3600 &
	wait $! || true
done
'

# Shell text, run inside a new host once its overlays are mounted: start as
# a fresh machine with the packages installed: forget any mailnest
# installation of the machine itself (its settings, secrets, releases, mail
# and database), and give MariaDB a pristine data directory. Also used by
# tests/lib/sdhost.bash.
# shellcheck disable=SC2016
_NSHOST_FRESH='
rm -rf /etc/mailnest /opt/mailnest /var/lib/mailnest /var/lib/accountd \
	/var/log/mailnest /var/vmail /etc/postfix/sql /root/.pm2 /var/spool/postfix/private/* \
	/var/spool/postfix/active/* /var/spool/postfix/deferred/* /var/spool/postfix/incoming/* ||
	true # (the machine may be writing there meanwhile: what is left is not ours to fail on)
if [ -d /var/lib/mysql ]; then
	find /var/lib/mysql -mindepth 1 -delete
	mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/mnt/mariadb-install-db.log 2>&1
fi
'

# Shell text, run inside a new host once its writable layer is on /mnt: the
# overlay roots, and fresh /run and /tmp. The repository stays the machine's
# own, at the same path, wherever it is (a clone under /tmp included), so
# that what a test writes there is seen outside. Also used by
# tests/lib/sdhost.bash.
# shellcheck disable=SC2016
_NSHOST_ROOTS='
nshost_repo='"$(printf '%q' "${_NSHOST_REPO}")"'
mkdir -p /mnt/repo
mount --bind "${nshost_repo}" /mnt/repo
for dir in etc var opt usr root home srv; do
	mkdir -p "/mnt/upper/${dir}" "/mnt/work/${dir}"
	mount -t overlay "nshost-${dir}" \
		-o "lowerdir=/${dir},upperdir=/mnt/upper/${dir},workdir=/mnt/work/${dir}" "/${dir}"
done
mount -t tmpfs -o mode=0755 nshost-run /run
mount -t tmpfs -o mode=1777 nshost-tmp /tmp
mkdir -p "${nshost_repo}"
mount --bind /mnt/repo "${nshost_repo}"
'

# The script the host's init runs first, inside the new namespaces, before it
# becomes a child reaper. Arguments: NAME.
# shellcheck disable=SC2016
_NSHOST_INIT='
set -eu
name=$1
mount --make-rprivate /
mount -t tmpfs -o size='"${NSHOST_TMPFS_SIZE}"',mode=0755 nshost-layers /mnt
'"${_NSHOST_ROOTS}"'
mount -t tmpfs -o mode=1777 nshost-shm /dev/shm
mount -t sysfs nshost-sys /sys
mkdir -p /run/lock /run/sshd
chmod 1777 /run/lock
'"${_NSHOST_FRESH}"'
hostname "${name}"
printf "%s\n" "${name}" >/etc/hostname
ip link set lo up
# No duplicate address detection on the links made later: its end, a second
# after a link comes up, changes the address flags, and programs that watch
# the network (Chromium) take that for a network change and abort requests.
sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 2>/dev/null || true
echo ready >/run/nshost-ready
'"${_NSHOST_IDLE}"'
'

# nshost_up NAME IP [DNS_IP]: create host NAME with address IP on the test
# bridge; its /etc/resolv.conf names DNS_IP (or nothing, when not given).
nshost_up() {
	local name=$1 ip=$2 dns=${3-} pid
	_nshost_check_name "${name}" || return 1
	[[ ${ip} =~ ^10\.231\.0\.[0-9]{1,3}$ ]] || _nshost_die "address must be in 10.231.0.0/24: ${ip}" || return 1
	if [[ -f ${NSHOST_STATE}/${name}.pid ]]; then
		nshost_down "${name}" || true
	fi
	mkdir -p -- "${NSHOST_STATE}"
	_nshost_machine_packages || return 1
	_nshost_bridge_up || return 1
	pid=$(_nshost_spawn "${name}" /run/nshost-ready --mount-proc bash -c "${_NSHOST_INIT}" nshost-init "${name}") ||
		return 1
	_nshost_attach "${name}" "${ip}" "${dns}" "${pid}"
}

# _nshost_spawn NAME READY [--mount-proc] COMMAND...: start COMMAND, the init
# of host NAME, in new mount, net, PID, UTS and IPC namespaces; wait until
# the file READY exists in its mount namespace; record and print its PID.
# Also used by tests/lib/osroot.bash.
_nshost_spawn() {
	local name=$1 ready=$2 unshare_pid pid i
	shift 2
	setsid unshare --mount --net --pid --uts --ipc --fork "$@" \
		</dev/null >"${NSHOST_STATE}/${name}.log" 2>&1 3>&- &
	# (fd 3 closed: bats waits for it at the end of a test file.)
	unshare_pid=$!
	# The init is unshare's only child; wait for it to say it is ready.
	for ((i = 0; i < 200; i++)); do
		pid=$(pgrep -P "${unshare_pid}" | head -n 1 || true)
		if [[ -n ${pid} ]] && nsenter -t "${pid}" -m -r test -e "${ready}" 2>/dev/null; then
			break
		fi
		pid=""
		kill -0 "${unshare_pid}" 2>/dev/null || break
		sleep 0.05
	done
	if [[ -z ${pid} ]]; then
		cat -- "${NSHOST_STATE}/${name}.log" >&2 || true
		kill "${unshare_pid}" 2>/dev/null || true
		_nshost_die "host ${name} did not start" || return 1
	fi
	printf '%s\n' "${pid}" >"${NSHOST_STATE}/${name}.pid"
	printf '%s\n' "${pid}"
}

# _nshost_attach NAME IP DNS_IP PID: give the host whose init is PID its
# link to the bridge, its address, /etc/resolv.conf and /etc/hosts.
_nshost_attach() {
	local name=$1 ip=$2 dns=$3 pid=$4
	_nshost_link "${name}" "${ip}" "${pid}" || return 1

	# shellcheck disable=SC2016 # expanded by the inner bash
	nshost_exec "${name}" bash -c '
		set -eu
		printf "nameserver %s\n" "$1" >/etc/resolv.conf.nshost
		if [ -n "$1" ]; then mv /etc/resolv.conf.nshost /etc/resolv.conf; else : >/etc/resolv.conf; rm -f /etc/resolv.conf.nshost; fi
		printf "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n%s %s\n" "$2" "$3" >/etc/hosts
	' nshost-setup "${dns}" "${ip}" "${name}"
}

# _nshost_link NAME IP PID: the link of host NAME (init PID) to the bridge,
# with address IP. Also used by tests/lib/osroot.bash.
_nshost_link() {
	local name=$1 ip=$2 pid=$3
	ip link del "nsh-${name}" 2>/dev/null || true
	# A host made again with the same address has a new MAC address: the
	# machine must not keep sending to the old one.
	ip neigh del "${ip}" dev "${NSHOST_BRIDGE}" 2>/dev/null || true
	ip link add "nsh-${name}" type veth peer name eth0 netns "${pid}" || return 1
	ip link set "nsh-${name}" master "${NSHOST_BRIDGE}" up || return 1
	nsenter -t "${pid}" -n ip addr add "${ip}/${NSHOST_PREFIX}" dev eth0 || return 1
	nsenter -t "${pid}" -n ip link set eth0 up
}

# nshost_exec NAME COMMAND...: run COMMAND inside host NAME, as root, with a
# clean environment, from the current directory; returns its status.
nshost_exec() {
	local name=$1 pid
	shift
	pid=$(nshost_pid "${name}") || return 1
	nsenter -t "${pid}" -m -n -p -u -i --wd="${PWD}" \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# nshost_exec_detached NAME COMMAND...: nshost_exec with every descriptor but
# 0-2 closed first: a daemon COMMAND starts (a socat, a restarted service)
# would otherwise hold the caller's pipes open, and keep bats waiting at the
# end of a test.
nshost_exec_detached() {
	local name=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner bash
	nshost_exec "${name}" bash -c '
		fds=(/proc/$$/fd/*)
		for fd in "${fds[@]##*/}"; do
			((fd > 2)) && eval "exec ${fd}>&-"
		done
		exec "$@"' detached "$@"
}

# nshost_down NAME: end every process of host NAME and remove its link; its
# files were only in RAM and are gone with it.
nshost_down() {
	local name=$1 pid i
	_nshost_check_name "${name}" || return 1
	pid=$(cat -- "${NSHOST_STATE}/${name}.pid" 2>/dev/null || true)
	if [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null; then
		# Killing a PID namespace's init kills every process in it.
		kill -KILL "${pid}" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "${pid}" 2>/dev/null || break
			sleep 0.05
		done
	fi
	ip link del "nsh-${name}" 2>/dev/null || true
	rm -f -- "${NSHOST_STATE}/${name}.pid" "${NSHOST_STATE}/${name}.log"
}
