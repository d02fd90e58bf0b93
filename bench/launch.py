"""Runs a command as its own child and writes what the child used to a file.

Linux carries a process's peak resident set across execve, so a command
forked straight from the bench, which holds a few hundred MB once its
in-process figures are taken, would report the bench's memory as its own
(a bare `python -c pass` read 928 MB under a 900 MB parent). This launcher
is a few MB when it forks, so the peak that wait4 gives for its child is
the command's own.

    python -S launch.py OUT_JSON COMMAND [ARGS...]
"""

import json
import os
import sys
import time


def main() -> int:
    out, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)  # the command could not be started
    _, status, usage = os.wait4(pid, 0)
    wall_s = time.perf_counter() - started  # to the exit itself, not to the bench's next look
    with open(out, "w") as f:
        json.dump({"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall_s, "peak_rss_kb": usage.ru_maxrss}, f)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says


if __name__ == "__main__":
    sys.exit(main())
