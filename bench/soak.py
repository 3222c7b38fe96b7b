#!/usr/bin/env python3
"""The soak with faults: the release pgw-agent watching 1 000 targets for --minutes, against lab
chains whose faults flap, while a client scrapes /metrics every second and hits /probe and
/-/reload. Run twice: data plane only, then with AWS reads on every probe (each lab with its moto;
one probe in ten reads from an AWS endpoint that refuses, one in ten from one that never answers).

Started by `bench/run.sh soak` (release build first); Python standard library only. Loopback only.
Records RSS and fd count every 10 s and, per fault switch, the time until every probe of that lab
showed it raised (the fault's finding id on every probe) or cleared (no finding on any probe).
Results: bench/results/soak.json, bench/results/soak.png, and the section between the soak
markers in bench/README.md.
"""

import argparse
import collections
import datetime
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the helpers: Procs, wait_http, probe_file_from_args, bench_bin)

# Loopback only: no process started here may ask EC2's instance metadata (169.254.169.254).
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

HERE = bench.HERE
LISTEN = bench.AGENT_LISTEN
INTERVAL = 5  # seconds, every probe
TIMEOUT = "4s"  # deadline of one run
CP_INTERVAL = "30s"  # control-plane re-read, AWS mode
TARGETS = 1000  # address x path: each lab chain has 2 ENIs x 2 paths
# The flapping labs (bench/src/flap.rs) and the finding each fault must raise.
EXPECT = {"syn_drop": "vpce_eni_unreachable", "backend_timeout": "integration_timeout",
          "policy_deny": "resource_policy_denies_vpce", "dns_servfail": "dns_resolver_failure"}
LABS = ["none"] + list(EXPECT)
FINDING = re.compile(r'^pgw_finding\{probe="([^"]*)",id="([^"]*)",')
RUNS = re.compile(r'^pgw_probe_runs_total\{probe="[^"]*",result="([^"]*)"\} (\S+)')


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def proc_sample(pid):
    status = open(f"/proc/{pid}/status").read()

    def num(key):
        return int(re.search(rf"^{key}:\s+(\d+)", status, re.M).group(1))
    return {"rss_mib": num("VmRSS") / 1024, "anon_mib": num("RssAnon") / 1024,
            "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": num("Threads")}


def with_arg(args, flag, value):
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def start_flap(ps, d, aws, seed):
    err = open(f"{d}/flap.log", "w")
    p = ps.start([bench.bench_bin("pgw-bench"), "flap", "--seed", str(seed)] + (["--control-plane"] if aws else []),
                 stdout=subprocess.PIPE, stderr=err, text=True)
    labs, env = {}, {}
    for ln in p.stdout:
        o = json.loads(ln)
        if o == "ready":
            break
        labs[o["lab"]] = o["args"]
        env.update(o["env"])
    else:
        raise SystemExit(f"pgw-bench flap exited before ready; see {d}/flap.log")
    events = []
    threading.Thread(target=lambda: events.extend(json.loads(ln) for ln in p.stdout), daemon=True).start()
    return labs, env, events


