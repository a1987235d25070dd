#!/usr/bin/env python3
"""CPU time by program of the processes in a cgroup v1 cpuacct group.

    cpu_by_process.py GROUP_DIR STOP_FILE

Until STOP_FILE exists, polls every 50 ms the processes of GROUP_DIR
(cgroup.procs) and keeps each one's last user+system time (/proc/PID/stat,
its own threads included, its reaped children not). Then prints, as
"LABEL MS" lines, the CPU spent since the start by each program, labelled by
its package directory and name as last seen (postfix/lmtp, dovecot/lmtp,
...), and "(total) MS" from cpuacct.usage. A process that lives less than a
poll is missed: the difference shows up as "(unattributed)".
"""

import os
import sys
import time

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def label(pid):
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        stat = f.read()
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    parts = exe.split("/")
    package = next((p for p in ("postfix", "dovecot") if p in parts), "")
    return f"{package}/{comm}" if package else comm


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def processes(group):
    with open(os.path.join(group, "cgroup.procs"), encoding="ascii") as f:
        return [int(line) for line in f if line.strip()]


def main():
    group, stop_file = sys.argv[1], sys.argv[2]
    with open(os.path.join(group, "cpuacct.usage"), encoding="ascii") as f:
        usage_before = int(f.read())
    start = {}
    last = {}
    names = {}
    first = True
    while True:
        for pid in processes(group):
            try:
                if pid not in start:
                    start[pid] = cpu_ms(pid) if first else 0.0
                # Labelled again at every poll: a process Postfix's master
                # forks is "master" until it has exec'd its program.
                names[pid] = label(pid)
                last[pid] = cpu_ms(pid)
            except (OSError, ValueError):
                continue
        first = False
        if os.path.exists(stop_file):
            break
        time.sleep(0.05)
    with open(os.path.join(group, "cpuacct.usage"), encoding="ascii") as f:
        total = (int(f.read()) - usage_before) / 1e6
    by_label = {}
    for pid, name in names.items():
        by_label[name] = by_label.get(name, 0.0) + last.get(pid, 0.0) - start[pid]
    attributed = 0.0
    for name, ms in sorted(by_label.items(), key=lambda kv: -kv[1]):
        if ms > 0:
            print(f"{name} {ms:.0f}")
            attributed += ms
    print(f"(unattributed) {max(total - attributed, 0):.0f}")
    print(f"(total) {total:.0f}")


if __name__ == "__main__":
    main()
