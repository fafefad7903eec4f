#!/usr/bin/env python3
"""Two or more release builds of the API function, side by side: INIT and the latency of one
request, as Lambda runs them (issue 18's check that the house moves kept both where they were).

Each round starts every build in turn against a stand-in of the Runtime API, with the
environment of `scripts/env.sh` (dynalite with the tables and the data must be up):
- INIT wall: process start to its first GET .../invocation/next; INIT CPU: every thread's
  schedstat at that moment (as `init_side_by_side.py`);
- then REQUESTS invocations of one API Gateway HTTP API event (the demo manager's token): the
  latency of each is the time from handing the event out (the reply to .../next) to the
  function's POST .../response. The first is the warm-up and is not counted; the others are.
Rounds interleave the builds, so the machine's noise falls on all alike; medians are reported,
and every build's response body must be byte-identical to the first build's.

usage: side_by_side.py ROUNDS REQUESTS QUERY NAME=BINARY [NAME=BINARY ...]
  QUERY: the request's raw query string, e.g. name=Avg_chat_duration&from=2024-07-01&to=2025-06-30
"""
import json, os, socket, statistics, sys, time

from init_side_by_side import start_until_ready

EVENT = os.path.join(os.path.dirname(__file__), "..", "events", "http-api-agent-overview.json")


def read_request(conn):
    """One HTTP/1.1 request: (request line, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += conn.recv(65536)
    return head.split(b"\r\n")[0].decode(), body


def reply(conn, body, headers=()):
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    conn.sendall((f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
                  f"{extra}\r\n").encode() + body)


def one_run(binary, event, requests):
    """INIT wall, INIT CPU, request latencies (ms) and the last response body."""
    server, conn, proc, init_wall, init_cpu = start_until_ready(binary)
    latencies, body = [], b""
    for i in range(requests + 1):
        deadline = int(time.time() * 1000) + 30_000
        handed = time.perf_counter()
        reply(conn, event, [("lambda-runtime-aws-request-id", f"req-{i}"),
                            ("lambda-runtime-deadline-ms", str(deadline)),
                            ("lambda-runtime-invoked-function-arn",
                             "arn:aws:lambda:us-east-1:123456789012:function:agent-overview")])
        while True:  # the response may arrive on this connection or a new one
            line, got = read_request(conn)
            if line is None:
                conn.close()
                conn, _ = server.accept()
                conn.settimeout(30)
                continue
            break
        assert f"/runtime/invocation/req-{i}/response" in line, (line, got[:300])
        done = time.perf_counter()
        if i > 0:
            latencies.append((done - handed) * 1000)
        body = got
        conn.sendall(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        line, _ = read_request(conn)  # the next .../next
        if line is None:
            conn.close()
            conn, _ = server.accept()
            conn.settimeout(30)
            line, _ = read_request(conn)
        assert line and "/runtime/invocation/next" in line, line
    proc.kill()
    proc.wait()
    conn.close()
    server.close()
    return init_wall, init_cpu, latencies, body


def main():
    rounds, requests, query = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    builds = [arg.split("=", 1) for arg in sys.argv[4:]]
    event = json.load(open(EVENT))
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    event = json.dumps(event).encode()
    seen = {name: ([], [], []) for name, _ in builds}
    reference = None
    for _ in range(rounds):
        for name, binary in builds:
            wall, cpu, latencies, body = one_run(binary, event, requests)
            answer = json.loads(body)
            assert answer.get("statusCode") == 200, answer
            if reference is None:
                reference = answer["body"]
            assert answer["body"] == reference, f"{name} answered differently"
            seen[name][0].append(wall)
            seen[name][1].append(cpu)
            seen[name][2].extend(latencies)
    q = lambda xs: statistics.quantiles(xs, n=10)
    print(f"query: `{query}`; {rounds} rounds, {requests} requests per start after one warm-up; "
          f"answers byte-identical across builds\n")
    print("| build | size | INIT wall, median (p10–p90) | INIT CPU, median (p10–p90) | request, median (p10–p90) |")
    print("|---|---|---|---|---|")
    for name, binary in builds:
        wall, cpu, lat = seen[name]
        print(f"| {name} | {os.path.getsize(binary) / 1e6:.1f} MB "
              f"| {statistics.median(wall):.1f} ms ({q(wall)[0]:.1f}–{q(wall)[-1]:.1f}) "
              f"| {statistics.median(cpu):.1f} ms ({q(cpu)[0]:.1f}–{q(cpu)[-1]:.1f}) "
              f"| {statistics.median(lat):.1f} ms ({q(lat)[0]:.1f}–{q(lat)[-1]:.1f}) |")


if __name__ == "__main__":
    main()