def write_probes(d, labs, aws):
    """One probe file per chain (4 targets), spread over the labs; returns {probe: lab}."""
    os.makedirs(f"{d}/probes", exist_ok=True)
    # AWS endpoints that fail: a closed port (refused) and a full backlog-0 listener (silent).
    closed = socket.socket()
    closed.bind(("127.201.0.30", 0))
    refused = f"http://127.201.0.30:{closed.getsockname()[1]}"
    closed.close()
    hole = socket.socket()
    hole.bind(("127.201.0.31", 0))
    hole.listen(0)
    filler = socket.create_connection(hole.getsockname(), timeout=2)
    silent = f"http://127.201.0.31:{hole.getsockname()[1]}"
    probes = {}
    for i in range(TARGETS // 4):
        lab = LABS[i % len(LABS)]
        name = f"{lab}-{i:03d}"
        args = with_arg(labs[lab], "--timeout", TIMEOUT)
        extra = []
        if aws:
            extra.append(f'control_plane_interval = "{CP_INTERVAL}"')
            kind = (i // len(LABS)) % 10
            if kind == 3:
                args = with_arg(args, "--aws-endpoint-url", refused)
            elif kind == 7:
                args = with_arg(args, "--aws-endpoint-url", silent)
        bench.probe_file_from_args(f"{d}/probes/{name}.toml", name, args, f"{INTERVAL}s", extra)
        probes[name] = lab
    return probes, (hole, filler)


def fire(url, method, codes, timeout):
    """One request in the background; the answer's status (or how it failed) is counted."""
    def go():
        try:
            req = urllib.request.Request(url, method=method)
            with urllib.request.urlopen(req, timeout=timeout) as r:
                r.read()
                codes[str(r.status)] += 1
        except urllib.error.HTTPError as e:
            codes[str(e.code)] += 1
        except (OSError, TimeoutError):
            codes["abandoned"] += 1
    threading.Thread(target=go, daemon=True).start()


def soak_once(opt, work, aws):
    mode = "aws" if aws else "data_plane"
    d = f"{work}/soak-{mode}"
    os.makedirs(d, exist_ok=True)
    rng = random.Random(opt.seed)
    with bench.Procs() as ps:
        labs, env, events = start_flap(ps, d, aws, opt.seed)
        probes, _keep = write_probes(d, labs, aws)
        agent_log = open(f"{d}/agent.log", "w")
        ag = ps.start([bench.bench_bin("pgw-agent"), "--probes", f"{d}/probes", "--listen", LISTEN,
                       "--max-concurrent", "128"],
                      stdout=agent_log, stderr=subprocess.STDOUT, env=os.environ | env)
        bench.wait_http(f"http://{LISTEN}/healthz", ag, "pgw-agent")
        start = time.time()
        end = start + opt.minutes * 60
        samples, scrapes, timeline = [], [], []
        probe_codes, reload_codes = collections.Counter(), collections.Counter()
        tick = 0
        while time.time() < end:
            t = time.time()
            try:
                t0 = time.perf_counter()
                body = bench.http_get(f"http://{LISTEN}/metrics", timeout=10).decode()
                scrapes.append((t - start, time.perf_counter() - t0))
            except OSError as e:
                scrapes.append((t - start, None))
                log(f"soak {mode}: scrape failed: {e}")
                body = ""
            seen = collections.defaultdict(set)
            for ln in body.splitlines():
                m = FINDING.match(ln)
                if m:
                    seen[m.group(1)].add(m.group(2))
            timeline.append((t, dict(seen)))
            if tick % 10 == 0:
                samples.append({"t": t - start, **proc_sample(ag.pid)})
            if tick % 3 == 0:  # a client that gives up after 0.5 s, on a random probe
                fire(f"http://{LISTEN}/probe?target={rng.choice(list(probes))}", "GET", probe_codes, 0.5)
            if tick % 60 == 30:  # a probe file changes, then the reload
                name = rng.choice(list(probes))
                os.utime(f"{d}/probes/{name}.toml")
                fire(f"http://{LISTEN}/-/reload", "POST", reload_codes, 10)
            if tick % 60 == 0:
                s = samples[-1]
                log(f"soak {mode} {int(t - start)} s: RSS {s['rss_mib']:.1f} MiB, fds {s['fds']}, "
                    f"{len(events)} switches")
            tick += 1
            time.sleep(max(0.0, start + tick - time.time()))
        final = bench.http_get(f"http://{LISTEN}/metrics").decode()
        t0 = time.monotonic()
        ag.send_signal(signal.SIGTERM)
        rc = ag.wait(timeout=60)
        stop_s = time.monotonic() - t0
    runs = collections.Counter()
    for ln in final.splitlines():
        m = RUNS.match(ln)
        if m:
            runs[m.group(1)] += float(m.group(2))
    text = open(f"{d}/agent.log").read()
    return {"mode": mode, "minutes": opt.minutes, "targets": TARGETS, "probe_files": len(probes),
            "interval_s": INTERVAL, "start": start, "samples": samples, "scrapes": scrapes,
            "switches": judge(events, timeline, probes, start, end),
            "healthy_lab_findings": healthy_noise(timeline, probes),
            "probe_codes": dict(probe_codes), "reload_codes": dict(reload_codes),
            "runs_by_result": dict(runs), "exit_code": rc, "stop_seconds": stop_s,
            "panics": text.count("panicked"), "warnings": text.count(" WARN ")}


def judge(events, timeline, probes, start, end):
    """Per switch: seconds until every probe of the lab showed it (raised / cleared)."""
    members = collections.defaultdict(list)
    for p, lab in probes.items():
        members[lab].append(p)
    out = []
    for i, e in enumerate(events):
        lab, on, t = e["lab"], e["fault"], e["t"]
        nxt = next((x["t"] for x in events[i + 1:] if x["lab"] == lab), end)
        want = EXPECT[lab]

        def done(seen):
            return all((want in seen.get(p, ())) if on else not seen.get(p) for p in members[lab])
        hit = next((st for st, seen in timeline if t <= st < nxt and done(seen)), None)
        row = {"lab": lab, "fault": on, "at_s": t - start, "period_s": nxt - t}
        if hit is not None:
            row["seconds"] = hit - t
        elif nxt >= end and end - t < 2 * INTERVAL + 2:
            row["unjudged"] = True  # the run ended first
        else:
            last = [seen for st, seen in timeline if t <= st < nxt][-1:] or [{}]
            row["seen_at_end"] = collections.Counter(i for p in members[lab] for i in last[0].get(p, ()))
        out.append(row)
    return out


def healthy_noise(timeline, probes):
    ids = collections.Counter()
    scrapes = 0
    for _, seen in timeline:
        bad = [i for p, s in seen.items() if probes.get(p) == "none" for i in s]
        scrapes += bool(bad)
        ids.update(bad)
    return {"scrapes_with_findings": scrapes, "ids": dict(ids)}


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


# Warm-up: every fault has switched at least once (switches come every 20-60 s).
WARM_S = 120


def summarize(r):
    early = [s for s in r["samples"] if s["t"] >= 30]
    warm = [s for s in r["samples"] if s["t"] >= WARM_S]
    sw = [x for x in r["switches"] if not x.get("unjudged")]
    lat = [x["seconds"] for x in sw if "seconds" in x]
    scr = [s for _, s in r["scrapes"] if s is not None]
    return {
        "mode": r["mode"], "minutes": r["minutes"], "targets": r["targets"],
        "rss_30s_mib": early[0]["rss_mib"] if early else None,
        "rss_warm_mib": warm[0]["rss_mib"] if warm else None,
        "rss_end_mib": warm[-1]["rss_mib"] if warm else None,
        "rss_max_mib": max(s["rss_mib"] for s in warm) if warm else None,
        "rss_growth_pct": 100 * (warm[-1]["rss_mib"] / warm[0]["rss_mib"] - 1) if warm else None,
        "anon_warm_mib": warm[0]["anon_mib"] if warm else None,
        "anon_end_mib": warm[-1]["anon_mib"] if warm else None,
        "fds_min": min(s["fds"] for s in warm) if warm else None,
        "fds_max": max(s["fds"] for s in warm) if warm else None,
        "fds_end": warm[-1]["fds"] if warm else None,
        "scrapes": len(r["scrapes"]), "scrapes_failed": sum(1 for _, s in r["scrapes"] if s is None),
        "scrape_p50_ms": 1000 * statistics.median(scr) if scr else None,
        "scrape_p99_ms": 1000 * pct(scr, 0.99) if scr else None,
        "scrape_max_ms": 1000 * max(scr) if scr else None,
        "scrapes_over_100ms": sum(1 for s in scr if s > 0.1),
        "switches": len(sw), "switches_seen": len(lat),
        "switches_within_2_intervals": sum(1 for x in lat if x <= 2 * INTERVAL),
        "latency_p50_s": statistics.median(lat) if lat else None, "latency_max_s": max(lat) if lat else None,
        "missed": [x for x in sw if "seconds" not in x],
        "healthy_lab_findings": r["healthy_lab_findings"],
        "runs_by_result": r["runs_by_result"], "probe_codes": r["probe_codes"],
        "reload_codes": r["reload_codes"], "exit_code": r["exit_code"],
        "stop_seconds": r["stop_seconds"], "panics": r["panics"], "warnings": r["warnings"],
    }


def fmt(x, nd=1):
    return "—" if x is None else f"{x:.{nd}f}"


def table(res):
    L = [f"Run {res['date']} on {res['machine']['cpus']} CPUs ({res['machine']['cpu_model']}), "
         f"{res['minutes']} minutes per mode, {TARGETS} targets ({TARGETS // 4} chains x 2 ENIs x 2 paths), "
         f"{INTERVAL} s interval, `--max-concurrent 128`.", "",
         f"| mode | RSS after 30 s MiB | RSS after {WARM_S // 60} min MiB | RSS end MiB | RSS max MiB "
         f"| growth after {WARM_S // 60} min | private (RssAnon) MiB {WARM_S // 60} min → end "
         "| fds min–max | scrape p50 / p99 / max ms | scrapes > 100 ms | switches seen in ≤ 2 intervals "
         "| latency p50 / max s | healthy lab: scrapes with a finding | runs ok / failed / error / skipped "
         "| /probe answers | reloads | panics | exit, stop s |",
         "| --- " * 18 + "|"]
    for s in res["summary"]:
        runs = s["runs_by_result"]
        L.append(
            f"| {s['mode']} | {fmt(s['rss_30s_mib'])} | {fmt(s['rss_warm_mib'])} | {fmt(s['rss_end_mib'])} "
            f"| {fmt(s['rss_max_mib'])} "
            f"| {fmt(s['rss_growth_pct'])} % | {fmt(s['anon_warm_mib'])} → {fmt(s['anon_end_mib'])} "
            f"| {s['fds_min']}–{s['fds_max']} "
            f"| {fmt(s['scrape_p50_ms'])} / {fmt(s['scrape_p99_ms'])} / {fmt(s['scrape_max_ms'])} "
            f"| {s['scrapes_over_100ms']} of {s['scrapes']} "
            f"| {s['switches_within_2_intervals']} of {s['switches']} "
            f"| {fmt(s['latency_p50_s'])} / {fmt(s['latency_max_s'])} "
            f"| {s['healthy_lab_findings']['scrapes_with_findings']} "
            f"| {int(runs.get('ok', 0))} / {int(runs.get('failed', 0))} / {int(runs.get('error', 0))} "
            f"/ {int(runs.get('skipped', 0))} "
            f"| {', '.join(f'{k}: {v}' for k, v in sorted(s['probe_codes'].items()))} "
            f"| {', '.join(f'{k}: {v}' for k, v in sorted(s['reload_codes'].items()))} "
            f"| {s['panics']} | {s['exit_code']}, {fmt(s['stop_seconds'])} |")
    L.append("")
    for s in res["summary"]:
        for m in s["missed"]:
            seen = ", ".join(f"{k} ×{v}" for k, v in m.get("seen_at_end", {}).items()) or "no finding"
            L.append(f"- {s['mode']}: `{m['lab']}` switched {'on' if m['fault'] else 'off'} at "
                     f"{m['at_s']:.0f} s, not seen on every probe within its {m['period_s']:.0f} s period "
                     f"(at its end: {seen}).")
        ids = s["healthy_lab_findings"]["ids"]
        if ids:
            L.append(f"- {s['mode']}: findings on the healthy lab's probes: "
                     + ", ".join(f"`{k}` ×{v}" for k, v in ids.items()) + ".")
    return "\n".join(L)


def plot(raw, path):
    """RSS and fds over time for each mode: an SVG drawn here, a PNG by headless Chromium."""
    w, h, pad = 900, 520, 60
    colors = {"data_plane": "#1f77b4", "aws": "#d62728"}
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="13"><rect width="{w}" height="{h}" fill="white"/>']
    panels = [("rss_mib", "RSS MiB", 0), ("fds", "open fds", 1)]
    tmax = max((s["t"] for r in raw for s in r["samples"]), default=1) or 1
    ph = (h - 3 * pad) / 2
    for key, label, k in panels:
        y0 = pad + k * (ph + pad)
        vmax = max((s[key] for r in raw for s in r["samples"]), default=1) * 1.15 or 1
        svg.append(f'<rect x="{pad}" y="{y0}" width="{w - 2 * pad}" height="{ph}" fill="none" stroke="#999"/>')
        svg.append(f'<text x="{pad}" y="{y0 - 8}">{label}</text>')
        for f in (0, 0.5, 1):
            yy = y0 + ph - f * ph
            svg.append(f'<text x="{pad - 8}" y="{yy + 4}" text-anchor="end">{vmax * f:.0f}</text>')
        for m in range(0, int(tmax / 60) + 1):
            xx = pad + (w - 2 * pad) * m * 60 / tmax
            svg.append(f'<text x="{xx}" y="{y0 + ph + 16}" text-anchor="middle">{m}</text>')
        for r in raw:
            pts = " ".join(f"{pad + (w - 2 * pad) * s['t'] / tmax:.1f},{y0 + ph - ph * s[key] / vmax:.1f}"
                           for s in r["samples"])
            svg.append(f'<polyline points="{pts}" fill="none" stroke="{colors[r["mode"]]}" stroke-width="2"/>')
    svg.append(f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">minutes</text>')
    for i, mode in enumerate(colors):
        svg.append(f'<text x="{w - pad - 220 + i * 120}" y="{pad - 8}" fill="{colors[mode]}">{mode}</text>')
    svg.append("</svg>")
    with tempfile.TemporaryDirectory() as t:
        with open(f"{t}/soak.svg", "w") as f:
            f.write("\n".join(svg))
        r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--screenshot={path}", f"--window-size={w},{h}", f"file://{t}/soak.svg"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log(f"soak: no PNG (chromium: {r.stderr.strip()[:200]})")


def machine():
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": os.uname().release}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--modes", nargs="*", default=["data_plane", "aws"])
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite bench/README.md")
    opt = ap.parse_args()
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine(), "minutes": opt.minutes, "raw": [], "summary": []}
    with tempfile.TemporaryDirectory(prefix="pgw-soak-") as work:
        for mode in opt.modes:
            log(f"== soak {mode}, {opt.minutes} minutes")
            r = soak_once(opt, work, mode == "aws")
            res["raw"].append(r)
            res["summary"].append(summarize(r))
            log(json.dumps(res["summary"][-1], default=str))
    text = table(res)
    print(text)
    os.makedirs(f"{HERE}/results", exist_ok=True)
    with open(f"{HERE}/results/soak.json", "w") as f:
        json.dump(res, f, indent=1, default=str)
    plot(res["raw"], f"{HERE}/results/soak.png")
    if not opt.no_readme:
        bench.rewrite_readme("soak", text)


if __name__ == "__main__":
    main()
