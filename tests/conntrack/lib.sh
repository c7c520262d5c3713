# Shared set-up of the conntrack tests (tests/conntrack/*.sh) on top of tests/daemon/lib.sh.
# Sourced, never run: CTest skips files named lib*.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../daemon/lib.sh"

# conntrack_test_init PREFIX: namespaces named PREFIX-$$-{gw,sw,net} with the quickstart
# topology; the internet host swallows UDP to ports 9000-9099 (no ICMP errors back), so
# every test datagram leaves one unreplied conntrack entry. Skips (77) without python3,
# the traffic generator.
conntrack_test_init() {
    E2E_PREFIX="$1-$$"
    GW="$E2E_PREFIX-gw"
    SW="$E2E_PREFIX-sw"
    NET="$E2E_PREFIX-net"
    daemon_init
    command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed (traffic generator)"
    quickstart_topology
    nsx "$NET" nft -f - <<NFT
table inet ${1}_sink {
    chain in { type filter hook input priority 0; udp dport 9000-9099 drop; }
}
NFT
}

# flows NS SRC DST PORT FIRST_SPORT COUNT: COUNT UDP flows, one datagram each, source ports
# FIRST_SPORT.. (one conntrack entry per flow)
flows() {
    nsx "$1" python3 - "$2" "$3" "$4" "$5" "$6" <<'PY'
import socket, sys
src, dst, port, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
for sport in range(first, first + count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, sport))
    s.sendto(b"x", (dst, port))
    s.close()
PY
}

# ct_snat_count EIP [DST DPORT]: SNAT'd entries of the gateway translated to EIP (reply
# destination), optionally to one destination tuple (reply source and source port)
ct_snat_count() {
    nsx "$GW" conntrack -L 2>/dev/null | awk -v eip="$1" -v dst="${2:-}" -v dport="${3:-}" '
        { s = 0; d = 0; sp = 0
          for (i = 1; i <= NF; i++) {
              if ($i ~ /^src=/) { s++; if (s == 2) rsrc = substr($i, 5) }
              if ($i ~ /^dst=/) { d++; if (d == 2) rdst = substr($i, 5) }
              if ($i ~ /^sport=/) { sp++; if (sp == 2) rsport = substr($i, 7) }
          }
          if (rdst == eip && (dst == "" || (rsrc == dst && rsport == dport))) n++ }
        END { print n + 0 }'
}
