"""Turns the raw results of tests/bench/run.sh into the markdown table of BENCHMARKS.md."""
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

out, binary, wasm_gz, build_s, total_s, secs, conns = sys.argv[1:8]


def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def read(name):
    with open(os.path.join(out, name)) as f:
        return f.read().strip()


def dd_rate(name):
    """(MB/s, seconds) from dd's summary line."""
    text = read(name)
    m = re.search(r"copied, ([\d.]+) s, ([\d.]+) ([kMG]B)/s", text)
    if not m:
        return None
    scale = {"kB": 1e-3, "MB": 1, "GB": 1e3}[m.group(3)]
    return float(m.group(2)) * scale, float(m.group(1))


SIGNALS = ("traces", "logs", "metrics")
runs = {s: load(f"{s}.json") for s in SIGNALS}
static = {s: load(f"{s}-static.json") for s in SIGNALS}
sink = {s: load(f"{s}-sink.json") for s in SIGNALS}
rss = {s: load(f"{s}.rss.json") for s in SIGNALS + ("overload",)}
static_rss = {s: load(f"{s}-static.rss.json") for s in SIGNALS}
sink_rss = {s: load(f"{s}-sink.rss.json") for s in SIGNALS}


def cpu_us(run, usage, unit="accepted_items"):
    """Server CPU (user + system) per acknowledged item, or per Prometheus sample, in µs."""
    count = run[unit] if unit == "accepted_items" else run["samples_per_second"] * run["seconds"]
    return usage["cpu_seconds"] * 1e6 / count if count else float("nan")
overload = load("overload.json")
dumps = {s: load(f"{s}.dump.json") for s in ("traces", "logs", "metrics")}
http = load("traces-http.json")
http_rss = load("traces-http.rss.json")
startup = load("startup.json")
zstd19 = {s: int(read(f"{s}.zstd19.bytes")) for s in dumps}
zstd3 = {s: int(read(f"{s}.zstd3.bytes")) for s in dumps}
zb3 = read("zstd-b3.txt")
m = re.search(r"([\d.]+) MB/s.*?([\d.]+) MB/s", zb3)
zstd_speed = f"zstd -3 compresses this OTLP at {m.group(1)} MB/s, decompresses at {m.group(2)} MB/s (one core)" if m else zb3
dsync = dd_rate("dd-dsync.txt")
seq = dd_rate("dd-seq.txt")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip()


def per_item(signal, nbytes, unit="items"):
    return nbytes / dumps[signal][unit]


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


