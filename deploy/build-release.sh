#!/usr/bin/env bash
# Builds the release artifact of accountd: the thing deploy.yml ships to
# the server and deploy/deploy.sh installs there.
#
#   deploy/build-release.sh [--release ID] [--out DIR] [--build-dir DIR]
#
# It compiles accountd with meson (prefix /opt/mailnest/current, so the
# compiled-in migrations directory is that of whatever release `current`
# points to; the layout is the one `meson install` makes) and packs
#   accountd-VERSION/bin/accountd
#   accountd-VERSION/share/mailnest/migrations/NNNN_name.sql
#   accountd-VERSION/ecosystem.config.js     (deploy/ecosystem.config.js)
#   accountd-VERSION/deploy.sh               (the script that installs it)
#   accountd-VERSION/VERSION                 (the version accountd reports)
#   accountd-VERSION/BUILDINFO               (commit, compiler, date)
#   accountd-VERSION/SHA256SUMS              (of every file above)
# into DIR/accountd-VERSION.tar.gz, and writes beside it DIR/deploy.sh and
# DIR/SHA256SUMS (of the tarball and of deploy.sh). VERSION is the project
# version plus "+ID" (ID defaults to the commit, 12 hex digits, with
# ".dirty" when the work tree has changes), which is what GET /healthz and
# the X-Accountd-Version header show, so a deploy can tell which release
# answers. The tarball is reproducible for one commit: sorted names, fixed
# owner and the commit's date as mtime. The last line printed is the path of
# the tarball.
set -Eeuo pipefail
shopt -s inherit_errexit nullglob

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly repo
readonly prefix=/opt/mailnest/current

usage() {
	printf 'usage: %s [--release ID] [--out DIR] [--build-dir DIR]\n' "${0##*/}" >&2
	exit 64
}

die() {
	printf 'build-release: %s\n' "$*" >&2
	exit 1
}

step() { printf 'build-release: %s\n' "$*" >&2; }

main() {
	local release='' out="${repo}/dist" build='' opt
	while (($# > 0)); do
		opt=$1
		case ${opt} in
		--release) (($# >= 2)) || usage; release=$2; shift 2 ;;
		--out) (($# >= 2)) || usage; out=$2; shift 2 ;;
		--build-dir) (($# >= 2)) || usage; build=$2; shift 2 ;;
		-h | --help) usage ;;
		*) usage ;;
		esac
	done

	if [[ -z ${release} ]]; then
		release=$(git -C "${repo}" rev-parse --short=12 HEAD) || die "not a git checkout: give --release ID"
		if [[ -n $(git -C "${repo}" status --porcelain --untracked-files=no -- accountd deploy) ]]; then
			release+=.dirty
		fi
	fi
	[[ ${release} =~ ^[0-9A-Za-z][0-9A-Za-z._-]*$ ]] || die "release id '${release}' must be letters, digits, '.', '_' or '-'"

	local project_version version
	project_version=$(sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" "${repo}/accountd/meson.build" | head -n 1)
	[[ -n ${project_version} ]] || die "cannot read the project version from accountd/meson.build"
	version="${project_version}+${release}"

	local work
	work=$(mktemp -d "${TMPDIR:-/tmp}/build-release.XXXXXX")
	# shellcheck disable=SC2064 # expand now: work is local
	trap "rm -rf -- '${work}'" EXIT
	[[ -n ${build} ]] || build="${work}/build"

	step "configuring ${version} in ${build}"
	if [[ -f ${build}/build.ninja ]]; then
		meson configure "${build}" -Drelease="${release}" -Dprefix="${prefix}" >/dev/null
	else
		meson setup "${build}" "${repo}/accountd" --prefix="${prefix}" \
			-Drelease="${release}" >"${work}/setup.log" 2>&1 || {
			cat "${work}/setup.log" >&2
			die "meson setup failed"
		}
	fi
	# Only the daemon: the tests are built and run by CI, not shipped.
	step "compiling"
	ninja -C "${build}" accountd >"${work}/ninja.log" 2>&1 || {
		tail -n 40 "${work}/ninja.log" >&2
		die "compilation failed"
	}

	local top="accountd-${version}"
	local tree="${work}/tree/${top}"
	mkdir -p "${tree}/bin" "${tree}/share/mailnest"
	local migrations=("${repo}"/accountd/migrations/[0-9][0-9][0-9][0-9]_*.sql)
	((${#migrations[@]} > 0)) || die "no migrations in accountd/migrations"
	install -m 0755 "${build}/accountd" "${tree}/bin/accountd"
	install -d -m 0755 "${tree}/share/mailnest/migrations"
	install -m 0644 "${migrations[@]}" "${tree}/share/mailnest/migrations/"
	install -m 0644 "${repo}/deploy/ecosystem.config.js" "${tree}/ecosystem.config.js"
	install -m 0755 "${repo}/deploy/deploy.sh" "${tree}/deploy.sh"
	printf '%s\n' "${version}" >"${tree}/VERSION"

	# The binary must report the version the artifact is named by: that is
	# what the deploy checks on /readyz.
	local reported
	reported=$("${tree}/bin/accountd" version 2>&1 | head -n 1) || true
	[[ ${reported} == *"${version}"* ]] || die "bin/accountd reports '${reported}', expected ${version}"

	local commit date_epoch
	commit=$(git -C "${repo}" rev-parse HEAD 2>/dev/null || echo unknown)
	date_epoch=$(git -C "${repo}" log -1 --format=%ct 2>/dev/null || date +%s)
	{
		printf 'version=%s\n' "${version}"
		printf 'commit=%s\n' "${commit}"
		printf 'compiler=%s\n' "$(cc --version | head -n 1)"
		printf 'built=%s\n' "$(date -u -d "@${date_epoch}" +%Y-%m-%dT%H:%M:%SZ)"
	} >"${tree}/BUILDINFO"

	(cd "${tree}" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum --) >"${work}/SHA256SUMS"
	mv "${work}/SHA256SUMS" "${tree}/SHA256SUMS"

	mkdir -p "${out}"
	local tarball="${out}/${top}.tar.gz"
	tar -C "${work}/tree" --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime="@${date_epoch}" -cf - "${top}" | gzip -n -9 >"${tarball}.tmp"
	mv -f "${tarball}.tmp" "${tarball}"
	install -m 0755 "${repo}/deploy/deploy.sh" "${out}/deploy.sh"
	(cd "${out}" && sha256sum -- "${top}.tar.gz" deploy.sh) >"${out}/SHA256SUMS"
	printf '%s\n' "${version}" >"${out}/VERSION"
	step "built ${version}: $(du -h "${tarball}" | cut -f1)"
	printf '%s\n' "${tarball}"
}

main "$@"
