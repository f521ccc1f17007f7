"""`lab tree serve RUN`: a local web viewer of a run's search trees.

    server = make_server("~/selfplay-runs/cd1", port=0)      # 127.0.0.1, an ephemeral port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url                                              # http://127.0.0.1:PORT/

Endpoints (GET only):
    /                                    the viewer page (`static/viewer.html`)
    /api/run                             rounds: problems, solved, newly solved, dev accuracy
    /api/problems?round=K&filter=F       a round's problems (F: all, solved, unsolved, new; &task=T)
    /api/tree?round=K&problem=ID         one tree with its annotations (ID: full id or unique prefix)
    /api/plot.png?round=K                dev accuracy against compute, rounds 0..K (`selfplay.compare.plot`)

Every request reads the run directory again (a file is re-parsed only when it changed), so a
running job can be watched; a torn last gzip member of a trees file is left out, not an error.
Errors come back as JSON `{"error": message}` with 400 (bad query), 404 (no such run, round or
problem) or 422 (a tree file of another format).

The server binds 127.0.0.1 unless told otherwise and answers only requests whose Host header
names the address it is bound to (or localhost), so a web page elsewhere cannot read a run
through a rebound DNS name. Knows the standard library's http.server and the payloads.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from search import TreeFormatError
from selfplay.runread import RunError, RunView, open_run
from selfplay.treeview.files import viewer_page
from selfplay.treeview.payload import plot_rows, problems_payload, run_payload, tree_payload

LOCAL_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


class BadQuery(ValueError):
    """A request whose query is missing a parameter or has one of the wrong type."""


def render_plot(run: RunView, index: int) -> bytes | None:
    """PNG bytes of the accuracy-versus-compute plot up to round `index` (None when no round was evaluated)."""
    from selfplay.compare import plot

    rows = plot_rows(run, index)
    if not rows:
        return None
    with tempfile.TemporaryDirectory(prefix="tree-plot-") as scratch:
        path = plot(rows, Path(scratch) / "plot.png", f"{run.path.name}: dev accuracy vs compute, rounds 0-{index}")
        return path.read_bytes()


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, run: RunView, address: tuple[str, int], quiet: bool = True) -> None:
        self.run, self.quiet = run, quiet
        self.page, self.policy = viewer_page()
        self._plot_lock = threading.Lock()  # pyplot keeps global state
        self._plots: dict[tuple, bytes | None] = {}
        super().__init__(address, ViewerHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser that left mid-answer is no error
            super().handle_error(request, client_address)

    def plot(self, index: int) -> bytes | None:
        key = (index, json.dumps(plot_rows(self.run, index)))
        with self._plot_lock:
            if key not in self._plots:
                self._plots[key] = render_plot(self.run, index)
            return self._plots[key]


def _integer(query: dict, name: str) -> int:
    values = query.get(name)
    if not values:
        raise BadQuery(f"missing query parameter {name!r}")
    try:
        return int(values[0])
    except ValueError:
        raise BadQuery(f"query parameter {name!r} must be an integer, got {values[0]!r}") from None


def _text(query: dict, name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    if not values:
        if default is None:
            raise BadQuery(f"missing query parameter {name!r}")
        return default
    return values[0]


class ViewerHandler(BaseHTTPRequestHandler):
    server: ViewerServer
    server_version = "selfplay-trees"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self._host_allowed():
            self._json({"error": "unexpected Host header"}, HTTPStatus.FORBIDDEN)
            return
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        run = self.server.run
        try:
            if parts.path in ("/", "/index.html"):
                self._send(self.server.page.encode("utf-8"), "text/html; charset=utf-8")
            elif parts.path == "/api/run":
                self._json(run_payload(run))
            elif parts.path == "/api/problems":
                self._json(problems_payload(run, _integer(query, "round"), _text(query, "filter", "all"),
                                            _text(query, "task", "") or None))
            elif parts.path == "/api/tree":
                self._json(tree_payload(run, _integer(query, "round"), _text(query, "problem")))
            elif parts.path == "/api/plot.png":
                image = self.server.plot(_integer(query, "round"))
                if image is None:
                    self._json({"error": "no evaluated round yet"}, HTTPStatus.NOT_FOUND)
                else:
                    self._send(image, "image/png")
            else:
                self._json({"error": f"no such page {parts.path}"}, HTTPStatus.NOT_FOUND)
        except BadQuery as error:
            self._json({"error": str(error)}, HTTPStatus.BAD_REQUEST)
        except RunError as error:
            self._json({"error": str(error)}, HTTPStatus.NOT_FOUND)
        except TreeFormatError as error:
            self._json({"error": str(error)}, HTTPStatus.UNPROCESSABLE_ENTITY)
        except ConnectionError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:  # a file half-written by hand, say
            self.log_error("%s: %r", parts.path, error)
            self._json({"error": f"cannot read the run: {error!r}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _host_allowed(self) -> bool:
        bound = self.server.server_address[0]
        if bound in ("0.0.0.0", "::"):
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.split("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
        return name in LOCAL_NAMES | {bound, f"[{bound}]"}

    def _json(self, value, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(json.dumps(value).encode("utf-8"), "application/json", status)

    def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", self.server.policy)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(run_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 0,
                quiet: bool = True) -> ViewerServer:
    """A viewer server for the run at `run_path` (not yet serving); port 0 picks a free one."""
    return ViewerServer(open_run(run_path), (host, port), quiet=quiet)
