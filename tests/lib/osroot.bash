# shellcheck shell=bash
# Throw-away hosts running another system: Debian 12 and 13, Ubuntu 22.04,
# 24.04 and 26.04 (issue 13's matrix), on this one machine.
#
# A root file system per system is built once and kept on the machine
# (osroot_build): debootstrap's minimal base from that system's own archive,
# then, with network, what install/10-packages.sh installs there (the
# distribution's packages, Node.js and npm, the pinned PM2), plus git. While
# it is built a policy-rc.d forbids packages to start daemons, npm is given
# the machine's CA bundle (its HTTPS goes through the machine's egress), and
# Ubuntu's /etc/resolv.conf (a link into /run/systemd/resolve once systemd
# is unpacked) becomes a plain file again. The downloaded packages stay in
# OSROOT_CACHE/debs/SYSTEM and are reused by the next build. A root is keyed
# by its system, install/10-packages.sh (the package list, the PM2 version)
# and this recipe: a change of any builds it again; a root already built is
# reused as it is (the systems' updates come with the next change).
#
# A host from such a root (osroot_up) is like tests/lib/nshost.bash's: an
# overlay whose writable layer is a tmpfs on the cached root (which stays
# untouched), its own mount, PID, UTS, IPC and network namespaces, fresh
# /run (with /run/lock), /tmp and /dev/shm, one link to the test bridge and
# no route out. The repository (its HEAD plus uncommitted changes to tracked
# files) is offered read-only at /mnt/mailnest-src; osroot_clone clones it to
# /root/mailnest as a user would, and makes that checkout read-only.
#
#   source tests/lib/osroot.bash
#   osroot_build debian12                 # once; later calls reuse it
#   osroot_up os12 10.231.0.212 debian12
#   osroot_clone os12
#   osroot_exec os12 bash -c 'cd /root/mailnest && ./install.sh'
#   osroot_down os12
#
# Systems: debian12 debian13 ubuntu2204 ubuntu2404 ubuntu2604.

# shellcheck source=tests/lib/nshost.bash
source "${BASH_SOURCE[0]%/*}/nshost.bash"

OSROOT_CACHE=${OSROOT_CACHE:-/var/cache/mailnest-tests}
# Bump when the recipe below changes in a way that needs new roots.
readonly OSROOT_RECIPE=1
readonly OSROOT_SYSTEMS=(debian12 ubuntu2204 debian13 ubuntu2404 ubuntu2604)
readonly OSROOT_DEBIAN_MIRROR=http://deb.debian.org/debian
readonly OSROOT_UBUNTU_MIRROR=http://archive.ubuntu.com/ubuntu
# What the tests need in a root beyond the installer's own packages.
readonly OSROOT_EXTRA_PACKAGES=(git)

_osroot_die() {
	printf 'osroot: %s\n' "$*" >&2
	return 1
}

# osroot_suite SYSTEM: "distribution suite" of SYSTEM.
osroot_suite() {
	case $1 in
	debian12) echo "debian bookworm" ;;
	debian13) echo "debian trixie" ;;
	ubuntu2204) echo "ubuntu jammy" ;;
	ubuntu2404) echo "ubuntu noble" ;;
	ubuntu2604) echo "ubuntu resolute" ;;
	*) _osroot_die "unknown system: $1 (known: ${OSROOT_SYSTEMS[*]})" ;;
	esac
}

# osroot_key SYSTEM: what a root is built from, hashed.
osroot_key() {
	local repo
	repo=$(cd -- "${BASH_SOURCE[0]%/*}/../.." && pwd -P)
	{
		printf '%s %s %s\n' "$1" "${OSROOT_RECIPE}" "${OSROOT_EXTRA_PACKAGES[*]}"
		cat -- "${repo}/install/10-packages.sh"
	} | sha256sum | cut -c1-16
}

