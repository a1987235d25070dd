#!/usr/bin/env bats
# The GitHub workflows (.github/workflows/*.yml), checked without GitHub:
# they validate against the workflow schema (@action-validator/cli, from
# npm), their scripts are shellcheck-clean, every action is pinned by commit,
# permissions and concurrency are set, every secret they read is documented
# in the README, every script of this repository they run exists, and the
# deploy never turns host key checking off. deploy.bats runs the deploy
# step itself.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

setup() {
	REPO=$(cd -- "${BATS_TEST_DIRNAME}/../.." && pwd -P)
	WORKFLOWS=("${REPO}"/.github/workflows/*.yml)
	[[ -f ${WORKFLOWS[0]} ]]
}

# yq_py EXPR: evaluate a Python expression over each workflow (as `wf`),
# printing its result lines.
yq_py() {
	python3 - "$1" "${WORKFLOWS[@]}" <<-'EOF'
		import sys, yaml
		expr = sys.argv[1]
		for path in sys.argv[2:]:
		    wf = yaml.safe_load(open(path))
		    for line in eval(expr, {"wf": wf, "path": path}):
		        print(line)
	EOF
}

@test "workflows: valid against the GitHub workflow schema (action-validator)" {
	local wf
	for wf in "${WORKFLOWS[@]}"; do
		run action-validator "${wf}"
		[[ ${status} -eq 0 ]] || fail "${wf##*/}: ${output}"
	done
}

@test "workflows: every run: script is shellcheck-clean" {
	local dir="${BATS_TEST_TMPDIR}/runs" wf
	mkdir -p "${dir}"
	for wf in "${WORKFLOWS[@]}"; do
		python3 "${REPO}/tests/deploy/workflow_step.py" --all "${wf}" "${dir}"
	done
	cd "${REPO}"
	run shellcheck -x "${dir}"/*.bash
	assert_success
}

@test "workflows: every action is pinned by a full commit SHA, with its tag in a comment" {
	run grep -hnE '^\s*-?\s*uses:' "${WORKFLOWS[@]}"
	assert_success
	local line bad=()
	while IFS= read -r line; do
		[[ ${line} =~ uses:\ [A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}\ \#\ v[0-9]+(\.[0-9]+)*$ ]] || bad+=("${line}")
	done <<<"${output}"
	((${#bad[@]} == 0)) || fail "not pinned: ${bad[*]}"
}

@test "workflows: least-privilege permissions and a concurrency group in each" {
	# Top-level permissions read-only or none; no job may write anything.
	run yq_py '["%s: %s" % (path, wf.get("permissions", "MISSING"))]'
	refute_output --partial MISSING
	refute_output --partial write
	run yq_py '["%s %s: %s" % (path, j, v.get("permissions")) for j, v in wf["jobs"].items() if "write" in str(v.get("permissions"))]'
	assert_output ''
	run yq_py '[path for _ in [0] if "group" not in (wf.get("concurrency") or {})]'
	assert_output ''
}

@test "workflows: every secret they read is documented in the README" {
	local secret missing=()
	run grep -ohE 'secrets\.[A-Za-z0-9_]+' "${WORKFLOWS[@]}"
	assert_success
	for secret in $(sort -u <<<"${output}"); do
		secret=${secret#secrets.}
		[[ ${secret} == GITHUB_TOKEN ]] && continue
		grep -q "\`${secret}\`" "${REPO}/README.md" || missing+=("${secret}")
	done
	((${#missing[@]} == 0)) || fail "README.md does not document: ${missing[*]}"
}

@test "workflows: every script of this repository they run exists and is executable" {
	local dir="${BATS_TEST_TMPDIR}/runs" wf path missing=()
	mkdir -p "${dir}"
	for wf in "${WORKFLOWS[@]}"; do
		python3 "${REPO}/tests/deploy/workflow_step.py" --all "${wf}" "${dir}"
	done
	run grep -ohE '(^|[ "=])(\./)?(tests|deploy|install|\.ci|bench|accountd)/[A-Za-z0-9_./-]*[A-Za-z0-9_-]' "${dir}"/*.bash
	assert_success
	for path in $(sed -E 's/^[ "=]//; s|^\./||' <<<"${output}" | sort -u); do
		[[ ${path} == tests/artifacts* || -d ${REPO}/${path} ]] && continue
		[[ -x ${REPO}/${path} ]] || missing+=("${path}")
	done
	((${#missing[@]} == 0)) || fail "named but missing or not executable: ${missing[*]}"
	# The test suites named in tests/run invocations exist.
	run grep -ohE '^\s*suites: [a-z -]+' "${WORKFLOWS[@]}"
	local suites=${output}
	run grep -ohE 'tests/run( [a-z-]+)+' "${dir}"/*.bash
	output+=$'\n'${suites}
	local word
	for word in $(sed -E 's/^\s*(tests\/run|suites:) //' <<<"${output}" | tr ' ' '\n' | sort -u); do
		[[ ${word} == deps ]] && continue
		grep -qE "^\s+${word}\) " "${REPO}/tests/run" || fail "tests/run has no suite ${word}"
	done
}

@test "deploy workflow: host keys checked, secrets never echoed, deploy.sh is the one shipped" {
	local wf="${REPO}/.github/workflows/deploy.yml"
	run grep -nE 'StrictHostKeyChecking=(no|accept-new)|set -x|ssh-keyscan .*>>' "${wf}"
	assert_output ''
	grep -q 'StrictHostKeyChecking=yes' "${wf}"
	# A secret reaches a script only through env:, and is written only to a file.
	run grep -nE '(echo|printf).*\$\{?DEPLOY_(SSH_KEY|KNOWN_HOSTS)' "${wf}"
	local line
	while IFS= read -r line; do
		[[ -z ${line} || ${line} == *'>"${ssh_dir}/'* ]] || fail "may print a secret: ${line}"
	done <<<"${output}"
	run grep -nE 'run:.*\$\{\{ *secrets\.' "${wf}"
	assert_output ''
	# The job that holds the secrets runs in an environment that can require approval.
	run python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["jobs"]["deploy"]["environment"]["name"])' "${wf}"
	assert_output production
}
