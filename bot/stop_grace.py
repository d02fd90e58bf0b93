"""A stop asked by SIGINT or SIGTERM, and how long it waits for the work in
flight (a bar step, a retrain, a strategy call) before the process exits
without it. Its own module: a replay's signal handling and the backtest's
workers need it without importing the live daemon, whose scheduler and
exchange library they never load."""

import signal

STOP_GRACE_SECONDS = 3.0  # Docker gives 10 s before SIGKILL, systemd 90 s; tested at 5 s


class Stopped(KeyboardInterrupt):
    """A stop asked by a signal (SIGTERM as well as Ctrl+C's SIGINT); its
    exit code is the shell's, 128 + the signal."""

    def __init__(self, signum: int) -> None:
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(self.name)
