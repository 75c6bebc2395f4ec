"""Whether the process that started something (a run, a temp file) is still alive.

A process is named by a token ``<host>-<pid>-<start>``: the host (a short hash of the host
name), its pid, and its start time in clock ticks since boot (``/proc/<pid>/stat``), so a pid
the kernel reused for another process does not pass for the original. A token of another host
is never judged dead here: only that host can tell.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket

TOKEN_RE = re.compile(r"(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<start>\d+)")


def host_id() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), None if there is no such process."""
    try:
        stat = open(f"/proc/{pid}/stat", "rb").read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:  # no /proc here: existence is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0
    # Fields after the command name (which may hold spaces and parentheses): field 22 is starttime.
    return int(stat[stat.rindex(")") + 2:].split()[19])


def process_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{host_id()}-{pid}-{_start_ticks(pid) or 0}"


def is_dead(token: str) -> bool:
    """True only when ``token`` names a process of this host that no longer runs."""
    m = TOKEN_RE.fullmatch(token)
    if m is None or m["host"] != host_id():
        return False
    start = _start_ticks(int(m["pid"]))
    return start is None or (start != 0 and int(m["start"]) != 0 and start != int(m["start"]))
