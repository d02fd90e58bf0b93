"""The dashboard page, in its two forms:

- served by `bot serve` at /, with its script, style and plotly's bundled
  JavaScript as files under /static (nothing from a CDN), drawing the live
  payload of /api/v1/dashboard;
- one self-contained HTML file for `bot report --html`, with the same
  script, style and plotly inlined and the payload embedded as JSON, so it
  opens anywhere offline.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

STATIC = resources.files("bot.web") / "static"

# The page's own files; plotly.min.js comes from the plotly package.
STATIC_FILES = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "plotly.min.js": "text/javascript",
}

# Scripts and styles from this server only; plotly sets inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@cache
def plotly_js() -> str:
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def static_text(name: str) -> str:
    if name == "plotly.min.js":
        return plotly_js()
    return (STATIC / name).read_text(encoding="utf-8")


def live_page() -> str:
    return _template(
        '<link rel="stylesheet" href="static/dashboard.css">',
        '<script src="static/plotly.min.js"></script>\n<script src="static/dashboard.js"></script>',
    )


def report_page(payload: dict) -> str:
    """One HTML file that draws `payload` with no server and no network."""
    return _template(
        f"<style>\n{static_text('dashboard.css')}</style>",
        f"<script>{inline_script(plotly_js())}</script>\n<script>{inline_script(static_text('dashboard.js'))}</script>\n"
        f'<script type="application/json" id="payload">{embedded_json(payload)}</script>',
    )


def embedded_json(payload: dict) -> str:
    """JSON that cannot end its <script> element early nor open markup:
    <, > and & are written as JSON's own \\u escapes."""
    text = json.dumps(payload, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def inline_script(script: str) -> str:
    # A script inlined in HTML ends at the first "</script": none may occur.
    return script.replace("</script", "<\\/script")


def _template(style: str, scripts: str) -> str:
    page = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    return page.replace("<!--STYLE-->", style).replace("<!--SCRIPTS-->", scripts)
