"""Benchmark of GET on the Atom feed from the web process, next to a plain static file server.

In one run, against the same ``atom.xml`` (the bundled content, published into a fresh SQLite
store): ``publisher serve`` (uvicorn, one process) answering a full GET, the same GET with
``If-None-Match`` (a 304), and Python's ``http.server`` serving the exported file from
``public/``. The load comes from ``wrk`` (Debian package ``wrk``) in a process of its own.
Prints requests per second and latency; writes ``bench/results/web.json``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from bench_digest import free_port  # noqa: E402

DEFAULT_OUT = PROJECT / "bench" / "results" / "web.json"


def wait_until_up(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own loopback)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def wrk(url: str, args: argparse.Namespace, header: str = "") -> dict[str, Any]:
    """Requests per second and latency of one wrk run."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s"]
    command += ["--latency", url]
    if header:
        command[1:1] = ["-H", header]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": rate,
        "p50": p50,
        "p99": p99,
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run (10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    publisher = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    scratch_parent = PROJECT / "bench" / "results"
    scratch_parent.mkdir(parents=True, exist_ok=True)  # git-ignored: absent from a fresh clone
    with tempfile.TemporaryDirectory(dir=scratch_parent) as scratch:
        root = Path(scratch) / "site"
        shutil.copytree(PROJECT / "config", root / "config")
        shutil.copytree(PROJECT / "content", root / "content")
        env = {**os.environ, "PUBLISHER_CONTENT__SETTLE_SECONDS": "0"}
        subprocess.run(
            [*publisher, "--root", str(root), "publish"], env=env, check=True, capture_output=True
        )
        app_port, static_port = free_port(), free_port()
        app = subprocess.Popen(
            [*publisher, "--root", str(root), "serve", "--port", str(app_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        static = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(static_port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(root / "public"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            app_url = f"http://127.0.0.1:{app_port}/atom.xml"
            static_url = f"http://127.0.0.1:{static_port}/atom.xml"
            wait_until_up(app_url)
            wait_until_up(static_url)
            with urllib.request.urlopen(app_url) as response:
                etag, size = response.headers["ETag"], len(response.read())
            results = {
                "publisher GET": wrk(app_url, args),
                "publisher GET, If-None-Match (304)": wrk(app_url, args, f"If-None-Match: {etag}"),
                "http.server GET (static file)": wrk(static_url, args),
            }
        finally:
            for process in (app, static):
                process.terminate()
                process.wait(10)
    load = f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s"
    print(f"GET /atom.xml ({size:,} bytes), {load}")
    print(f"  {'server':<36}  {'requests/s':>10}  {'p50':>8}  {'p99':>8}")
    for name, figures in results.items():
        rate, p50, p99 = figures["requests_per_s"], figures["p50"], figures["p99"]
        print(f"  {name:<36}  {rate:>10,.0f}  {p50:>8}  {p99:>8}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "web",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "feed_bytes": size,
        "wrk": {"threads": args.threads, "connections": args.connections, "seconds": args.seconds},
        "results": results,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
