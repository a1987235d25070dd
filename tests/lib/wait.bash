# shellcheck shell=bash
# The suites' bounded poll is the installer's own (install/wait.sh).
# shellcheck source=install/wait.sh
source "${BASH_SOURCE[0]%/*}/../../install/wait.sh"
