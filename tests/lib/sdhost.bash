# shellcheck shell=bash
# Throw-away hosts whose PID 1 is systemd, for tests of the installer's
# systemd branches (units enabled, PM2 under `pm2 startup`, a reboot).
#
# Like tests/lib/nshost.bash (sourced here: same bridge, same namespaces,
# same nshost_exec), but:
#   - PID 1 is /lib/systemd/systemd (container=lxc), in a cgroup namespace
#     rooted at a cgroup of its own (mailnest-sdhost-NAME under the machine's
#     cgroup2 hierarchy), with cgroup2 mounted on its /sys/fs/cgroup;
#   - a /dev of its own (journald's /dev/log stays inside) and a read-only
#     /sys, as in a container;
#   - the writable layer is on disk, ${SDHOST_LAYERS}/NAME, so it outlives
#     the host: sdhost_stop powers the host off, sdhost_boot boots it again
#     from the same layer (a "reboot": nothing is installed again).
#
#   source tests/lib/sdhost.bash
#   sdhost_boot sd1 10.231.0.120     # first boot: a fresh machine
#   nshost_exec sd1 ./install.sh --domain sd1.test
#   sdhost_stop sd1                  # systemctl poweroff, layer kept
#   sdhost_boot sd1 10.231.0.120     # same layer: a reboot
#   sdhost_down sd1                  # stop and forget the layer

# shellcheck source=tests/lib/nshost.bash
source "$(dirname -- "${BASH_SOURCE[0]}")/nshost.bash"

SDHOST_LAYERS=${SDHOST_LAYERS:-/var/tmp/mailnest-sdhost}
# Bounds, in seconds, of a boot (to is-system-running) and of a poweroff.
SDHOST_BOOT_TIMEOUT=${SDHOST_BOOT_TIMEOUT:-120}
SDHOST_STOP_TIMEOUT=${SDHOST_STOP_TIMEOUT:-60}

# _sdhost_cgroup_root: the machine's cgroup2 hierarchy (the hybrid layout's
# /sys/fs/cgroup/unified, or a pure cgroup2 /sys/fs/cgroup).
_sdhost_cgroup_root() {
	local dir
	for dir in /sys/fs/cgroup/unified /sys/fs/cgroup; do
		if [[ $(stat -fc %T "${dir}" 2>/dev/null || true) == cgroup2fs ]]; then
			printf '%s\n' "${dir}"
			return 0
		fi
	done
	_nshost_die "no cgroup2 hierarchy on this machine: systemd cannot run as a host's init"
}

# The host's first process, inside the new namespaces: mounts as nshost's
# init does (the layer bind-mounted from the disk on /mnt), makes a fresh
# machine on the first boot only, and becomes systemd. Arguments: NAME LAYER.
# shellcheck disable=SC2016
_SDHOST_INIT='
set -eu
name=$1 layer=$2
mount --make-rprivate /
mount --bind "${layer}" /mnt
first_boot=
[ -d /mnt/upper ] || first_boot=1
'"${_NSHOST_ROOTS}"'
# A /dev of its own: systemd-journald makes /dev/log, which must not land in
# the machine'"'"'s /dev.
mkdir /run/sdhost-dev
mount -t tmpfs -o mode=0755,nosuid sdhost-dev /run/sdhost-dev
for node in null zero full random urandom tty; do
	touch "/run/sdhost-dev/${node}"
	mount --bind "/dev/${node}" "/run/sdhost-dev/${node}"
done
mkdir /run/sdhost-dev/pts /run/sdhost-dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 sdhost-pts /run/sdhost-dev/pts
ln -s pts/ptmx /run/sdhost-dev/ptmx
mount -t tmpfs -o mode=1777 sdhost-shm /run/sdhost-dev/shm
ln -s /proc/self/fd /run/sdhost-dev/fd
ln -s /proc/self/fd/0 /run/sdhost-dev/stdin
ln -s /proc/self/fd/1 /run/sdhost-dev/stdout
ln -s /proc/self/fd/2 /run/sdhost-dev/stderr
mount --move /run/sdhost-dev /dev
# Read-only /sys, as in a container (systemd then skips udev and the like);
# the cgroup2 tree below it is the host'"'"'s own and writable.
mount -t sysfs -o ro sdhost-sys /sys
mount -t cgroup2 -o nsdelegate sdhost-cgroup /sys/fs/cgroup
if [ -n "${first_boot}" ]; then
	'"${_NSHOST_FRESH}"'
	tr -d - </proc/sys/kernel/random/uuid >/etc/machine-id
	# Log files the machine'"'"'s own daemons wrote without a syslog: a
	# server with systemd has its mail log in the journal only.
	rm -f /var/log/mail.log /var/log/mail.err /var/log/mail.warn /var/log/dovecot.log
	# and Postfix as Debian ships it: logging to syslog (the journal). With
	# "No configuration" there is no main.cf, and syslog is the default.
	if [ -f /etc/postfix/main.cf ]; then postconf -e "maillog_file ="; fi
	printf "%s\n" "${name}" >/etc/hostname
	# No consoles to log in on, no devices to manage.
	for unit in getty@tty1.service console-getty.service serial-getty@ttyS0.service \
		systemd-udevd.service systemd-udevd-kernel.socket systemd-udevd-control.socket; do
		ln -sfn /dev/null "/etc/systemd/system/${unit}"
	done
