#!/usr/bin/env python3
"""Where a failover's gap goes (bench/ha_failover.sh): one row per failover.

  ha_breakdown.py EVENTS NATCTLD_LOG FLOW_DIR

EVENTS: lines "failover <unix time> <tcp retransmits> <tcp timeouts> <fail-back time>",
the time when the primary's links went down, the clients' and server's TCP counters over
that failover, and when the fail-back after it began.
NATCTLD_LOG: the log of the node that takes over (its "HA: keepalived: ... MASTER" line is
when keepalived declared the primary dead; its "→ primary ... let through after X ms" line
is natctld's takeover up to the open gate). FLOW_DIR holds flow-*.out (gap lines).

Columns: detection (links down → keepalived MASTER), takeover (→ gate open, natctld's
steps: the commit and the gate), the UDP and TCP gaps (the worst flow of each), the rest of
the UDP gap (gap − detection − takeover: the last echo before the failure, gratuitous ARP,
the first packet through), TCP retransmissions and retransmission timeouts of the clients
and the server during that failover.
"""
import re
import sys
import time
from pathlib import Path

STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3})\]")
MASTER = re.compile(r'HA: keepalived: INSTANCE "[^"]*" MASTER')
TAKEOVER = re.compile(r"→ primary .* let through after ([0-9.]+) ms")


def log_times(path):
    """[(unix time, line)] of natctld's log (spdlog prints local time, ms)."""
    out = []
    for line in Path(path).read_text(errors="replace").splitlines():
        m = STAMP.match(line)
        if m:
            t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
            out.append((t, line))
    return out


def worst_gap(flow_dir, proto, t, end):
    """The longest gap of any flow of proto that starts within [t - 0.5 s, end - 0.5 s),
    end being the next event (the fail-back that follows)."""
    worst = 0.0
    for out in Path(flow_dir).glob(f"flow-{proto}-*.out"):
        for line in out.read_text().splitlines():
            f = line.split()
            if f and f[0] == "gap" and t - 0.5 <= float(f[1]) < end - 0.5:
                worst = max(worst, float(f[2]))
    return worst


def median(values):
    v = sorted(values)
    return v[int(0.5 * (len(v) - 1) + 0.5)] if v else float("nan")


def main():
    events_file, log_file, flow_dir = sys.argv[1:4]
    log = log_times(log_file)
    rows = []
    for line in Path(events_file).read_text().splitlines():
        kind, t, retrans, timeouts, failback = line.split()
        if kind != "failover":
            continue
        t = float(t)
        master = next((lt for lt, l in log if lt >= t - 0.05 and MASTER.search(l)), None)
        gate = next((float(m.group(1)) / 1000 for lt, l in log
                     if master is not None and lt >= master and (m := TAKEOVER.search(l))), None)
        udp = worst_gap(flow_dir, "udp", t, float(failback))
        tcp = worst_gap(flow_dir, "tcp", t, float(failback))
        detection = master - t if master is not None else None
        rest = udp - detection - gate if detection is not None and gate is not None else None
        rows.append((detection, gate, udp, rest, tcp, int(retrans), int(timeouts)))

    def cell(value, scale=1000, unit="ms"):
        return "-" if value is None else f"{value * scale:.0f} {unit}"

    print("| failover | detection | takeover (gate open) | UDP gap | rest of the UDP gap | TCP gap | TCP retransmissions / timeouts |")
    print("|---|---|---|---|---|---|---|")
    for i, (d, g, u, r, tc, rt, to) in enumerate(rows, 1):
        print(f"| {i} | {cell(d)} | {cell(g)} | {cell(u)} | {cell(r)} | {cell(tc)} | {rt} / {to} |")
    if rows:
        col = lambda k: [r[k] for r in rows if r[k] is not None]
        print(f"| median | {cell(median(col(0)) if col(0) else None)} | "
              f"{cell(median(col(1)) if col(1) else None)} | {cell(median(col(2)))} | "
              f"{cell(median(col(3)) if col(3) else None)} | {cell(median(col(4)))} | "
              f"{median(col(5))} / {median(col(6))} |")


if __name__ == "__main__":
    main()
