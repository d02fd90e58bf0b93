"""The application room: what runs the core over time. The composition
root (runtime), the scheduled jobs, the live and replay daemons, restart
restore, operator requests, the retrain job, reconciliation and the
download command. It may import the core and the adapters; nothing below
it imports it back."""