fi
hostname "${name}"
exec env -i container=lxc PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 /lib/systemd/systemd --log-target=console
'

# sdhost_systemctl NAME ARGS...: systemctl inside host NAME.
sdhost_systemctl() {
	local name=$1
	shift
	nshost_exec "${name}" systemctl "$@"
}

# sdhost_boot NAME IP [DNS_IP]: boot host NAME from its layer (made empty
# on the first boot) and wait, at most SDHOST_BOOT_TIMEOUT seconds, until
# systemd has started everything (running, or degraded: the caller checks
# the units it needs).
sdhost_boot() {
	local name=$1 ip=$2 dns=${3-} cgroup unshare_pid pid="" i state
	_nshost_check_name "${name}" || return 1
	[[ ${ip} =~ ^10\.231\.0\.[0-9]{1,3}$ ]] || _nshost_die "address must be in 10.231.0.0/24: ${ip}" || return 1
	if [[ -f ${NSHOST_STATE}/${name}.pid ]]; then
		sdhost_stop "${name}" || return 1
	fi
	cgroup=$(_sdhost_cgroup_root)/mailnest-sdhost-${name} || return 1
	mkdir -p -- "${NSHOST_STATE}" "${SDHOST_LAYERS}/${name}" "${cgroup}"
	_nshost_machine_packages || return 1
	_nshost_bridge_up || return 1

	# The cgroup first, then the cgroup namespace: its root is that cgroup.
	# Descriptor 3 closed: bats waits for its end, which the host outlives.
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c 'echo "$$" >"$1/cgroup.procs" && shift && exec "$@"' sdhost-launch "${cgroup}" \
		unshare --mount --net --pid --uts --ipc --cgroup --fork --mount-proc \
		bash -c "${_SDHOST_INIT}" sdhost-init "${name}" "${SDHOST_LAYERS}/${name}" \
		</dev/null >>"${SDHOST_LAYERS}/${name}.log" 2>&1 3>&- &
	unshare_pid=$!
	# systemd is up once its private socket exists.
	for ((i = 0; i < 200; i++)); do
		pid=$(pgrep -P "${unshare_pid}" | head -n 1 || true)
		if [[ -n ${pid} ]] && nsenter -t "${pid}" -m test -S /run/systemd/private 2>/dev/null; then
			break
		fi
		pid=""
		kill -0 "${unshare_pid}" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z ${pid} ]]; then
		tail -n 30 -- "${SDHOST_LAYERS}/${name}.log" >&2 || true
		kill "${unshare_pid}" 2>/dev/null || true
		_nshost_die "host ${name}: systemd did not start" || return 1
	fi
	printf '%s\n' "${pid}" >"${NSHOST_STATE}/${name}.pid"
	_nshost_attach "${name}" "${ip}" "${dns}" "${pid}" || return 1

	state=$(nshost_exec "${name}" timeout "${SDHOST_BOOT_TIMEOUT}" \
		systemctl is-system-running --wait 2>/dev/null || true)
	case ${state} in
	running | degraded) return 0 ;;
	*) _nshost_die "host ${name}: systemd is '${state:-unreachable}' after ${SDHOST_BOOT_TIMEOUT} s" ;;
	esac
}

# _sdhost_rmdir_cgroup DIR: remove an empty cgroup tree, deepest first.
_sdhost_rmdir_cgroup() {
	[[ -d $1 ]] || return 0
	find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
}

# sdhost_stop NAME: power host NAME off (systemd stops every unit), bounded
# by SDHOST_STOP_TIMEOUT seconds, then kill what is left. The layer stays.
sdhost_stop() {
	local name=$1 pid cgroup i
	_nshost_check_name "${name}" || return 1
	pid=$(cat -- "${NSHOST_STATE}/${name}.pid" 2>/dev/null || true)
	cgroup=$(_sdhost_cgroup_root)/mailnest-sdhost-${name} || return 1
	if [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null; then
		nshost_exec "${name}" systemctl --no-block poweroff >/dev/null 2>&1 || true
		for ((i = 0; i < SDHOST_STOP_TIMEOUT * 10; i++)); do
			kill -0 "${pid}" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "${pid}" 2>/dev/null; then
			printf 'sdhost: %s did not power off in %s s: killed\n' "${name}" "${SDHOST_STOP_TIMEOUT}" >&2
		fi
	fi
	# Kills what is left, removes the link and the PID file.
	nshost_down "${name}" || return 1
	_sdhost_rmdir_cgroup "${cgroup}"
}

# sdhost_down NAME: stop host NAME and remove its layer.
sdhost_down() {
	_nshost_check_name "$1" || return 1
	sdhost_stop "$1" || return 1
	rm -rf -- "${SDHOST_LAYERS:?}/$1" "${SDHOST_LAYERS:?}/$1.log"
}
