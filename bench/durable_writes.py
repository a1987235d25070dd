#!/usr/bin/env python3
"""Durable-write limit of a file system: how many small files per second can
be created, written, fsync'ed and made durable in their directory (fsync of
the directory), the work a mail store does per delivered message.

usage: durable_writes.py DIR SECONDS THREADS
Prints one line: "<files per second> files/s (<threads> threads, <n> files)".
Each thread writes into its own subdirectory of DIR, which is removed after.
"""
import os
import shutil
import sys
import threading
import time


def worker(directory, deadline, counts, index):
    os.makedirs(directory, exist_ok=True)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    payload = os.urandom(1024)
    n = 0
    try:
        while time.monotonic() < deadline:
            path = os.path.join(directory, f"m{n}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.fsync(dfd)
            n += 1
    finally:
        os.close(dfd)
    counts[index] = n


def main():
    base, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    root = os.path.join(base, f".durable-writes-{os.getpid()}")
    counts = [0] * threads
    start = time.monotonic()
    deadline = start + seconds
    pool = [threading.Thread(target=worker,
                             args=(os.path.join(root, str(i)), deadline, counts, i))
            for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - start
    shutil.rmtree(root, ignore_errors=True)
    total = sum(counts)
    print(f"{total / elapsed:.0f} files/s ({threads} threads, {total} files)")


if __name__ == "__main__":
    main()
