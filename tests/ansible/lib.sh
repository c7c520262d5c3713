# shellcheck shell=bash
# Shared helpers of the natctl.gateway collection's tests (tests/ansible/*.sh). Sourced, never
# run: CTest skips files named lib*.sh.
#
# ansible-core, ansible-test and their Python (Debian's python3 3.11) come from Debian
# packages (scripts/install-deps.sh). PATH may put another python3 first (pyenv): every tool
# here runs with /usr/bin/python3 explicitly.

ANSIBLE_PYTHON=/usr/bin/python3
: "${NATCTL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
COLLECTIONS_ROOT="$NATCTL_SOURCE_DIR/ansible"
# shellcheck disable=SC2034  # used by the scripts that source this file
COLLECTION_DIR="$COLLECTIONS_ROOT/ansible_collections/natctl/gateway"

# ansible_preconditions: exits 77 (skip) when ansible-core or Debian's python3 is missing.
ansible_preconditions() {
    [ -x "$ANSIBLE_PYTHON" ] || { echo "SKIP: $ANSIBLE_PYTHON missing (scripts/install-deps.sh)"; exit 77; }
    local tool
    for tool in ansible-playbook ansible-test ansible-doc; do
        [ -x "/usr/bin/$tool" ] || { echo "SKIP: /usr/bin/$tool missing: install ansible-core (scripts/install-deps.sh)"; exit 77; }
    done
}

# ansible_env DIR: a private HOME (ansible's ~/.ansible, ansible-test's virtual
# environments) and the collection on the collections path; nothing of the caller's is read.
ansible_env() {
    export HOME="$1"
    export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_ROOT"
    export ANSIBLE_PYTHON_INTERPRETER="$ANSIBLE_PYTHON"
    export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0
    # modules run straight from the pipe, without a temporary file per task
    export ANSIBLE_PIPELINING=1
    export ANSIBLE_LOCAL_TEMP="$1/.ansible/tmp" ANSIBLE_REMOTE_TEMP="$1/.ansible/tmp"
    export LC_ALL=C.UTF-8
}
