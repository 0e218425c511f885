"""Where a ``hub serve`` process spends its time under load: py-spy over one scenario of ``bench/run.py``.

Run with ``.venv/bin/python bench/profile_server.py [--database sqlite|postgres] [--scenario bookings]``.
It starts the server and the data exactly as ``bench/run.py`` does, drives the scenario with the
same load generator, samples the server with ``py-spy record`` (``pip install py-spy`` into the
virtual environment first) and prints the top functions by own time and by inclusive time, and
the inclusive time of Hub's own functions. With ``--gil`` (the default) only the thread holding
the GIL is sampled, so the shares add up to the one interpreter the process runs on.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from run import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    availability_params,
    drive,
    hub_server,
    postgres_database,
    purge_outbox_jobs,
    set_up,
)

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")
_SITE = re.compile(r".*/(site-packages|lib/python3\.\d+)/")


def _frame_name(frame: str) -> str:
    """``function (path/to/module.py:12)`` -> ``function (module/path.py)`` without the line."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = _SITE.sub("", match.group("file"))
    path = path.split("/work/main/", 1)[-1]
    return f"{match.group('function')} ({path})"


def summarise(raw: Path, top: int) -> None:
    """Print own and inclusive shares per function from py-spy's collapsed-stack output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        print("no samples")
        return
    print(f"\n{total} samples")
    print(f"\n-- top {top} by own time --")
    for name, count in own.most_common(top):
        print(f"{100.0 * count / total:6.1f}%  {name}")
    print(f"\n-- top {top} by inclusive time --")
    for name, count in inclusive.most_common(top):
        print(f"{100.0 * count / total:6.1f}%  {name}")
    print("\n-- Hub's functions by inclusive time --")
    hub_frames = [(name, count) for name, count in inclusive.most_common() if "(hub/" in name]
    for name, count in hub_frames[:top]:
        print(f"{100.0 * count / total:6.1f}%  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--scenario", choices=["health", "bookings", "availability"], default="bookings")
    parser.add_argument("--seconds", type=float, default=8.0, help="sampling time")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--all-threads", action="store_true", help="sample every running thread, not only the GIL")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="also save the collapsed stacks here (for flamegraph tools)")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="hub-profile-") as tmp:
        env: dict[str, str] = {}
        if args.database == "postgres":
            env["HUB_DATABASE_URL"] = stack.enter_context(postgres_database(DEFAULT_POSTGRES_URL))
            env["HUB_REDIS_URL"] = DEFAULT_REDIS_URL
            stack.callback(purge_outbox_jobs, DEFAULT_REDIS_URL, env["HUB_DATABASE_URL"])
        server = stack.enter_context(hub_server(env))
        fixture = set_up(server)
        raw = Path(tmp) / "stacks.txt"
        command = [
            py_spy,
            "record",
            "-p",
            str(server.process.pid),
            "-r",
            str(args.rate),
            "-d",
            str(max(1, round(args.seconds))),
        ]
        command += ["-f", "raw", "-o", str(raw), "--nonblocking"]
        if not args.all_threads:
            command.append("--gil")
        spec: dict[str, Any] = {
            "scenario": args.scenario,
            "concurrency": args.concurrency,
            "warmup": 0.5,
            "duration": args.seconds + 1.0,
            "api_key": fixture.api_key,
            "host_id": fixture.free_host,
            "run_id": "profile",
            "slot_base": int(fixture.window_start.timestamp()),
            **availability_params(fixture),
        }
        spec["user_id"] = fixture.busy_host
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            result = drive(server, spec)
        finally:
            try:
                _, errors = sampler.communicate(timeout=args.seconds + 30)
            except subprocess.TimeoutExpired:
                sampler.kill()
                _, errors = sampler.communicate()
        print(
            f"{args.database} {args.scenario}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, errors {result.errors}, server CPU {result.server_cpu_pct:.0f}% "
            f"({result.server_cpu_ms:.2f} ms/request)"
        )
        if not raw.exists():
            print(f"py-spy wrote nothing:\n{errors}")
            return 1
        if args.keep:
            shutil.copyfile(raw, args.keep)
        summarise(raw, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
