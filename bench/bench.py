#!/usr/bin/env python3
"""pgw benchmarks, side by side with blackbox_exporter. Started by bench/run.sh (which builds the
release binaries and installs prometheus-blackbox-exporter); Python standard library only.

Four benchmarks, each repeated --runs times with fresh processes, reported as medians:
  cpu       CPU per 1000 probes, probes/s at concurrency 1/8/64 and peak RSS: HTTPS, TCP, DNS
  scale     pgw-agent watching 1 000 and 10 000 targets (address x path) at a 30 s interval
  accuracy  connect / TLS / TTFB with a known RTT added by a delay line between two network
            namespaces (root only), pgw next to curl and blackbox_exporter
  verdict   pgw-doctor time to verdict on the lab: healthy chain with control plane, a chain failing
            at API Gateway whose execution log is read, and a chain where every layer blackholes
            (must stop at its deadline)
  fleet     (not in the default set) 20 agents pushing by remote write into one Prometheus, against
            the same 20 without: samples/s pushed, CPU and RSS per agent; and one agent with 10 000
            targets, with and without remote write. Its own table: bench/README.md "Fleet".

Traffic stays on 127.0.0.0/8 and inside the two network namespaces this script creates.
Results: bench/results/latest.json, and the table between the markers in bench/README.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# Loopback only: no process started here may ask EC2's instance metadata (169.254.169.254).
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.environ.get("PGW_BIN", os.path.join(ROOT, "target", "release"))
BLACKBOX = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"

NAME = "abcdefghij.execute-api.us-east-1.amazonaws.com"
SRV = ["127.201.0.10", "127.201.0.11"]
PORT = 8443
DNS1 = "127.201.0.10:5353"  # answers one address
DNS2 = "127.201.0.11:5353"  # answers both
BLACKBOX_LISTEN = "127.201.0.20:9115"
AGENT_LISTEN = "127.201.0.21:9116"
CONCURRENCY = (1, 8, 64)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_http(url, proc, what, timeout=20, netns=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if netns:
                subprocess.run(["ip", "netns", "exec", netns, "curl", "-sf", "-o", "/dev/null", url],
                               check=True, timeout=2)
            else:
                http_get(url, timeout=1)
            return
        except (OSError, subprocess.SubprocessError):
            time.sleep(0.05)
    raise SystemExit(f"{what} not ready at {url}")


def wait_line(proc, what, want="ready"):
    for line in proc.stdout:
        if line.strip() == want:
            return
    raise SystemExit(f"{what} exited before '{want}' ({proc.wait()})")


class Procs:
    """Processes started for one measurement, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def bench_bin(name):
    return os.path.join(BIN, name)


def start_server(ps, work, netns=None, https=None, dns=None):
    pre = ["ip", "netns", "exec", netns] if netns else []
    https = https or [f"{ip}:{PORT}" for ip in SRV]
    dns = dns or [f"{DNS1}={SRV[0]}", f"{DNS2}={SRV[0]},{SRV[1]}"]
    argv = pre + [bench_bin("pgw-bench"), "serve", "--ca-out", f"{work}/ca.pem"]
    for a in https:
        argv += ["--https", a]
    for d in dns:
        argv += ["--dns", d]
    p = ps.start(argv, stdout=subprocess.PIPE, text=True)
    wait_line(p, "pgw-bench serve")
    return f"{work}/ca.pem"


def blackbox_config(work, ca, host_ip=SRV[0]):
    path = f"{work}/blackbox.yml"
    with open(path, "w") as f:
        f.write(f"""modules:
  https:
    prober: http
    timeout: 5s
    http:
      method: GET
      valid_status_codes: [200]
      fail_if_not_ssl: true
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      headers:
        Host: {NAME}
      tls_config:
        ca_file: {ca}
        server_name: {NAME}
  tcp:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  dns:
    prober: dns
    timeout: 5s
    dns:
      query_name: {NAME}
      query_type: A
      transport_protocol: udp
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
""")
    return path


