"""How a log line reads on the console. An event (a line with a message:
a gap, an extreme move, a stop-out) is one short line a person reads,
`HH:MM:SS level kind symbol bar_time: message`; its other fields (the
bar's prices, the gap's bounds) are in the log file's JSON line. The demo's
console had been dozens of `timestamp='...' level='warning' event=...
open=50590.55 high=... logger='bot.engine'` dumps between its own lines.
Any other line keeps the renderer it had."""

from __future__ import annotations

from structlog.typing import EventDict, Processor, WrappedLogger

WHERE = ("symbol", "bar_time")  # the fields that say what an event is about, in this order


class EventLines:
    def __init__(self, fallback: Processor) -> None:
        self.fallback = fallback

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        message = event_dict.get("message")
        if not isinstance(message, str):
            return self.fallback(logger, name, event_dict)  # type: ignore[return-value]
        clock = str(event_dict.get("timestamp", ""))[11:19]  # an ISO time's HH:MM:SS
        where = [str(event_dict[key]) for key in WHERE if event_dict.get(key)]
        head = [clock, str(event_dict.get("level", "")), str(event_dict.get("event", "")), *where]
        return f"{' '.join(part for part in head if part)}: {message}"