t, l, mt = runs["traces"], runs["logs"], runs["metrics"]
raw = {s: per_item(s, dumps[s]["bytes"]) for s in dumps}
rows = [
    ("ingest spans/s (gRPC, durable)", fmt(t["items_per_second"]), "200,000",
     f"OTel Collector ~10-15k/core; OTLP/HTTP here: {fmt(http['items_per_second'])}/s"),
    ("ingest log records/s", fmt(l["items_per_second"]), "300,000", ""),
    ("ingest metric data points/s", fmt(mt["items_per_second"]), "-",
     f"= {fmt(mt['samples_per_second'])} Prometheus samples/s"),
    ("ingest samples/s (Prometheus samples)", fmt(mt["samples_per_second"]), "1,500,000",
     "VictoriaMetrics ~1.4M/s on 2 cores"),
    ("server CPU per span (glibc / static)",
     f"{cpu_us(t, rss['traces']):.2f} / {cpu_us(static['traces'], static_rss['traces']):.2f} µs", "<= 4 µs",
     f"decode-and-discard receiver: {cpu_us(sink['traces'], sink_rss['traces']):.2f} µs; "
     f"same build over OTLP/HTTP: {cpu_us(http, http_rss):.2f} µs"),
    ("server CPU per log record (glibc / static)",
     f"{cpu_us(l, rss['logs']):.2f} / {cpu_us(static['logs'], static_rss['logs']):.2f} µs", "<= 2.5 µs",
     f"decode-and-discard receiver: {cpu_us(sink['logs'], sink_rss['logs']):.2f} µs"),
    ("server CPU per Prometheus sample (glibc / static)",
     f"{cpu_us(mt, rss['metrics'], 's'):.3f} / {cpu_us(static['metrics'], static_rss['metrics'], 's'):.3f} µs", "<= 0.7 µs",
     f"decode-and-discard receiver: {cpu_us(sink['metrics'], sink_rss['metrics'], 's'):.3f} µs"),
    ("static binary's rate / glibc build's (spans, logs, samples)",
     " / ".join(f"{static[s]['items_per_second'] / runs[s]['items_per_second']:.2f}" for s in SIGNALS), ">= 0.9",
     "same client, same run: " + ", ".join(f"{fmt(static[s]['items_per_second'])} {s}/s" for s in SIGNALS)),
    ("rate / decode-and-discard receiver's (spans, logs, samples)",
     " / ".join(f"{runs[s]['items_per_second'] / sink[s]['items_per_second']:.2f}" for s in SIGNALS), "-",
     "the receiver: " + ", ".join(f"{fmt(sink[s]['items_per_second'])} {s}/s" for s in SIGNALS)),
    ("request latency p50 / p99 (spans)", f"{t['latency_p50_ms']:.1f} / {t['latency_p99_ms']:.1f} ms", "-",
     f"{t['retries']} busy answers retried"),
    ("disk bytes per span", fmt(t["server"]["bytes_per_item"], 1), "<= 25",
     f"raw OTLP {raw['traces']:.0f}; zstd -3 {per_item('traces', zstd3['traces']):.1f}; zstd -19 {per_item('traces', zstd19['traces']):.1f}; ClickHouse ~63, DuckDB ~92, Aspire SQLite ~2,900"),
    ("disk bytes per log record", fmt(l["server"]["bytes_per_item"], 1), "<= 22",
     f"raw OTLP {raw['logs']:.0f}; zstd -3 {per_item('logs', zstd3['logs']):.1f}; zstd -19 {per_item('logs', zstd19['logs']):.1f}; ClickHouse ~50"),
    ("disk bytes per Prometheus sample", fmt(mt["server"]["bytes_per_sample"], 2), "<= 1",
     f"per data point {mt['server']['bytes_per_item']:.1f}; zstd -19 {per_item('metrics', zstd19['metrics'], 'samples'):.2f}/sample; Prometheus 2.4-2.7, VictoriaMetrics 1.3-1.4"),
    ("startup to ready (median of 7)", f"{startup['median_ms']:.0f} ms", "< 200 ms", "Grafana otel-lgtm ~30 s"),
    ("idle RSS", f"{rss['traces']['idle_rss_kib'] / 1024:.1f} MB", "< 50 MB", ""),
    ("peak RSS under load (traces / logs / metrics)",
     " / ".join(f"{rss[s]['peak_rss_kib'] / 1024:.0f}" for s in ("traces", "logs", "metrics")) + " MB",
     "bounded", "--max-memory 128 MiB, ingest queue 256 MiB (defaults)"),
    ("peak RSS under overload (64 connections, 2 MiB ingest queue)",
     f"{rss['overload']['peak_rss_kib'] / 1024:.0f} MB", "bounded",
     f"{overload['retries']} busy answers retried, {overload['failed_requests']} failed, "
     f"{fmt(overload['items_per_second'])} spans/s, lost {overload['server']['lost']}"),
    ("binary size", f"{int(binary) / 1e6:.1f} MB", "< 25 MB", ""),
    ("UI wasm, gzip -9", f"{int(wasm_gz) / 1e6:.2f} MB" if int(wasm_gz) else "not built", "<= 1 MB", ""),
]

print(f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}{' + local changes' if dirty else ''}, "
      f"{os.cpu_count()} cores, `bash tests/bench/run.sh {secs}` ({secs} s per workload, {conns} connections; "
      f"build {build_s} s, whole run {total_s} s).")
print()
print("| measure | otelite | target | reference points |")
print("|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")
print()
print("Machine limits measured in the same run:")
print(f"- {zstd_speed}.")
print(f"- how hard the trace workload is: `zstd -19` of its protobuf takes {per_item('traces', zstd19['traces']):.1f} B/span "
      f"(OTel-demo-like SDK output: ~38; `otelite loadgen --reference` measures it alone).")
if dsync:
    print(f"- disk: 64 KiB writes each followed by fsync (dd oflag=dsync): {dsync[0]:.1f} MB/s = {500 / dsync[1]:,.0f} durable writes/s; "
          f"sequential 512 MiB + fsync: {seq[0]:.0f} MB/s." if seq else "")
for s in ("traces", "logs", "metrics"):
    r = runs[s]
    print(f"- {s}: {r['accepted_items']:,} items in {r['requests']:,} requests ({r['mean_request_bytes']:,} B each), "
          f"{r['retries']} retries, {r['failed_requests']} failed, lost {r['server']['lost']}; "
          f"latency p50 {r['latency_p50_ms']:.1f} ms, p99 {r['latency_p99_ms']:.1f} ms.")
