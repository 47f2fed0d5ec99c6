"""A burst of blocked decisions against `cavra serve`: POST /v1/decisions (a `.env` read,
blocked, so each decision writes one connector event) from THREADS keep-alive connections for
SECONDS. Prints how many the service answered 200 (committed) and how many failed (refused
connections once the service is killed).

    python3 benches/connectors/burst.py http://127.0.0.1:PORT TOKEN SECONDS [THREADS]
"""
import http.client
import sys
import threading
import time
import urllib.parse

base, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 16
u = urllib.parse.urlsplit(base)
body = b'{"request":{"action":"read_file","target":".env","session_id":"burst","agent_id":"burst"}}'
headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
ok = 0
failed = 0
lock = threading.Lock()
end = time.monotonic() + seconds


def run():
    global ok, failed
    conn = None
    while time.monotonic() < end:
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
            conn.request("POST", "/v1/decisions", body, headers)
            r = conn.getresponse()
            r.read()
            with lock:
                if r.status == 200:
                    ok += 1
                else:
                    failed += 1
        except Exception:
            with lock:
                failed += 1
            conn = None
            time.sleep(0.05)


ts = [threading.Thread(target=run) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(f"answered_200={ok} failed={failed}")