# osroot_path SYSTEM: where SYSTEM's root is (or will be) kept.
osroot_path() {
	local key
	key=$(osroot_key "$1") || return 1
	printf '%s/roots/%s-%s\n' "${OSROOT_CACHE}" "$1" "${key}"
}

# _osroot_ubuntu_keyring: the Ubuntu archive's key, from Debian's
# ubuntu-keyring package (trixie), fetched and verified by apt against the
# machine's Debian keys; kept in the cache. Prints its path.
_osroot_ubuntu_keyring() {
	local out=${OSROOT_CACHE}/keyrings/ubuntu-archive-keyring.gpg tmp deb
	if [[ ! -s ${out} ]]; then
		tmp=$(mktemp -d) || return 1
		mkdir -p "${tmp}/lists/partial" "${tmp}/cache/archives/partial" "${OSROOT_CACHE}/keyrings"
		printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' \
			"${OSROOT_DEBIAN_MIRROR}" >"${tmp}/sources.list"
		local -a opts=(-q -o "Dir::Etc::SourceList=${tmp}/sources.list" -o Dir::Etc::SourceParts=/dev/null
			-o "Dir::State::Lists=${tmp}/lists" -o "Dir::Cache=${tmp}/cache")
		if ! { apt-get "${opts[@]}" update >"${tmp}/log" 2>&1 &&
			(cd -- "${tmp}" && apt-get "${opts[@]}" download ubuntu-keyring) >>"${tmp}/log" 2>&1; }; then
			cat -- "${tmp}/log" >&2
			rm -rf -- "${tmp}"
			_osroot_die "could not fetch Ubuntu's archive key" || return 1
		fi
		deb=$(find "${tmp}" -maxdepth 1 -name 'ubuntu-keyring_*.deb' | head -n 1)
		dpkg-deb -x "${deb}" "${tmp}/x" &&
			install -m 0644 -- "${tmp}/x/usr/share/keyrings/ubuntu-archive-keyring.gpg" "${out}"
		rm -rf -- "${tmp}"
	fi
	[[ -s ${out} ]] || _osroot_die "no Ubuntu archive key" || return 1
	printf '%s\n' "${out}"
}

# Shell text run in the new root (chroot) while it is built, with network.
# Arguments: DISTRIBUTION SUITE MIRROR.
# shellcheck disable=SC2016
_OSROOT_PROVISION='
set -eu
dist=$1 suite=$2 mirror=$3
shift 3
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ "${dist}" = ubuntu ]; then
	comps="main universe"
	printf "deb %s %s %s\n" "${mirror}" "${suite}" "${comps}" "${mirror}" "${suite}-updates" "${comps}" \
		"${mirror}" "${suite}-security" "${comps}" >/etc/apt/sources.list
else
	printf "deb %s %s main\n" "${mirror}" "${suite}" "${mirror}" "${suite}-updates" >/etc/apt/sources.list
	printf "deb %s-security %s-security main\n" "${mirror}" "${suite}" >>/etc/apt/sources.list
