#!/usr/bin/env python3
"""INIT of two release builds of the API function, side by side (issue 17's check that sign-in
kept INIT where it was). Each round starts every build once, in turn, as Lambda would: against a
stand-in of the Runtime API, with the environment of `scripts/env.sh` (dynalite with the tables
must be up). "Ready" is the first GET .../invocation/next; INIT CPU is the process's CPU time
(every thread's schedstat) at that moment. Rounds interleave the builds, so the machine's noise
falls on both alike; medians are reported.

usage: init_side_by_side.py ROUNDS NAME=BINARY [NAME=BINARY ...]
"""
import glob, os, socket, statistics, subprocess, sys, time


def cpu_ms(pid):
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e6


def start_function(binary, port):
    """The function's process, started as Lambda starts it, against the Runtime API at `port`."""
    env = dict(os.environ,
               AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}",
               AWS_LAMBDA_FUNCTION_NAME="agent-overview",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_LOG_STREAM_NAME="bench",
               AWS_LAMBDA_LOG_GROUP_NAME="bench")
    return subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_until_ready(binary):
    """Starts `binary` against a fresh stand-in of the Runtime API and waits for its first
    GET .../invocation/next: (server, connection, process, INIT wall ms, INIT CPU ms)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    started = time.perf_counter()
    proc = start_function(binary, port)
    server.settimeout(30)
    conn, _ = server.accept()
    conn.settimeout(30)  # a function that stops talking fails the run instead of hanging it
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            break
        request += chunk
    ready_ms = (time.perf_counter() - started) * 1000
    init_cpu = cpu_ms(proc.pid)
    assert b"/runtime/invocation/next" in request, request[:200]
    return server, conn, proc, ready_ms, init_cpu


def one_start(binary):
    server, conn, proc, ready_ms, init_cpu = start_until_ready(binary)
    proc.kill()
    proc.wait()
    conn.close()
    server.close()
    return ready_ms, init_cpu


def main():
    rounds = int(sys.argv[1])
    builds = [arg.split("=", 1) for arg in sys.argv[2:]]
    seen = {name: ([], []) for name, _ in builds}
    for name, binary in builds:  # one unmeasured start each: page cache
        one_start(binary)
    for _ in range(rounds):
        for name, binary in builds:
            ready, cpu = one_start(binary)
            seen[name][0].append(ready)
            seen[name][1].append(cpu)
    print("| build | size | INIT wall, median (p10–p90) | INIT CPU, median (p10–p90) |")
    print("|---|---|---|---|")
    for name, binary in builds:
        ready, cpu = seen[name]
        q = lambda xs: statistics.quantiles(xs, n=10)
        print(f"| {name} | {os.path.getsize(binary) / 1e6:.1f} MB | {statistics.median(ready):.1f} ms "
              f"({q(ready)[0]:.1f}–{q(ready)[-1]:.1f}) | {statistics.median(cpu):.1f} ms "
              f"({q(cpu)[0]:.1f}–{q(cpu)[-1]:.1f}) |")


if __name__ == "__main__":
    main()
