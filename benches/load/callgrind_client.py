#!/usr/bin/env python3
"""Sends N `POST /v1/decisions` requests (the four of decisions.lua in turn) over C keep-alive
connections, C at a time, and fails on any non-200 answer. Used by callgrind_serve.sh."""
import http.client
import sys
import threading

BODIES = [
    b'{"request":{"action":"read_file","target":"src/main.rs","session_id":"load","agent_id":"wrk"}}',
    b'{"request":{"action":"execute_command","target":"cargo test --workspace","session_id":"load","agent_id":"wrk"}}',
    b'{"request":{"action":"read_file","target":".env","session_id":"load","agent_id":"wrk"}}',
    b'{"request":{"action":"write_file","target":"src/lib.rs","session_id":"load","agent_id":"wrk"}}',
]


def main():
    port, token, n, c = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    errors = []

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for i in range(k, n, c):
            conn.request("POST", "/v1/decisions", BODIES[i % len(BODIES)], headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                errors.append((resp.status, body[:200]))
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"{len(errors)} errors, first: {errors[0]}")


main()
