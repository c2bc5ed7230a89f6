"""Latency statistics, one definition for bench, the end-to-end benchmark and the camera summary; and the busy vs
waiting time of each thread of a loop (Linux: ``/proc/self/task``)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np


def latency_stats(seconds, digits: int | None = None) -> dict:
    """Times in seconds -> milliseconds: mean, std, min, p50, p90, p99 and the count (``digits``: rounded)."""
    a = np.asarray(list(seconds), dtype=np.float64) * 1e3
    if a.size == 0:
        return {"mean": None, "std": None, "min": None, "p50": None, "p90": None, "p99": None, "n": 0}
    out = {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
           "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99))}
    if digits is not None:
        out = {k: round(v, digits) for k, v in out.items()}
    return {**out, "n": int(a.size)}


# ---------------------------------------------------------------------------------------------- busy vs waiting
TASKS = Path("/proc/self/task")  # one folder per OS thread of this process (Linux)


def thread_cpu_seconds() -> dict[int, tuple[str, float]] | None:
    """CPU seconds (user + system) of each OS thread of this process, by thread id, with its name (a Python
    thread's own, else the kernel's ``comm``); None where ``/proc/self/task`` is absent (not Linux)."""
    if not TASKS.is_dir():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    named = {t.native_id: t.name for t in threading.enumerate() if getattr(t, "native_id", None) is not None}
    try:
        process = (TASKS.parent / "comm").read_text().strip()  # the name a native thread keeps unless it names itself
    except OSError:
        process = None
    out = {}
    for task in TASKS.iterdir():
        try:
            stat, comm = (task / "stat").read_text(), (task / "comm").read_text().strip()
        except OSError:  # the thread ended while the folder was listed
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3, utime 14, stime 15
        tid = int(task.name)
        name = named.get(tid) or (f"{comm} (unnamed native)" if comm == process else comm)
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


class ThreadClock:
    """Busy (on a CPU) against waiting time per thread between ``start()`` and ``stop()``, threads sharing a name
    grouped (a runtime's pool); and the process's CPU seconds against the wall time: how many cores were busy."""

    def __init__(self):
        self.start()

    def start(self) -> "ThreadClock":
        self.t0, self.cpu0, self.threads0 = time.perf_counter(), time.process_time(), thread_cpu_seconds()
        return self

    def stop(self) -> dict:
        """The split: ``threads`` per name (busy seconds, busy share of the wall time: above 1 for a pool busy on
        several cores; waiting seconds: the rest of each thread's wall time, blocked or runnable), or None with
        ``reason`` where per-thread time is not measured."""
        after, cpu = thread_cpu_seconds(), time.process_time() - self.cpu0
        wall = time.perf_counter() - self.t0
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        out = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
               "cores_busy": round(cpu / wall, 2) if wall > 0 else None, "cores": cores}
        if after is None or self.threads0 is None:
            return {**out, "measured": False, "threads": None,
                    "reason": "not measured: no /proc/self/task here (per-thread CPU time is read on Linux)"}
        groups: dict[str, list[float]] = {}
        for tid, (name, seconds) in after.items():
            before = self.threads0.get(tid)
            groups.setdefault(name, []).append(seconds - (before[1] if before and before[0] == name else 0.0))
        rows = [{"name": name, "threads": len(v), "busy_s": round(sum(v), 3),
                 "busy_share": round(sum(v) / wall, 3) if wall > 0 else None,
                 "waiting_s": round(max(0.0, len(v) * wall - sum(v)), 3)} for name, v in groups.items()]
        rows.sort(key=lambda r: (-r["busy_s"], r["name"]))
        # CPU time of threads gone before the end (and the clock tick's rounding) belongs to no row
        return {**out, "measured": True, "threads": rows,
                "unattributed_cpu_s": round(cpu - sum(r["busy_s"] for r in rows), 3)}


def busy_table(split: dict) -> list[str]:
    """Markdown lines: the process's cores busy, then busy seconds and share per thread name (or "not measured")."""
    head = (f"Process CPU {split['cpu_s']:.2f} s over {split['wall_s']:.2f} s of wall time: "
            f"**{split['cores_busy']:.2f} of {split['cores']} cores busy**.")
    if not split.get("measured"):
        return [head + f" Per thread: {split.get('reason', 'not measured')}."]
    lines = [head, "", "| thread | threads | busy s | busy share of the wall time | waiting s |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['threads']} | {r['busy_s']:.2f} | {r['busy_share']:.2f} | {r['waiting_s']:.2f} |"
              for r in split["threads"]]
    return lines


def busiest(split: dict, top: int = 4) -> str:
    """The ``top`` busiest thread names with their busy share (``xN``: N threads share the name), or "not measured"."""
    if not split.get("measured"):
        return "not measured"
    return ", ".join(f"{r['name']}" + (f" x{r['threads']}" if r["threads"] > 1 else "") + f" {r['busy_share']:.2f}"
                     for r in split["threads"][:top])
