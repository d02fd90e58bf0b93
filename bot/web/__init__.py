"""`bot serve`: the run's ledger over HTTP, for people and monitors. A
process of its own beside the daemon, so a fault in it never stops
trading; it only reads the database (WAL: the writer is never blocked)."""
