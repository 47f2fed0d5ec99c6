#!/usr/bin/env bash
# Whole-process figures as a user gets them: `cavra evaluate` and the hook exactly as `cavra init`
# registers it, against `/bin/true`, plus one measured `fdatasync` on the same file system (the
# durable record's physical floor). Usage:
#   benches/process/run.sh [BIN_DIR]     # BIN_DIR holds cavra and cavra-hook (default: installs
#                                        # them with scripts/install into a temporary root)
# Prints the load average, the fdatasync figures and hyperfine's markdown tables.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap '(cd "$work/repo" 2>/dev/null && cavra hook daemon stop >/dev/null 2>&1) || true; rm -rf "$work"' EXIT
bin="${1:-}"
if [ -z "$bin" ]; then
  "$repo/scripts/install" --root "$work/root" >&2
  bin="$work/root/bin"
fi
bin="$(cd "$bin" && pwd)"
export PATH="$bin:$PATH"

mkdir "$work/repo" && cd "$work/repo"
git init -q . && git commit -q --allow-empty -m init
cavra init claude-code >/dev/null
registered=$(python3 -c 'import json,sys
s = json.load(open(".claude/settings.json"))
print(s["hooks"]["PreToolUse"][0]["hooks"][0]["command"])')
printf 'SECRET=1\n' > .env
printf '# readme\n' > README.md
python3 - "$repo/tests/data/conformance/hooks/claude-code.jsonl" "$work/repo" <<'PY'
import json, sys
cases = {json.loads(l)["name"]: json.loads(l)["payload"] for l in open(sys.argv[1]) if l.strip()}
for name, out in (("blocked command", "deny.json"), ("ordinary read defers", "read.json")):
    text = json.dumps(cases[name]).replace("__PROJECT__", sys.argv[2])
    open(out, "w").write(text)
PY
# Start the hook server (the registered hook starts it on first use) and check the answers.
sh -c "$registered < deny.json" >/dev/null 2>&1 || true
sleep 0.5

# A markdown table of hyperfine's JSON with medians: on a shared VM the mean carries the
# scheduler's noise, the median and minimum are the steadier figures.
table() {
  python3 - "$1" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
base = statistics.median(results[0]["times"])
print("| Command | Median [ms] | Mean [ms] | Min [ms] | Median / first |")
print("|:---|---:|---:|---:|---:|")
for r in results:
    med = statistics.median(r["times"])
    print("| `%s` | %.3f | %.3f ± %.3f | %.3f | %.2f |" % (r["command"], med * 1e3, r["mean"] * 1e3,
          r["stddev"] * 1e3, r["min"] * 1e3, med / base))
PY
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "registered hook command: $registered"
python3 - <<'PY'
import os, time, statistics
fd = os.open(".cavra/fdatasync-probe", os.O_WRONLY | os.O_CREAT, 0o600)
samples = []
for i in range(500):
    os.pwrite(fd, os.urandom(4096), (i % 64) * 4096)
    t = time.perf_counter(); os.fdatasync(fd); samples.append(time.perf_counter() - t)
os.close(fd); os.unlink(".cavra/fdatasync-probe")
samples.sort()
print("fdatasync of a 4 KiB write, 500 samples: p50 %.3f ms, p90 %.3f ms, mean %.3f ms"
      % (samples[250] * 1e3, samples[450] * 1e3, statistics.mean(samples) * 1e3))
PY
hyperfine -N --warmup 30 --runs 500 -i -u millisecond --export-json "$work/evaluate.json" \
  /bin/true "cavra --version" "cavra evaluate read_file .env --json" \
  "cavra evaluate execute_command 'terraform plan && terraform apply -auto-approve' --json" >&2
table "$work/evaluate.json"
hyperfine --warmup 30 --runs 500 -i -u millisecond --export-json "$work/hook.json" \
  "/bin/true < deny.json" "$registered < deny.json" "$registered < read.json" \
  "cavra hook claude-code < deny.json" >&2
table "$work/hook.json"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
