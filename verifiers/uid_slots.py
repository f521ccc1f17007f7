"""The uids sandboxed runs borrow: one exclusive uid per concurrent run, and the processes running as it.

    slot = Slot()            # an flock on SLOT_DIR/<uid>: no other run on this machine holds that uid
    ...                      # the jail drops the candidate to slot.uid
    kill_uid(slot.uid)       # teardown: whatever still runs as it goes
    slot.release()

The uids come from a block inside this process's uid map (`uid_range`), away from the system's
own and from nobody (65534). `processes_of` counts a uid's processes, so that a run without
namespaces can cap its candidate's process count above what the uid already runs.

Knows /proc, flock and uid maps; nothing about candidates, pipes or verdicts (`verifiers.sandbox`).
"""
from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import time

SLOT_DIR = os.path.join(tempfile.gettempdir(), "selfplay-sandbox-slots")
SLOT_COUNT = 1024


class NoFreeSlot(RuntimeError):
    """Every uid of the block is held by a run."""


def uid_range() -> tuple[int, int]:
    """A block of uids that the sandbox may use, one per concurrent run, inside the uid map."""
    best = (0, 65536)
    try:
        with open("/proc/self/uid_map") as handle:
            for line in handle:
                inside, _, count = (int(part) for part in line.split())
                if count > best[1] - best[0]:
                    best = (inside, inside + count)
    except OSError:
        pass
    start, end = best
    if end - start > 4_000_000:
        return 3_000_000, 3_000_000 + SLOT_COUNT
    return max(start + 1000, end - 2 - SLOT_COUNT - 2), end - 2 - 2  # leave nobody (65534) alone


class Slot:
    """An exclusive uid for one run, held by an flock on a file (released when the run ends)."""

    def __init__(self) -> None:
        os.makedirs(SLOT_DIR, mode=0o700, exist_ok=True)
        low, high = uid_range()
        start = (os.getpid() * 7919 + int(time.monotonic_ns() % 1000)) % (high - low)
        for offset in range(high - low):
            uid = low + (start + offset) % (high - low)
            handle = open(os.path.join(SLOT_DIR, str(uid)), "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self.uid, self.handle = uid, handle
            return
        raise NoFreeSlot("no free sandbox uid slot")

    def release(self) -> None:
        self.handle.close()


def kill_uid(uid: int) -> int:
    """Kill every process running as `uid`; returns how many were found."""
    found = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                uids = next(line for line in handle if line.startswith("Uid:")).split()[1:]
        except (OSError, StopIteration):
            continue
        if str(uid) in uids:
            found += 1
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass
    return found


def processes_of(uid: int) -> int:
    """How many processes /proc shows owned by `uid`."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count