fi
rm -f /etc/apt/sources.list.d/*.sources
echo "Acquire::Languages \"none\";" >/etc/apt/apt.conf.d/90mailnest-tests-no-translations
# No daemon starts while packages install; dpkg need not sync every file.
printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/mailnest-tests-unsafe-io
apt-get update -q
apt-get install -y -q --no-install-recommends "$@"
MAILNEST_HOSTNAME=mail.example.test MAILNEST_COMPONENT=osroot \
	NODE_EXTRA_CA_CERTS=/etc/ssl/mailnest-tests-ca.crt \
	npm_config_cafile=/etc/ssl/mailnest-tests-ca.crt \
	bash /mnt/mailnest-install/10-packages.sh </dev/null
rm -f /usr/sbin/policy-rc.d /etc/dpkg/dpkg.cfg.d/mailnest-tests-unsafe-io /etc/ssl/mailnest-tests-ca.crt
rm -rf /root/.npm /var/lib/apt/lists/* /tmp/* 2>/dev/null || true
rm -f /etc/resolv.conf
: >/etc/resolv.conf
'

# Shell text, run as PID 1 of a private mount and PID namespace (so that
# whatever starts anyway dies with it) on the machine: debootstrap, then the
# provisioning in a chroot. Arguments: DIR DIST SUITE MIRROR KEYRING DEBS
# INSTALL_DIR EXTRA_PACKAGE...
# shellcheck disable=SC2016
_OSROOT_BUILD='
set -eu
dir=$1 dist=$2 suite=$3 mirror=$4 keyring=$5 debs=$6 install_dir=$7
shift 7
mount --make-rprivate /
script=/usr/share/debootstrap/scripts/sid
[ "${dist}" = ubuntu ] && script=/usr/share/debootstrap/scripts/gutsy
comps=main
[ "${dist}" = ubuntu ] && comps=main,universe
debootstrap --variant=minbase --components="${comps}" --cache-dir="${debs}" \
	--keyring="${keyring}" "${suite}" "${dir}" "${mirror}" "${script}"
chmod 0755 "${dir}"
mount -t proc osroot-proc "${dir}/proc"
mount -t sysfs osroot-sys "${dir}/sys"
mount --rbind /dev "${dir}/dev"
mount -t tmpfs -o mode=0755 osroot-run "${dir}/run"
mkdir -p "${dir}/run/lock" "${dir}/mnt/mailnest-install"
chmod 1777 "${dir}/run/lock"
mount --bind "${debs}" "${dir}/var/cache/apt/archives"
mount --bind "${install_dir}" "${dir}/mnt/mailnest-install"
rm -f "${dir}/etc/resolv.conf"
cp -L /etc/resolv.conf "${dir}/etc/resolv.conf"
mkdir -p "${dir}/etc/ssl"
cp -L /etc/ssl/certs/ca-certificates.crt "${dir}/etc/ssl/mailnest-tests-ca.crt"
chroot "${dir}" /bin/bash -c "$0" osroot-provision "${dist}" "${suite}" "${mirror}" "$@"
'

# osroot_build SYSTEM: build SYSTEM's root unless it is already there;
# prints its path. Progress and the build's log go to standard error.
osroot_build() {
	local system=$1 dir dist suite mirror keyring debs log started=${SECONDS} repo lock
	read -r dist suite < <(osroot_suite "${system}") || return 1
	dir=$(osroot_path "${system}") || return 1
	if [[ -f ${dir}.ok ]]; then
		printf '%s\n' "${dir}"
		return 0
	fi
	repo=$(cd -- "${BASH_SOURCE[0]%/*}/../.." && pwd -P)
	mkdir -p -- "${OSROOT_CACHE}/roots" "${OSROOT_CACHE}/debs/${system}" "${OSROOT_CACHE}/logs"
	lock=${OSROOT_CACHE}/roots/${system}.lock
	exec {lock_fd}>"${lock}"
	flock "${lock_fd}"
	if [[ -f ${dir}.ok ]]; then
		exec {lock_fd}>&-
		printf '%s\n' "${dir}"
		return 0
	fi
	if [[ ${dist} == ubuntu ]]; then
		mirror=${OSROOT_UBUNTU_MIRROR}
		keyring=$(flock "${OSROOT_CACHE}/keyrings.lock" true && _osroot_ubuntu_keyring) || {
			exec {lock_fd}>&-
			return 1
		}
	else
		mirror=${OSROOT_DEBIAN_MIRROR}
		keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	fi
	debs=${OSROOT_CACHE}/debs/${system}
	log=${OSROOT_CACHE}/logs/${system}.log
	# Roots of an older key, and a half-built one, go.
	rm -rf -- "${OSROOT_CACHE}/roots/${system}"-* 2>/dev/null || true
	printf '# osroot: building %s (%s %s) in %s, log %s\n' "${system}" "${dist}" "${suite}" "${dir}" "${log}" >&2
	if ! unshare --mount --pid --fork --kill-child \
		bash -c "${_OSROOT_BUILD}" "${_OSROOT_PROVISION}" "${dir}" "${dist}" "${suite}" "${mirror}" \
		"${keyring}" "${debs}" "${repo}/install" "${OSROOT_EXTRA_PACKAGES[@]}" \
		</dev/null >"${log}" 2>&1; then
		tail -n 40 -- "${log}" >&2
		rm -rf -- "${dir}"
		exec {lock_fd}>&-
		_osroot_die "could not build the root of ${system} (log: ${log})" || return 1
	fi
	touch -- "${dir}.ok"
	exec {lock_fd}>&-
	printf '# osroot: %s built in %d s (%s)\n' "${system}" "$((SECONDS - started))" \
		"$(du -sh -- "${dir}" | cut -f1)" >&2
	printf '%s\n' "${dir}"
}

# The script the host's init runs first, in its new namespaces, on the
# machine's root: the overlay on the cached root, the repository offered
# read-only, then pivot_root into it; then it reaps daemons until killed.
# Arguments: NAME ROOT SOURCE.
# shellcheck disable=SC2016
_OSROOT_INIT='
set -eu
name=$1 lower=$2 src=$3
mount --make-rprivate /
mount -t tmpfs -o size='"${NSHOST_TMPFS_SIZE}"',mode=0755 osroot-layers /mnt
mkdir -p /mnt/upper /mnt/work /mnt/root
mount -t overlay osroot -o "lowerdir=${lower},upperdir=/mnt/upper,workdir=/mnt/work" /mnt/root
r=/mnt/root
mount -t proc osroot-proc "${r}/proc"
mount -t sysfs osroot-sys "${r}/sys"
mount --rbind /dev "${r}/dev"
mount -t tmpfs -o mode=1777 osroot-shm "${r}/dev/shm"
mount -t tmpfs -o mode=0755 osroot-run "${r}/run"
mount -t tmpfs -o mode=1777 osroot-tmp "${r}/tmp"
mkdir -p "${r}/run/lock" "${r}/run/sshd" "${r}/mnt/mailnest-src" "${r}/.oldroot"
chmod 1777 "${r}/run/lock"
mount --bind "${src}" "${r}/mnt/mailnest-src"
mount -o remount,bind,ro "${r}/mnt/mailnest-src"
ip link set lo up
sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 2>/dev/null || true
printf "%s\n" "${name}" >/proc/sys/kernel/hostname
cd "${r}"
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
printf "%s\n" "${name}" >/etc/hostname
echo ready >/run/osroot-ready
'"${_NSHOST_IDLE}"'
'

# _osroot_source DIR: a clone of this repository in DIR (HEAD with the
# uncommitted changes of tracked files), for the host to clone again.
_osroot_source() {
	local dir=$1 repo diff
	repo=$(cd -- "${BASH_SOURCE[0]%/*}/../.." && pwd -P)
	git clone -q --no-hardlinks -- "${repo}" "${dir}" || return 1
	diff=$(GIT_OPTIONAL_LOCKS=0 git -C "${repo}" diff HEAD --binary) || return 1
	if [[ -n ${diff} ]]; then
		printf '%s\n' "${diff}" | git -C "${dir}" apply --whitespace=nowarn || return 1
		# (-A: files the diff adds or renames are new to the index.)
		git -C "${dir}" add -A || return 1
		git -C "${dir}" -c user.name=osroot -c user.email=osroot@localhost \
			commit -qm "uncommitted changes of the working tree" || return 1
	fi
}

# osroot_up NAME IP SYSTEM: start host NAME from SYSTEM's root (built
# already: osroot_build) with address IP on the test bridge, no DNS server.
osroot_up() {
	local name=$1 ip=$2 system=$3 root src pid
	_nshost_check_name "${name}" || return 1
	[[ ${ip} =~ ^10\.231\.0\.[0-9]{1,3}$ ]] || _osroot_die "address must be in 10.231.0.0/24: ${ip}" || return 1
	root=$(osroot_path "${system}") || return 1
	[[ -f ${root}.ok ]] || _osroot_die "no root for ${system} yet (osroot_build ${system})" || return 1
	[[ -f ${NSHOST_STATE}/${name}.pid ]] && { osroot_down "${name}" || true; }
	mkdir -p -- "${NSHOST_STATE}"
	src=${NSHOST_STATE}/${name}.src
	rm -rf -- "${src}"
	_osroot_source "${src}" || _osroot_die "could not clone the repository" || return 1
	_nshost_bridge_up || return 1
	pid=$(_nshost_spawn "${name}" /run/osroot-ready bash -c "${_OSROOT_INIT}" osroot-init "${name}" "${root}" "${src}") ||
		return 1
	_osroot_attach "${name}" "${ip}" "${pid}"
}

# _osroot_attach NAME IP PID: the host's link to the bridge, its address, an
# empty /etc/resolv.conf and its /etc/hosts (as nshost's, whose nshost_exec
# cannot be used here: see osroot_exec).
_osroot_attach() {
	local name=$1 ip=$2 pid=$3
	_nshost_link "${name}" "${ip}" "${pid}" || return 1
	# shellcheck disable=SC2016 # expanded by the inner shell
	osroot_exec "${name}" sh -c '
		set -eu
		rm -f /etc/resolv.conf
		: >/etc/resolv.conf
		printf "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n%s %s\n" "$1" "$2" >/etc/hosts
	' osroot-setup "${ip}" "${name}"
}

# osroot_exec [-C DIR] NAME COMMAND...: run COMMAND inside host NAME as
# root, from DIR (default /root), with a clean environment; returns its
# status. (The host's root and directory are taken from its init with -r -w:
# after pivot_root, nsenter's --wd=DIR would name the machine's DIR.)
osroot_exec() {
	local dir=/root name pid
	if [[ $1 == -C ]]; then
		dir=$2
		shift 2
	fi
	name=$1
	shift
	pid=$(nshost_pid "${name}") || return 1
	# shellcheck disable=SC2016 # expanded by the inner shell
	nsenter -t "${pid}" -m -n -p -u -i -r -w \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb sh -c 'cd "$0" && exec "$@"' "${dir}" "$@"
}

# osroot_net NAME COMMAND...: run one of the machine's programs (a test
# client) in host NAME's network namespace only: it reaches the host's
# loopback services, and its files are the machine's.
osroot_net() {
	local name=$1 pid
	shift
	pid=$(nshost_pid "${name}") || return 1
	nsenter -t "${pid}" -n "$@"
}

# osroot_clone NAME: clone the repository to /root/mailnest in host NAME,
# as a user would, with /root at 0700 and the checkout read-only.
osroot_clone() {
	# shellcheck disable=SC2016
	osroot_exec "$1" bash -c '
		set -eu
		chmod 0700 /root
		git clone -q /mnt/mailnest-src /root/mailnest
		mount --bind /root/mailnest /root/mailnest
		mount -o remount,bind,ro /root/mailnest
	'
}

# (Used by tests/os/run and bench/footprint.sh for Ubuntu 26.04.)
# osroot_roundcube_debs: a folder with Debian 13's roundcube-core and
# roundcube-plugins packages (1.6.12 or later: they run on PHP 8.5), printed.
# Taken from the Debian 13 root's package cache when it has them, else
# downloaded once from Debian's archive (with the machine's apt, lists of its
# own) into OSROOT_CACHE/debs/roundcube-trixie.
osroot_roundcube_debs() {
	local dir apt
	local -a opts
	for dir in "${OSROOT_CACHE}/debs/debian13" "${OSROOT_CACHE}/debs/roundcube-trixie"; do
		if compgen -G "${dir}/roundcube-core_*.deb" >/dev/null && compgen -G "${dir}/roundcube-plugins_*.deb" >/dev/null; then
			printf '%s\n' "${dir}"
			return 0
		fi
	done
	apt=$(mktemp -d)
	mkdir -p -- "${apt}/lists/partial" "${apt}/cache/archives/partial" "${dir}"
	printf 'deb %s trixie main\ndeb %s-security trixie-security main\n' "${OSROOT_DEBIAN_MIRROR}" \
		"${OSROOT_DEBIAN_MIRROR}" >"${apt}/sources.list"
	opts=(-q -o "Dir::Etc::SourceList=${apt}/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=${apt}/lists" -o "Dir::Cache=${apt}/cache" -o APT::Sandbox::User=root)
	if apt-get "${opts[@]}" update >&2 && (cd -- "${dir}" && apt-get "${opts[@]}" download roundcube-core roundcube-plugins >&2); then
		rm -rf -- "${apt}"
		printf '%s\n' "${dir}"
		return 0
	fi
	rm -rf -- "${apt}"
	return 1
}

# osroot_roundcube_release HOST: Roundcube for Ubuntu 26.04 through the installer's
# pinned-tarball settings: Debian 13's packages made into a release tarball
# in HOST (tests/lib/roundcube-release), served by python3 on HOST's
# loopback, its URL and SHA-256 in HOST's /etc/mailnest/mailnest.conf.
osroot_roundcube_release() {
	local host=$1 dir core plugins version
	dir=$(osroot_roundcube_debs) || return 1
	core=$(find "${dir}" -maxdepth 1 -name 'roundcube-core_*.deb' | sort -V | tail -n 1)
	version=${core##*/roundcube-core_}
	version=${version%_all.deb}
	plugins=${dir}/roundcube-plugins_${version}_all.deb
	[[ -f ${plugins} ]] || { echo "no ${plugins}" >&2; return 1; }
	version=${version%%+*}
	osroot_exec "${host}" sh -c 'mkdir -p /srv/rc-debs && cat >/srv/rc-debs/core.deb' <"${core}" || return 1
	osroot_exec "${host}" sh -c 'cat >/srv/rc-debs/plugins.deb' <"${plugins}" || return 1
	# shellcheck disable=SC2016 # expanded by the host's shell
	osroot_exec "${host}" bash -c '
		set -eu
		dpkg-deb -x /srv/rc-debs/core.deb /srv/rc-src
		dpkg-deb -x /srv/rc-debs/plugins.deb /srv/rc-src
		/mnt/mailnest-src/tests/lib/roundcube-release 1.6 /srv/rc-src "/srv/releases/$1.tar.gz"
		cd /srv/releases
		setsid python3 -m http.server 8633 --bind 127.0.0.1 </dev/null >/srv/http.log 2>&1 &
		mkdir -p /etc/mailnest
		printf "MAILNEST_ROUNDCUBE_URL=%s\nMAILNEST_ROUNDCUBE_SHA256=%s\n" "http://127.0.0.1:8633/$1.tar.gz" \
			"$(sha256sum "$1.tar.gz" | cut -d" " -f1)" >/etc/mailnest/mailnest.conf
	' roundcube-release "roundcubemail-${version}-debian13" || return 1
	local i
	for ((i = 0; i < 20; i++)); do
		osroot_exec "${host}" curl -fsS -o /dev/null --max-time 2 \
			"http://127.0.0.1:8633/roundcubemail-${version}-debian13.tar.gz" && return 0
		sleep 0.5
	done
	return 1
}

# osroot_down NAME: end every process of host NAME and forget it.
osroot_down() {
	nshost_down "$1"
	rm -rf -- "${NSHOST_STATE:?}/$1.src"
}
