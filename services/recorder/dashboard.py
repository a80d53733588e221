"""The live dashboard: a page on loopback, served by the recorder while the run goes on.

    /                 the page (dashboard_static/index.html): polls /api/state every second
    /api/state        the `DashboardState` snapshot, JSON
    /static/plotly.min.js   plotly.js from the installed plotly package (no network)

aiohttp (already installed with ccxt) serves it from an event loop of its own
in a daemon thread: the recorder's loop never waits for a browser. It only
reads the state; it never touches a socket of the run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Final

import plotly
from aiohttp import web

from common.errors import ConfigError
from common.metrics import bind_or_fall_back
from services.recorder.dashboard_state import DashboardState

log = logging.getLogger(__name__)

PAGE: Final = Path(__file__).with_name("dashboard_static") / "index.html"
PLOTLY_JS: Final = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"


def application(state: DashboardState) -> web.Application:
    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def snapshot(request: web.Request) -> web.Response:
        return web.json_response(state.snapshot(), headers={"Cache-Control": "no-store"})

    async def plotly_js(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PLOTLY_JS)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/api/state", snapshot)
    app.router.add_get("/static/plotly.min.js", plotly_js)
    return app


def serve_dashboard(state: DashboardState, *, host: str, port: int) -> int:
    """Serve the dashboard in a daemon thread; return the bound port.

    Raises:
        ConfigError: the port cannot be bound (exit 2, one line).
    """
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(application(state), access_log=None)
    loop.run_until_complete(runner.setup())

    def bind(free: int) -> int:
        loop.run_until_complete(web.TCPSite(runner, host, free).start())
        return int(runner.addresses[0][1])

    try:
        bound = bind_or_fall_back(bind, port, "--dashboard-port")
    except ConfigError:
        loop.run_until_complete(runner.cleanup())
        loop.close()
        raise
    threading.Thread(target=loop.run_forever, name="dashboard", daemon=True).start()
    log.info("dashboard on http://%s:%d/", host, bound)
    return bound
