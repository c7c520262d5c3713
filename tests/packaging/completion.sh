#!/usr/bin/env bash
# The bash completion the package installs (packaging/natctl.bash-completion), driven as
# bash drives it (COMP_WORDS / COMP_CWORD), with and without the bash-completion package's
# helpers: commands, verbs of the object commands, kinds of `get`, option values, and a
# command's options as the built natctl's --help lists them.
set -u
export LC_ALL=C
bin_dir=${NATCTL_BIN_DIR:?NATCTL_BIN_DIR must name the build directory}
source_dir=${NATCTL_SOURCE_DIR:?NATCTL_SOURCE_DIR must name the source tree}
natctl="$bin_dir/cli/natctl"
[[ -x $natctl ]] || { echo "FAIL: $natctl is not built"; exit 1; }
# shellcheck source=../../packaging/natctl.bash-completion
source "$source_dir/packaging/natctl.bash-completion"

failures=0
# complete EXPECTED WORD...: the last word is the one being completed.
complete_is() {
    local expected=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _natctl "$natctl" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    local got
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
    if [[ $got == "$expected " ]]; then
        echo "ok: natctl ${*:2} -> $expected"
    else
        echo "FAIL: natctl ${*:2}: expected '$expected', got '$got'"
        failures=$((failures + 1))
    fi
}

complete_is "render revisions rollback route" natctl r
complete_is "sessions snat status" natctl s
complete_is "create delete modify" natctl dnat ""
complete_is "associate" natctl --socket /run/x.sock eip as
complete_is "create delete disable enable" natctl ipv4-gateway ""
complete_is "table" natctl -o t
complete_is "dnat" natctl get dn
complete_is "limits" natctl get li
complete_is "icmp tcp udp" natctl explain --src 10.0.0.1 --proto ""
complete_is "--dry-run" natctl apply --dry
complete_is "--destination --dry-run" natctl route delete --d
complete_is "--force" natctl gateway delete --fo
complete_is "--output" natctl --out

((failures == 0)) || { echo "FAIL: $failures completion(s)"; exit 1; }
echo PASS
