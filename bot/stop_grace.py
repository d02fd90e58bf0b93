"""How long SIGINT or SIGTERM waits for the work in flight (a bar step, a
retrain, a strategy call) before the process exits without it. Its own
module: a replay's signal handling needs it without importing the live
daemon, whose scheduler and exchange library a replay never loads."""

STOP_GRACE_SECONDS = 3.0  # Docker gives 10 s before SIGKILL, systemd 90 s; tested at 5 s