def start_blackbox(ps, work, ca, listen=BLACKBOX_LISTEN, netns=None):
    pre = ["ip", "netns", "exec", netns] if netns else []
    p = ps.start(
        pre + [BLACKBOX, f"--config.file={blackbox_config(work, ca)}", f"--web.listen-address={listen}",
               "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://{listen}/-/healthy", p, "blackbox_exporter", netns=netns)
    return p


def write_probe(path, name, resolver, ca, paths, interval="30s", timeout="10s", port=PORT):
    quoted = ", ".join(f'"{p}"' for p in paths)
    with open(path, "w") as f:
        f.write(f"""name = "{name}"
api_id = "abcdefghij"
region = "us-east-1"
stage = "test"
paths = [{quoted}]
resolvers = ["{resolver}"]
ca_file = "{ca}"
port = {port}
no_aws = true
interval = "{interval}"
timeout = "{timeout}"
""")


def start_agent(ps, probes, max_concurrent=8, max_on_demand=4):
    p = ps.start([bench_bin("pgw-agent"), "--probes", probes, "--listen", AGENT_LISTEN,
                  "--max-concurrent", str(max_concurrent), "--max-on-demand", str(max_on_demand)],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://{AGENT_LISTEN}/healthz", p, "pgw-agent")
    return p


def load(args):
    out = subprocess.run([bench_bin("pgw-bench"), "load"] + args, check=True, capture_output=True,
                         text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    # A failed probe is usually a cheap one (a 503, a refusal): many would flatter the prober.
    # A stray one (blackbox_exporter loses about one in a few thousand on loopback) is counted.
    if r["failed"] > r["count"] // 500:
        raise SystemExit(f"bench: {r['label']} {r['kind']} c={r['concurrency']}: {r['failed']} probes failed")
    return r


# --- fleet -------------------------------------------------------------------------------------

PROM_RECEIVER = "127.201.0.30:9090"


def start_receiver(ps, work):
    """A Prometheus that scrapes nothing and receives remote write."""
    d = f"{work}/prometheus"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/prometheus.yml", "w") as f:
        f.write("global: {evaluation_interval: 15s}\n")
    p = ps.start(["prometheus", f"--config.file={d}/prometheus.yml", f"--storage.tsdb.path={d}/data",
                  f"--web.listen-address={PROM_RECEIVER}", "--web.enable-remote-write-receiver"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://{PROM_RECEIVER}/-/ready", p, "prometheus", timeout=60)
    return p


def write_remote_write(path, account, vpc, interval):
    with open(path, "w") as f:
        f.write(f"""[remote_write]
url = "http://{PROM_RECEIVER}/api/v1/write"
interval = "{interval}"
[remote_write.external_labels]
account = "{account}"
vpc_id = "{vpc}"
""")


def agents_window(agents, warm, window):
    """Per agent (pid, listen): CPU %, RSS and remote-write samples/s over `window` after `warm`."""
    time.sleep(warm)
    before = [(stat(pid), http_get(f"http://{listen}/metrics").decode()) for pid, listen in agents]
    time.sleep(window)
    after = [(stat(pid), http_get(f"http://{listen}/metrics").decode()) for pid, listen in agents]
    out = []
    for (s0, m0), (s1, m1) in zip(before, after):
        sent = (metric_sum(m1, 'pgw_remote_write_samples_total{result="sent"}')
                - metric_sum(m0, 'pgw_remote_write_samples_total{result="sent"}'))
        out.append({"cpu_percent": 100 * (s1["cpu_seconds"] - s0["cpu_seconds"]) / window,
                    "rss_mib": s1["rss_kib"] / 1024, "samples_per_s": sent / window})
    return out


def bench_fleet(opt, work):
    n_agents = 4 if opt.quick else 20
    warm, window = (6, 10) if opt.quick else (15, 30)
    rows = []
    with Procs() as ps:
        ca = start_server(ps, work)
        start_receiver(ps, work)
        for push in (False, True):
            for run in range(opt.runs):
                with Procs() as one:
                    agents = []
                    for n in range(n_agents):
                        d = f"{work}/fleet-{int(push)}-{run}-{n}"
                        os.makedirs(d, exist_ok=True)
                        write_probe(f"{d}/p.toml", f"fleet-{n:02d}", DNS2, ca, ["/", "/a"], interval="5s")
                        listen = f"127.201.1.{n + 1}:9116"
                        argv = [bench_bin("pgw-agent"), "--probes", d, "--listen", listen]
                        if push:
                            write_remote_write(f"{d}/rw.conf", f"1000000000{n:02d}", f"vpc-0fleet{n:02d}", "5s")
                            argv += ["--remote-write", f"{d}/rw.conf"]
                        p = one.start(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        wait_http(f"http://{listen}/healthz", p, "pgw-agent")
                        agents.append((p.pid, listen))
                    per = agents_window(agents, warm, window)
                    rows.append({"case": f"{n_agents} agents, 2 targets each, " + ("pushing every 5 s" if push else "scraped only"),
                                 "remote_write": push, "agents": n_agents,
                                 "cpu_percent": median([a["cpu_percent"] for a in per]),
                                 "rss_mib": median([a["rss_mib"] for a in per]),
                                 "samples_per_s": median([a["samples_per_s"] for a in per])})
                    log(f"fleet {json.dumps(rows[-1])}")
        # One agent, 10 000 targets (1 000 files x 2 addresses x 5 paths), with and without.
        targets = 1000 if opt.quick else 10000
        probes = f"{work}/fleet-big"
        os.makedirs(probes, exist_ok=True)
        interval = 5 if opt.quick else 30
        for i in range(targets // 10):
            write_probe(f"{probes}/s{i}.toml", f"s{i}", DNS2, ca, ["/", "/a", "/b", "/c", "/d"],
                        interval=f"{interval}s")
        write_remote_write(f"{work}/big-rw.conf", "100000000099", "vpc-0big", f"{interval}s")
        for push in (False, True):
            for run in range(opt.runs):
                with Procs() as one:
                    argv = [bench_bin("pgw-agent"), "--probes", probes, "--listen", AGENT_LISTEN]
                    if push:
                        argv += ["--remote-write", f"{work}/big-rw.conf"]
                    p = one.start(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    wait_http(f"http://{AGENT_LISTEN}/healthz", p, "pgw-agent")
                    per = agents_window([(p.pid, AGENT_LISTEN)], interval + 5, 2 * interval)
                    rows.append({"case": f"1 agent, {targets} targets, " + (f"pushing every {interval} s" if push else "scraped only"),
                                 "remote_write": push, "agents": 1, **per[0]})
                    log(f"fleet {json.dumps(rows[-1])}")
    return rows


def fleet_table(rows):
    out = ["| case | CPU % per agent | RSS MiB per agent | samples/s pushed per agent |",
           "| --- | --- | --- | --- |"]
    cases = []
    for r in rows:
        if r["case"] not in cases:
            cases.append(r["case"])
    for c in cases:
        rs = [r for r in rows if r["case"] == c]
        out.append(f"| {c} | {fmt(median([r['cpu_percent'] for r in rs]), 2)} | "
                   f"{fmt(median([r['rss_mib'] for r in rs]), 1)} | "
                   f"{fmt(median([r['samples_per_s'] for r in rs]), 1)} |")
    return "\n".join(out)


# --- cpu ---------------------------------------------------------------------------------------

def bench_cpu(opt, work):
    counts = {"https": 2000, "tcp": 20000, "dns": 20000}
    if opt.quick:
        counts = {k: 200 for k in counts}
    rows = []
    with Procs() as ps:
        ca = start_server(ps, work)
        target = {"https": f"{SRV[0]}:{PORT}", "tcp": f"{SRV[0]}:{PORT}", "dns": DNS1}
        bb_target = {"https": f"https://{SRV[0]}:{PORT}/test/", "tcp": f"{SRV[0]}:{PORT}", "dns": DNS1}
        # pgw-agent's /probe: one probe file per worker, each one address x one path.
        probes = f"{work}/cpu-probes"
        os.makedirs(probes, exist_ok=True)
        for i in range(max(CONCURRENCY)):
            write_probe(f"{probes}/b{i}.toml", f"b{i}", DNS1, ca, ["/"], interval="1h")
        for kind in ("https", "tcp", "dns"):
            for c in CONCURRENCY:
                for run in range(opt.runs):
                    first = len(rows)
                    common = ["--kind", kind, "--concurrency", str(c), "--count", str(counts[kind])]
                    r = load(common + ["--engine", "pgw", "--label", "pgw", "--target", target[kind],
                                       "--ca-file", ca])
                    rows.append(r)
                    with Procs() as one:
                        bb = start_blackbox(one, work, ca)
                        url = f"http://{BLACKBOX_LISTEN}/probe?module={kind}&target={bb_target[kind]}"
                        rows.append(load(common + ["--engine", "url", "--label", "blackbox", "--url", url,
                                                   "--pid", str(bb.pid)]))
                    if kind == "https":
                        with Procs() as one:
                            ag = start_agent(one, probes, max_concurrent=max(CONCURRENCY),
                                             max_on_demand=max(CONCURRENCY))
                            time.sleep(1)  # the first scheduled run of every probe
                            urls = []
                            for i in range(c):
                                urls += ["--url", f"http://{AGENT_LISTEN}/probe?target=b{i}"]
                            rows.append(load(["--kind", "chain", "--concurrency", str(c), "--count",
                                              str(counts[kind]), "--engine", "url", "--label",
                                              "pgw-agent", "--pid", str(ag.pid)] + urls))
                    log(f"cpu {kind} c={c} run {run + 1}/{opt.runs}: " + ", ".join(
                        f"{x['label']} {x['cpu_ms_per_probe']:.3f} ms" for x in rows[first:]))
    return rows


def summarize_cpu(rows):
    out = []
    keys = sorted({(r["kind"], r["label"], r["concurrency"]) for r in rows})
    for kind, label, c in keys:
        rs = [r for r in rows if (r["kind"], r["label"], r["concurrency"]) == (kind, label, c)]
        out.append({
            "kind": kind, "prober": label, "concurrency": c, "runs": len(rs),
            "cpu_ms_per_probe": median(r["cpu_ms_per_probe"] for r in rs),
            "probes_per_second": median(r["probes_per_second"] for r in rs),
            "peak_rss_mib": median(r["peak_rss_kib"] / 1024 for r in rs),
            "failed": sum(r["failed"] for r in rs),
        })
    return out


# --- scale -------------------------------------------------------------------------------------

def metric_sum(text, name, skip=None):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if skip and skip in line:
                continue
            total += float(line.rsplit(" ", 1)[1])
    return total


def agent_window(pid, warm, window):
    """pgw-agent `pid` over `window` seconds, after `warm`: runs counted, CPU and memory."""
    time.sleep(warm)
    m0, s0 = http_get(f"http://{AGENT_LISTEN}/metrics").decode(), stat(pid)
    time.sleep(window)
    s1, m1 = stat(pid), http_get(f"http://{AGENT_LISTEN}/metrics").decode()
    runs = (metric_sum(m1, "pgw_probe_runs_total", skip='result="skipped"')
            - metric_sum(m0, "pgw_probe_runs_total", skip='result="skipped"'))
    cpu = s1["cpu_seconds"] - s0["cpu_seconds"]
    return {"window_s": window, "runs": runs, "cpu_seconds": cpu, "cpu_percent": 100 * cpu / window,
            "rss_mib": s1["rss_kib"] / 1024, "peak_rss_mib": s1["peak_rss_kib"] / 1024,
            "anon_rss_mib": s1["anon_rss_kib"] / 1024, "success": metric_sum(m1, "pgw_probe_success")}


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def scrape_seconds():
    """One /metrics scrape by curl, its total time. curl reads as fast as Prometheus does;
    Python's urllib spends 10-20 ms of its own decoding the 14 MB of chunks at 10 000 targets."""
    out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}",
                          f"http://{AGENT_LISTEN}/metrics"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return float(out)


def scrapes_peak(pid, n):
    """`n` concurrent /metrics scrapes (by curl): their median time, and the agent's RSS before
    and at its highest while they ran (sampled every 2 ms)."""
    before = rss_kib(pid)
    peak, done, out = [before], threading.Event(), []

    def sample():
        while not done.is_set():
            peak.append(rss_kib(pid))
            time.sleep(0.002)

    def scrape():
        out.append(scrape_seconds())

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=scrape) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sampler.join()
    return median(out), before, max(peak)


def bench_scale(opt, work):
    # 100 000 targets: one run (about two minutes), whatever --runs says.
    sizes = (1000, 10000, 100000) if not opt.quick else (1000, 10000)
    interval, window = (30, 30) if not opt.quick else (5, 5)
    rows = []
    with Procs() as ps:
        ca = start_server(ps, work)
        for targets in sizes:
            files = targets // 10  # 2 addresses x 5 paths each
            probes = f"{work}/scale-{targets}"
            os.makedirs(probes, exist_ok=True)
            for i in range(files):
                write_probe(f"{probes}/s{i}.toml", f"s{i}", DNS2, ca, ["/", "/a", "/b", "/c", "/d"],
                            interval=f"{interval}s")
            for run in range(opt.runs if targets < 100000 else 1):
                with Procs() as one:
                    ag = start_agent(one, probes)
                    w = agent_window(ag.pid, interval + 5, window)
                    singles = [scrapes_peak(ag.pid, 1) for _ in range(5)]
                    ten = scrapes_peak(ag.pid, 10)
                    body = http_get(f"http://{AGENT_LISTEN}/metrics", timeout=60)
                    runs = w["runs"]
                    rows.append({
                        "targets": targets, "probe_files": files, "interval_s": interval, **w,
                        "runs_expected": files * window / interval,
                        "cpu_ms_per_target_probe": 1000 * w["cpu_seconds"] / (runs * 10) if runs else None,
                        "scrape_seconds": median(x[0] for x in singles), "scrape_bytes": len(body),
                        "scrape_extra_rss_mib": median((x[2] - x[1]) / 1024 for x in singles),
                        "scrape10_seconds": ten[0], "scrape10_extra_rss_mib": (ten[2] - ten[1]) / 1024,
                        "series": sum(1 for ln in body.decode().splitlines() if ln and not ln.startswith("#")),
                    })
                    log(f"scale {targets} run {run + 1}/{opt.runs}: {json.dumps(rows[-1])}")
    return rows


def stat(pid):
    out = subprocess.run([bench_bin("pgw-bench"), "stat", str(pid)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def median_by(rows, key):
    """One row per value of `key` (in first-seen order): numbers are medians across the group."""
    out = []
    for k in dict.fromkeys(r[key] for r in rows):
        rs = [r for r in rows if r[key] == k]
        out.append({f: (median(r[f] for r in rs) if isinstance(rs[0][f], (int, float)) else rs[0][f])
                    for f in rs[0]} | {"repeats": len(rs)})
    return out


# --- accuracy ----------------------------------------------------------------------------------

NS_C, NS_S, DEV = "pgwb-c", "pgwb-s", "pgwb0"
C_IP, S_IP = "198.18.0.1", "198.18.0.2"  # RFC 2544 benchmark range, only inside our namespaces


def sh(*argv):
    subprocess.run(argv, check=True)


def netns_up():
    netns_down()
    for ns, me, peer in ((NS_C, C_IP, S_IP), (NS_S, S_IP, C_IP)):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "tuntap", "add", "dev", DEV, "mode", "tun")
        sh("ip", "-n", ns, "addr", "add", f"{me}/32", "dev", DEV)
        sh("ip", "-n", ns, "link", "set", DEV, "up")
        sh("ip", "-n", ns, "route", "add", f"{peer}/32", "dev", DEV)


def netns_down():
    for ns in (NS_C, NS_S):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def in_c(*argv):
    return subprocess.run(["ip", "netns", "exec", NS_C, *argv], check=True, capture_output=True,
                          text=True).stdout


def measure_pgw(ca):
    out = subprocess.run(["ip", "netns", "exec", NS_C, bench_bin("pgw-doctor"), "--no-aws", "--api-id",
                          "abcdefghij", "--region", "us-east-1", "--stage", "test", "--path", "/",
                          "--resolver", f"{S_IP}:53", "--ca-file", ca, "--timeout", "10s", "--output", "json"],
                         capture_output=True, text=True).stdout
    rep = json.loads(out)
    got = {}
    for c in rep["checks"]:
        if c["layer"] == "tcp" and c["name"] == "connect":
            got["connect"] = c["duration_seconds"]
        elif c["layer"] == "tls":
            got["tls"] = c["duration_seconds"]
        elif c["layer"] == "api" and "ttfb_seconds" in c["detail"]:
            got["ttfb"] = c["detail"]["ttfb_seconds"]
    # pgw's ttfb counts from the start of the connect (as curl's time_starttransfer); compare the
    # request -> first byte part, as blackbox's "processing" phase.
    got["ttfb"] -= got["connect"] + got["tls"]
    return got


def measure_curl(ca):
    out = in_c("curl", "-sS", "-o", "/dev/null", "--cacert", ca, "--resolve", f"{NAME}:443:{S_IP}",
               "-w", "%{time_connect} %{time_appconnect} %{time_starttransfer}", f"https://{NAME}/test/")
    conn, app, start = (float(x) for x in out.split())
    return {"connect": conn, "tls": app - conn, "ttfb": start - app}


def measure_blackbox():
    body = in_c("curl", "-sS", f"http://127.0.0.1:9115/probe?module=https&target=https://{S_IP}/test/")
    got = {}
    for phase, key in (("connect", "connect"), ("tls", "tls"), ("processing", "ttfb")):
        m = re.search(r'probe_http_duration_seconds\{phase="%s"\} (\S+)' % phase, body)
        got[key] = float(m.group(1)) if m else None
    return got


def bench_accuracy(opt, work):
    if os.geteuid() != 0 or not shutil.which("ip"):
        log("accuracy: skipped (needs root and iproute2 to create network namespaces)")
        return []
    delays_ms = (0.0, 5.0)
    samples = max(opt.runs, 5) * 2 + 1
    rows = []
    netns_up()
    try:
        for d in delays_ms:
            with Procs() as ps:
                relay = ps.start([bench_bin("pgw-bench"), "relay", "--ns-a", NS_C, "--ns-b", NS_S, "--dev", DEV,
                                  "--delay", f"{int(d * 1000)}us"], stdout=subprocess.PIPE, text=True)
                wait_line(relay, "relay")
                ca = start_server(ps, work, netns=NS_S, https=[f"{S_IP}:443"], dns=[f"{S_IP}:53={S_IP}"])
                start_blackbox(ps, work, ca, listen="127.0.0.1:9115", netns=NS_C)
                for tool, fn in (("pgw", lambda: measure_pgw(ca)), ("curl", lambda: measure_curl(ca)),
                                 ("blackbox", measure_blackbox)):
                    fn()  # warm caches (page cache, ARP-free TUN path)
                    for _ in range(samples):
                        rows.append({"tool": tool, "one_way_delay_ms": d, **fn()})
                log(f"accuracy: delay {d} ms done")
    finally:
        netns_down()
    return rows


def summarize_accuracy(rows):
    if not rows:
        return []
    out = []
    delays = sorted({r["one_way_delay_ms"] for r in rows})
    base, high = delays[0], delays[-1]
    rtt = 2 * (high - base)
    for tool in ("pgw", "curl", "blackbox"):
        for phase in ("connect", "tls", "ttfb"):
            med = {d: median(r.get(phase) for r in rows if r["tool"] == tool and r["one_way_delay_ms"] == d)
                   for d in delays}
            if None in med.values():
                continue
            added = (med[high] - med[base]) * 1000
            out.append({"tool": tool, "phase": phase, "injected_rtt_ms": rtt,
                        "base_ms": med[base] * 1000, "with_delay_ms": med[high] * 1000,
                        "added_ms": added, "error_ms": added - rtt})
    return out


# --- idle ------------------------------------------------------------------------------------

def probe_file_from_args(path, name, args, interval, extra=()):
    """The lab's pgw-doctor arguments as a probe file (keys mirror the flags); `extra`: more
    top-level lines."""
    keys = {"--api-id": "api_id", "--region": "region", "--stage": "stage", "--port": "port",
            "--invoke-via": "invoke_via", "--vpce-id": "vpce_id", "--vpce-dns": "vpce_dns",
            "--timeout": "timeout", "--aws-endpoint-url": "aws_endpoint_url", "--ca-file": "ca_file"}
    lines = [f'name = "{name}"', f'interval = "{interval}"']
    resolvers, roles, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a == "--no-aws":
            lines.append("no_aws = true")
        elif a == "--sigv4":
            lines.append("sigv4 = true")
        elif a == "--resolver":
            resolvers.append(args[i + 1]); i += 1
        elif a == "--role":
            roles.append(args[i + 1]); i += 1
        elif a in keys:
            v = args[i + 1]; i += 1
            lines.append(f"{keys[a]} = {v}" if a == "--port" else f'{keys[a]} = "{v}"')
        else:
            raise SystemExit(f"probe_file_from_args: unexpected {a}")
        i += 1
    lines += extra
    if resolvers:
        lines.append("resolvers = [" + ", ".join(f'"{r}"' for r in resolvers) + "]")
    if roles:
        lines.append("[roles]")
        lines += [f'"{r.split("=", 1)[0]}" = "{r.split("=", 1)[1]}"' for r in roles]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def bench_idle(opt, work):
    """pgw-agent watching the lab's healthy chain at a 1 s interval: the cost of the daemon."""
    warm, window = (5, 30) if not opt.quick else (2, 5)
    rows = []
    for scenario in ("healthy_path_a", "healthy_cp_path_a"):
        for run in range(opt.runs):
            with Procs() as ps:
                env, args = lab_doctor(ps, scenario, work)
                d = f"{work}/idle-{scenario}"
                os.makedirs(d, exist_ok=True)
                probe_file_from_args(f"{d}/lab.toml", "lab", args, "1s")
                ag = ps.start([bench_bin("pgw-agent"), "--probes", d, "--listen", AGENT_LISTEN],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | env)
                wait_http(f"http://{AGENT_LISTEN}/healthz", ag, "pgw-agent")
                w = agent_window(ag.pid, warm, window)
                runs = w["runs"]
                rows.append({"scenario": scenario, **w,
                             "cpu_ms_per_run": 1000 * w["cpu_seconds"] / runs if runs else None})
                log(f"idle {scenario} run {run + 1}/{opt.runs}: {json.dumps(rows[-1])}")
    return rows


def bench_aws(opt, work):
    """500 probes of the lab's healthy chain, each reading the control plane from the lab's moto
    (every probe file its own, as a fleet of private APIs would have), on a 5 s interval: the
    agent's RSS every 30 s for `--minutes` (10 unless given). The probes share one set of AWS
    clients (same region, endpoint and roles) and, reading the same chain, one control-plane read
    per interval."""
    n, minutes = (500, opt.minutes) if not opt.quick else (50, 1)
    rows = []
    with Procs() as ps:
        env, args = lab_doctor(ps, "healthy_cp_path_a", work)
        d = f"{work}/aws-probes"
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            probe_file_from_args(f"{d}/p{i}.toml", f"p{i}", args, "5s")
        ag = ps.start([bench_bin("pgw-agent"), "--probes", d, "--listen", AGENT_LISTEN],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | env)
        wait_http(f"http://{AGENT_LISTEN}/healthz", ag, "pgw-agent")
        start = time.monotonic()
        for k in range(int(minutes * 2) + 1):
            time.sleep(max(0.0, start + 30 * k - time.monotonic()))
            s = stat(ag.pid)
            m = http_get(f"http://{AGENT_LISTEN}/metrics", timeout=60).decode()
            rows.append({"probes": n, "t_s": round(time.monotonic() - start), "rss_mib": s["rss_kib"] / 1024,
                         "anon_rss_mib": s["anon_rss_kib"] / 1024, "cpu_seconds": s["cpu_seconds"],
                         "runs": metric_sum(m, "pgw_probe_runs_total", skip='result="skipped"'),
                         "healthy": metric_sum(m, "pgw_probe_success"),
                         "aws_api_errors": metric_sum(m, "pgw_aws_api_errors_total")})
            log(f"aws {json.dumps(rows[-1])}")
    return rows


# --- verdict -----------------------------------------------------------------------------------

def lab_doctor(ps, scenario, work):
    log_path = f"{work}/lab-{scenario}.log"
    f = open(log_path, "w")
    p = ps.start([bench_bin("pgw-lab"), "up", "--scenario", scenario], stdout=f, stderr=subprocess.STDOUT)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if p.poll() is not None:
            raise SystemExit(f"pgw-lab {scenario} exited; see {log_path}")
        for line in open(log_path):
            if line.startswith("  ") and "pgw-doctor " in line:
                words = shlex.split(line)
                i = words.index("pgw-doctor")
                env = dict(w.split("=", 1) for w in words[:i])
                return env, words[i + 1:]
        time.sleep(0.1)
    raise SystemExit(f"pgw-lab {scenario} did not come up")


def bench_verdict(opt, work):
    rows = []
    # A healthy chain looks at no execution log; a chain failing at API Gateway with the stage's
    # logs on reads and quotes them (cp_log_backend_cert_untrusted).
    for scenario in ("healthy_cp_path_a", "cp_log_backend_cert_untrusted", "deadline_everything_blackholed"):
        with Procs() as ps:
            env, args = lab_doctor(ps, scenario, work)
            timeout = next((args[i + 1] for i, a in enumerate(args) if a == "--timeout"), "10s")
            for _ in range(opt.runs):
                t = time.perf_counter()
                # The doctor's own CPU and peak RSS by GNU time, which forks it from its own small
                # image (a child vforked from Python would inherit Python's peak RSS).
                usage = f"{work}/doctor-usage"
                r = subprocess.run(["/usr/bin/time", "-o", usage, "-f", "%U %S %M", bench_bin("pgw-doctor"),
                                    *args, "--output", "json"], capture_output=True, text=True,
                                   env=os.environ | env)
                wall = time.perf_counter() - t
                user, system, max_kib = open(usage).read().split()[-3:]
                rep = json.loads(r.stdout)
                rows.append({"scenario": scenario, "timeout": timeout, "exit_code": r.returncode,
                             "cpu_seconds": float(user) + float(system), "max_rss_mib": int(max_kib) / 1024,
                             "wall_seconds": wall, "verdict": rep["verdict"],
                             "first_finding": rep["findings"][0]["id"] if rep["findings"] else None})
            log(f"verdict {scenario}: {rows[-1]}")
    return rows


def summarize_verdict(rows):
    out = []
    for s in dict.fromkeys(r["scenario"] for r in rows):
        rs = [r for r in rows if r["scenario"] == s]
        out.append({"scenario": s, "timeout": rs[0]["timeout"], "runs": len(rs),
                    "wall_seconds": median(r["wall_seconds"] for r in rs),
                    "max_wall_seconds": max(r["wall_seconds"] for r in rs),
                    "cpu_seconds": median(r["cpu_seconds"] for r in rs),
                    "max_rss_mib": median(r["max_rss_mib"] for r in rs),
                    "verdict": rs[0]["verdict"], "first_finding": rs[0]["first_finding"],
                    "exit_codes": sorted({r["exit_code"] for r in rs})})
    return out


# --- report ------------------------------------------------------------------------------------

def fmt(x, nd=3, scale=1):
    return "—" if x is None else f"{x * scale:.{nd}f}"


class Row(dict):
    """A summary row; a field an older run did not record reads as None (shown as —)."""

    def __missing__(self, key):
        return None


def table(res):
    res = {**res, "summary": {b: [Row(r) for r in rows] for b, rows in res["summary"].items()}}
    L = []
    m = res["machine"]
    L.append(f"Run {res['date']} on {m['cpus']} CPUs ({m['cpu_model']}), kernel {m['kernel']}, "
             f"blackbox_exporter {m['blackbox']}; medians of {res['runs']} runs, fresh processes per run.")
    for b, date in res.get("carried", {}).items():
        L.append(f"The {b} table below is from the run of {date} (not run this time).")
    L.append("")
    cpu = res["summary"].get("cpu", [])
    if cpu:
        L.append("### CPU per probe, throughput, memory (same loopback targets, same run)")
        L.append("")
        L.append("| probe | concurrency | blackbox CPU ms/probe | pgw CPU ms/probe | ratio pgw/blackbox "
                 "| pgw-agent /probe chain ms/run | ratio chain/blackbox | blackbox probes/s | pgw probes/s "
                 "| blackbox peak RSS MiB | pgw peak RSS MiB |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        get = {(r["kind"], r["prober"], r["concurrency"]): r for r in cpu}
        for kind in ("https", "tcp", "dns"):
            for c in CONCURRENCY:
                bb, pg = get.get((kind, "blackbox", c)), get.get((kind, "pgw", c))
                ag = get.get(("chain", "pgw-agent", c)) if kind == "https" else None
                if not bb or not pg:
                    continue
                ratio = pg["cpu_ms_per_probe"] / bb["cpu_ms_per_probe"] if bb["cpu_ms_per_probe"] else None
                L.append(f"| {kind} | {c} | {fmt(bb['cpu_ms_per_probe'])} | {fmt(pg['cpu_ms_per_probe'])} "
                         f"| {fmt(ratio, 2)} | {fmt(ag['cpu_ms_per_probe']) if ag else ''} "
                         f"| {fmt(ag['cpu_ms_per_probe'] / bb['cpu_ms_per_probe'], 2) if ag else ''} "
                         f"| {fmt(bb['probes_per_second'], 0)} | {fmt(pg['probes_per_second'], 0)} "
                         f"| {fmt(bb['peak_rss_mib'], 1)} | {fmt(pg['peak_rss_mib'], 1)} |")
        L.append("")
    scale = res["summary"].get("scale", [])
    if scale:
        L.append("### pgw-agent at scale (2 addresses x 5 paths per probe file, 30 s interval)")
        L.append("")
        L.append("| targets | probe files | runs done / due in window | CPU % of one core | CPU ms per target probe | RSS MiB "
                 "| of which private (RssAnon) MiB | peak RSS MiB | /metrics scrape ms | extra RSS while scraped MiB "
                 "| 10 concurrent scrapes: ms, extra RSS MiB | /metrics size KiB | series |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in scale:
            L.append(f"| {r['targets']} | {r['probe_files']} | {fmt(r['runs'], 0)} / {fmt(r['runs_expected'], 0)} "
                     f"| {fmt(r['cpu_percent'], 2)} "
                     f"| {fmt(r['cpu_ms_per_target_probe'])} | {fmt(r['rss_mib'], 1)} "
                     f"| {fmt(r['anon_rss_mib'], 1)} | {fmt(r['peak_rss_mib'], 1)} | {fmt(r['scrape_seconds'], 1, 1000)} "
                     f"| {fmt(r['scrape_extra_rss_mib'], 1)} "
                     f"| {fmt(r['scrape10_seconds'], 1, 1000)}, {fmt(r['scrape10_extra_rss_mib'], 1)} "
                     f"| {fmt(r['scrape_bytes'] / 1024, 0)} | {int(r['series'])} |")
        by = {r["targets"]: r for r in scale}
        if 1000 in by and 10000 in by:
            per = (by[10000]["anon_rss_mib"] - by[1000]["anon_rss_mib"]) * 1024 / 9000
            L.append("")
            L.append(f"Private memory per target (RssAnon, 1 000 → 10 000 targets): {per:.2f} KiB.")
        L.append("")
    idle = res["summary"].get("idle", [])
    if idle:
        L.append("### pgw-agent idle: the lab's healthy chain probed every second")
        L.append("")
        L.append("| scenario | runs in window | CPU % of one core | CPU ms per run | RSS MiB "
                 "| of which private (RssAnon) MiB | peak RSS MiB |")
        L.append("| --- | --- | --- | --- | --- | --- | --- |")
        for r in idle:
            L.append(f"| {r['scenario']} | {int(r['runs'])} in {int(r['window_s'])} s | {fmt(r['cpu_percent'], 2)} "
                     f"| {fmt(r['cpu_ms_per_run'])} | {fmt(r['rss_mib'], 1)} | {fmt(r['anon_rss_mib'], 1)} "
                     f"| {fmt(r['peak_rss_mib'], 1)} |")
        L.append("")
    aws = res["summary"].get("aws", [])
    if aws:
        last = aws[-1]
        half = [r for r in aws if r["t_s"] >= last["t_s"] / 2]
        L.append(f"### pgw-agent with AWS reads: {last['probes']} probes of the lab's chain, each reading the "
                 f"control plane from moto, every 5 s")
        L.append("")
        L.append("| minute | RSS MiB | of which private (RssAnon) MiB | CPU s so far | runs so far | probes healthy | AWS API errors |")
        L.append("| --- | --- | --- | --- | --- | --- | --- |")
        step = 60 if last["t_s"] <= 15 * 60 else 300   # an hour's curve: a row every 5 minutes
        for r in aws:
            if r["t_s"] % step < 15 or r is last:
                L.append(f"| {r['t_s'] / 60:.1f} | {fmt(r['rss_mib'], 1)} | {fmt(r['anon_rss_mib'], 1)} "
                         f"| {fmt(r['cpu_seconds'], 1)} | {int(r['runs'])} | {int(r['healthy'])} | {int(r['aws_api_errors'])} |")
        L.append("")
        L.append(f"Second half of the window: RSS {min(r['rss_mib'] for r in half):.1f}–{max(r['rss_mib'] for r in half):.1f} MiB.")
        L.append("")
    acc = res["summary"].get("accuracy", [])
    if acc:
        L.append(f"### Timing accuracy (RTT {fmt(acc[0]['injected_rtt_ms'], 1)} ms added by the delay line)")
        L.append("")
        L.append("| tool | phase | without delay ms | with delay ms | added ms | error ms |")
        L.append("| --- | --- | --- | --- | --- | --- |")
        for r in acc:
            L.append(f"| {r['tool']} | {r['phase']} | {fmt(r['base_ms'])} | {fmt(r['with_delay_ms'])} "
                     f"| {fmt(r['added_ms'])} | {r['error_ms']:+.3f} |")
        L.append("")
    ver = res["summary"].get("verdict", [])
    if ver:
        L.append("### pgw-doctor time to verdict (lab)")
        L.append("")
        L.append("| scenario | --timeout | median s | max s | doctor CPU ms | doctor peak RSS MiB | verdict | first finding | exit |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in ver:
            L.append(f"| {r['scenario']} | {r['timeout']} | {fmt(r['wall_seconds'])} | {fmt(r['max_wall_seconds'])} "
                     f"| {fmt(r['cpu_seconds'], 0, 1000)} | {fmt(r['max_rss_mib'], 1)} "
                     f"| {r['verdict']} | {r['first_finding'] or '—'} | {','.join(map(str, r['exit_codes']))} |")
        L.append("")
    return "\n".join(L)


def machine():
    model = ""
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    bb = subprocess.run([BLACKBOX, "--version"], capture_output=True, text=True)
    ver = re.search(r"version (\S+)", bb.stdout + bb.stderr)
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "blackbox": ver.group(1) if ver else "?"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmarks", nargs="*", default=["cpu", "scale", "idle", "aws", "accuracy", "verdict"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=10, help="how long `aws` watches the agent")
    ap.add_argument("--quick", action="store_true", help="smoke run: small counts, short windows, 1 run")
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite bench/README.md")
    opt = ap.parse_args()
    if opt.quick:
        opt.runs = 1
    fns = {"cpu": (bench_cpu, summarize_cpu),
           "scale": (bench_scale, lambda rows: median_by(rows, "targets")),
           "idle": (bench_idle, lambda rows: median_by(rows, "scenario")),
           "accuracy": (bench_accuracy, summarize_accuracy),
           "verdict": (bench_verdict, summarize_verdict),
           "aws": (bench_aws, lambda rows: rows),
           "fleet": (bench_fleet, lambda rows: rows)}
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine(), "runs": opt.runs, "quick": opt.quick, "raw": {}, "summary": {}}
    with tempfile.TemporaryDirectory(prefix="pgw-bench-") as work:
        for b in opt.benchmarks:
            run, summarize = fns[b]
            log(f"== {b}")
            res["raw"][b] = run(opt, work)
            res["summary"][b] = summarize(res["raw"][b])
    if opt.benchmarks == ["fleet"]:
        text = fleet_table(res["raw"]["fleet"])
        print(text)
        os.makedirs(f"{HERE}/results", exist_ok=True)
        with open(f"{HERE}/results/{'fleet-quick' if opt.quick else 'fleet'}.json", "w") as f:
            json.dump(res, f, indent=1)
        if not opt.quick and not opt.no_readme:
            rewrite_readme("fleet", f"{res['date']}, {res['machine']['cpus']} CPUs ({res['machine']['cpu_model']}), runs: {opt.runs} (medians)\n\n" + text)
        return
    latest = f"{HERE}/results/latest.json"
    if not opt.quick and os.path.exists(latest):
        # Benchmarks not run this time keep their last table, and say when it was made.
        prev = json.load(open(latest))
        for b, summary in prev["summary"].items():
            if b not in res["summary"]:
                res["summary"][b] = summary
                res["raw"][b] = prev["raw"].get(b)
                res.setdefault("carried", {})[b] = prev.get("carried", {}).get(b, prev["date"])
    os.makedirs(f"{HERE}/results", exist_ok=True)
    name = "quick.json" if opt.quick else "latest.json"
    with open(f"{HERE}/results/{name}", "w") as f:
        json.dump(res, f, indent=1)
    text = table(res)
    print(text)
    if not opt.quick and not opt.no_readme:
        rewrite_readme("results", text)


def rewrite_readme(section, text):
    """Replace what stands between `<!-- {section}:start -->` and `<!-- {section}:end -->` in
    bench/README.md with `text`."""
    readme = f"{HERE}/README.md"
    src = open(readme).read()
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    i, j = src.index(start) + len(start), src.index(end)
    open(readme, "w").write(src[:i] + "\n" + text + "\n" + src[j:])


if __name__ == "__main__":
    main()
