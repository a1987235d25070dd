#!/usr/bin/env python3
"""Memory of every process of one throw-away host, for bench/footprint.sh.

    python3 bench/footprint_pss.py INIT_PID

Prints one line per process of the PID namespace of INIT_PID (the host's
init, as this machine sees it; the init itself and the bench's own helpers
left out): PROGRAM, PSS, RSS, PSS-alone and USS-alone in KiB, tab-separated.

PSS and RSS come from /proc/PID/smaps_rollup. The kernel's PSS splits a page
between all the processes of the machine that map it, and the throw-away
hosts share their programs' files (/usr) with the machine and its other
hosts: a library page mapped here and by another host's copy of the same
daemon counts half here. PSS-alone is what PSS would be if this host were
the whole machine, as on a VPS: every present page (from /proc/PID/pagemap)
split only between the processes of this host that map it. USS-alone counts
only the pages no other process of the host maps: what ending that process
would free.
"""

import collections
import os
import re
import struct
import sys

SKIP = {"smtp-source", "sleep", "bash", "cat", "nsenter", "env"}
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
PFN_MASK = (1 << 55) - 1
PRESENT = 1 << 63
RANGE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ")


def name_of(pid):
    with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
        comm = f.read().strip()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    if not args:
        return None  # kernel thread or zombie
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    if exe.startswith(("/usr/lib/postfix/", "/usr/libexec/postfix/")):
        comm = "postfix/" + comm
    elif exe.startswith(("/usr/lib/dovecot/", "/usr/libexec/dovecot/")) or exe == "/usr/sbin/dovecot":
        comm = "dovecot/" + comm
    for prefix, name in (
        ("PM2 v", "PM2 God daemon"),
        ("nginx: master", "nginx master"),
        ("nginx: worker", "nginx worker"),
        ("php-fpm: master", "php-fpm master"),
        ("php-fpm: pool", "php-fpm pool"),
    ):
        if args.startswith(prefix):
            return name
    if "fail2ban-server" in args:
        return "fail2ban-server"
    if "policyd-spf" in args:
        return "policyd-spf"
    return comm


def rollup(pid):
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                fields[key] = int(rest.split()[0])
    return fields.get("Pss", 0), fields.get("Rss", 0)


def frames(pid):
    """The page frames PID maps now (present pages of its mappings that have
    any resident page)."""
    ranges, start = [], None
    with open(f"/proc/{pid}/smaps", encoding="utf-8") as f:
        for line in f:
            m = RANGE.match(line)
            if m:
                start = (int(m.group(1), 16), int(m.group(2), 16))
            elif line.startswith("Rss:") and int(line.split()[1]) > 0 and start:
                ranges.append(start)
    page = os.sysconf("SC_PAGE_SIZE")
    out = []
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        for lo, hi in ranges:
            f.seek(lo // page * 8)
            data = f.read((hi - lo) // page * 8)
            for (entry,) in struct.iter_unpack("<Q", data):
                if entry & PRESENT and entry & PFN_MASK:
                    out.append(entry & PFN_MASK)
    return out


def main():
    init = sys.argv[1]
    ns = os.readlink(f"/proc/{init}/ns/pid")
    procs = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == init:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            name = name_of(entry)
            if name is None or name in SKIP:
                continue
            pss, rss = rollup(entry)
            pfns = frames(entry)
        except OSError:
            continue  # ended meanwhile
        procs.append((name, pss, rss, pfns))
    mappers = collections.Counter()
    for proc in procs:
        mappers.update(proc[3])
    for name, pss, rss, pfns in procs:
        alone = sum(1 / mappers[pfn] for pfn in pfns) * PAGE_KIB
        uss = sum(1 for pfn in pfns if mappers[pfn] == 1) * PAGE_KIB
        print(f"{name}\t{pss}\t{rss}\t{alone:.0f}\t{uss}")


if __name__ == "__main__":
    main()
