#!/usr/bin/env python3
"""Paced test flows for the HA failover test and benchmark (tests/ha/lib.sh).

server: echoes TCP and UDP on one port; logs, per flow id, every change of the address and
        port the flow arrives from ("<unix time> <proto> <id> <ip>:<port>"), so that a flow
        that came back through the standby with another EIP or port shows.
client: sends one message every --interval seconds on one TCP connection or UDP socket
        bound to --src:--sport and reads the echoes. Every interval between two echoes
        longer than --report seconds is written to --out as
        "gap <start unix time> <seconds>"; on SIGUSR1 a line
        "alive <seconds since the last echo> <error or ->"; on SIGTERM a last line
        "end <sent> <received> <max gap> <seconds since the last echo> <error or ->".
"""
import argparse
import os
import select
import signal
import socket
import sys
import threading
import time


def server(args):
    log = open(args.log, "a", buffering=1)
    lock = threading.Lock()
    seen = {}

    def note(proto, flow, peer):
        with lock:
            key = (proto, flow)
            if seen.get(key) != peer:
                seen[key] = peer
                log.write(f"{time.time():.3f} {proto} {flow} {peer[0]}:{peer[1]}\n")

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((args.bind, args.port))

    def serve_udp():
        while True:
            data, peer = udp.recvfrom(2048)
            note("udp", data.split(b" ", 1)[0].decode(errors="replace"), peer)
            udp.sendto(data, peer)

    def serve_tcp_connection(conn, peer):
        with conn:
            buffered = b""
            flow = None
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if flow is None:
                    buffered += data
                    if b"\n" not in buffered:
                        continue
                    flow = buffered.split(b" ", 1)[0].decode(errors="replace")
                    note("tcp", flow, peer)
                    data, buffered = buffered, b""
                try:
                    conn.sendall(data)
                except OSError:
                    return

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind, args.port))
    listener.listen(128)
    threading.Thread(target=serve_udp, daemon=True).start()
    while True:
        conn, peer = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_tcp_connection, args=(conn, peer), daemon=True).start()


def client(args):
    out = open(args.out, "w", buffering=1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    state = {"last_rx": time.time(), "error": "-"}
    signal.signal(signal.SIGUSR1, lambda *_: out.write(
        f"alive {time.time() - state['last_rx']:.3f} {state['error']}\n"))
    proto = socket.SOCK_STREAM if args.proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.src, args.sport))
    error = "-"
    sent = received = 0
    max_gap = 0.0
    try:
        sock.settimeout(5)
        sock.connect((args.dst, args.port))
        if args.proto == "tcp":
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        last_rx = time.time()
        state["last_rx"] = last_rx
        next_tx = last_rx
        out.write(f"start {last_rx:.3f}\n")
        while not stop.is_set():
            now = time.time()
            if now >= next_tx:
                message = f"{args.id} {sent}\n".encode()
                try:
                    sock.send(message)
                    sent += 1
                except BlockingIOError:
                    pass  # TCP: the window is full while the peer is unreachable
                except ConnectionRefusedError:
                    pass  # UDP: an ICMP error while nobody answers for the EIP
                next_tx += args.interval
                if next_tx < now:
                    next_tx = now + args.interval
            ready, _, _ = select.select([sock], [], [], max(0.0, min(next_tx - time.time(), 0.05)))
            if ready:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                if args.proto == "tcp" and not data:
                    raise ConnectionError("the server closed the connection")
                now = time.time()
                gap = now - last_rx
                if gap > args.report:
                    out.write(f"gap {last_rx:.3f} {gap:.4f}\n")
                max_gap = max(max_gap, gap)
                last_rx = now
                state["last_rx"] = now
                received += 1
    except Exception as exc:  # reported in the end line: the test judges
        error = f"{type(exc).__name__}:{exc}".replace(" ", "_")
        state["error"] = error
        last_rx = locals().get("last_rx", time.time())
        while not stop.is_set():
            stop.wait(0.1)
    out.write(f"end {sent} {received} {max_gap:.4f} {time.time() - last_rx:.3f} {error}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--log", required=True)
    c = sub.add_parser("client")
    c.add_argument("--proto", choices=["tcp", "udp"], required=True)
    c.add_argument("--src", required=True)
    c.add_argument("--sport", type=int, required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--id", required=True)
    c.add_argument("--interval", type=float, default=0.005)
    c.add_argument("--report", type=float, default=0.05)
    c.add_argument("--out", required=True)
    args = parser.parse_args()
    server(args) if args.mode == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
