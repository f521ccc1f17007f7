"""`lab tree serve RUN`: a local web viewer of a run's search trees.

    server = make_server("~/selfplay-runs/cd1", port=0)      # 127.0.0.1, an ephemeral port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url                                              # http://127.0.0.1:PORT/

Endpoints (GET only):
    /                                    the viewer page (`static/viewer.html`)
    /api/run                             rounds: problems, solved, newly solved, dev accuracy
    /api/problems?round=K&filter=F       a round's problems (F: all, solved, unsolved, new; &task=T)
    /api/tree?round=K&problem=ID         one tree with its annotations (ID: full id or unique prefix)
    /api/plot.png?round=K                dev accuracy against compute, rounds 0..K (`selfplay.answering.compare.plot`)

Every request reads the run directory again (a file is re-parsed only when it changed), so a
running job can be watched; a torn last gzip member of a sampling round's trees file is left
out, not an error. Errors come back as JSON `{"error": message}` with 400 (bad query), 403 (a
refused Host or a request from another site), 404 (no such run, round or problem), 422 (a tree
file of another format, a damaged run file) or 500.

The server binds 127.0.0.1 unless told otherwise and answers only requests whose Host header
names this machine: localhost, the bound address, and when bound to another address (0.0.0.0
included) the machine's own names and the address the request came in on, plus any
`allow_hosts`. So a web page elsewhere cannot read a run through a rebound DNS name. A request a
browser marks as coming from another site (`Sec-Fetch-Site`) is refused too, and a plot is drawn
only for a round that exists, from a cache of bounded size: a page elsewhere cannot make the
server draw without end through an `<img>` tag. Knows the standard library's http.server and the payloads.
"""
from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import tempfile
import threading
from collections import OrderedDict
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from search import TreeFormatError
from selfplay.runfiles.rundir import DamagedFile
from selfplay.runfiles.runread import RunError, RunView, open_run
from selfplay.treeview.files import viewer_page
from selfplay.treeview.payload import evaluated_rounds, plot_rows, problems_payload, run_payload, tree_payload

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
PLOT_CACHE = 32  # plots kept; each is one round's rows drawn once
OWN_FETCH_SITES = ("same-origin", "none")  # Sec-Fetch-Site of the page's own requests and of a typed address


class BadQuery(ValueError):
    """A request whose query is missing a parameter or has one of the wrong type."""


def render_plot(run: RunView, index: int) -> bytes | None:
    """PNG bytes of the accuracy-versus-compute plot up to round `index` (None when no round was evaluated)."""
    from selfplay.answering.compare import plot

    rows = plot_rows(run, index)
    if not rows:
        return None
    with tempfile.TemporaryDirectory(prefix="tree-plot-") as scratch:
        path = plot(rows, Path(scratch) / "plot.png", f"{run.path.name}: dev accuracy vs compute, rounds 0-{index}")
        return path.read_bytes()


def host_name(text: str) -> str:
    """A Host header's name or address as compared: no port or brackets, lower case, IPv4-mapped as IPv4.

    >>> host_name("[::FFFF:10.0.0.5]:8765"), host_name("Box.Example.:80"), host_name("::1")
    ('10.0.0.5', 'box.example', '::1')
    """
    text = text.strip().lower()
    if text.startswith("["):
        text = text[1:text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.rstrip(".")
    return str(getattr(address, "ipv4_mapped", None) or address)


def machine_names() -> set[str]:
    """This machine's host names and the addresses they resolve to."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        with suppress(OSError, UnicodeError):
            names |= {info[4][0] for info in socket.getaddrinfo(name, None)}
    return {host_name(name) for name in names if name}


def allowed_hosts(bound: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Host names a request may carry: localhost, the bound address, `extra`, and when bound to
    anything but a loopback address (0.0.0.0 included) this machine's names and addresses."""
    names = set(LOCAL_NAMES) | {host_name(bound)} | {host_name(name) for name in extra}
    with suppress(ValueError):
        if ipaddress.ip_address(host_name(bound)).is_loopback:
            return frozenset(names)
    return frozenset(names | machine_names())


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, run: RunView, address: tuple[str, int], quiet: bool = True,
                 allow_hosts: tuple[str, ...] = ()) -> None:
        self.run, self.quiet = run, quiet
        self.page, self.policy = viewer_page()
        self.allowed_hosts = allowed_hosts(address[0], tuple(allow_hosts))
        self._plot_lock = threading.Lock()  # pyplot keeps global state
        self._plots: OrderedDict[tuple, bytes | None] = OrderedDict()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, ViewerHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser that left mid-answer is no error
            super().handle_error(request, client_address)

    def plot(self, index: int) -> bytes | None:
        """The plot up to round `index`; RunError for a round the run does not have."""
        rounds = sorted(set(evaluated_rounds(self.run)) | set(self.run.round_indices()))
        if index not in rounds:
            raise RunError(f"no round {index} in {self.run.path} (rounds: {', '.join(map(str, rounds)) or 'none yet'})")
        key = (index, json.dumps(plot_rows(self.run, index)))
        with self._plot_lock:
            if key not in self._plots:
                self._plots[key] = render_plot(self.run, index)
                while len(self._plots) > PLOT_CACHE:
                    self._plots.popitem(last=False)
            self._plots.move_to_end(key)
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
            self._json({"error": "unexpected Host header (lab tree serve --allow-host NAME admits a name)"},
                       HTTPStatus.FORBIDDEN)
            return
        if self.headers.get("Sec-Fetch-Site", "none").lower() not in OWN_FETCH_SITES:
            self._json({"error": "a request from another site"}, HTTPStatus.FORBIDDEN)
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
        except (DamagedFile, TreeFormatError) as error:
            self._json({"error": str(error)}, HTTPStatus.UNPROCESSABLE_ENTITY)
        except RunError as error:
            self._json({"error": str(error)}, HTTPStatus.NOT_FOUND)
        except ConnectionError:
            raise
        except Exception as error:  # a file edited by hand, say: always an answer, never a dropped connection
            self.log_error("%s: %r", parts.path, error)
            self._json({"error": f"cannot read the run: {error!r}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _host_allowed(self) -> bool:
        name = host_name(self.headers.get("Host") or "")
        return name in self.server.allowed_hosts or name == host_name(self.connection.getsockname()[0])

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


def make_server(run_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, quiet: bool = True,
                allow_hosts: tuple[str, ...] = ()) -> ViewerServer:
    """A viewer server for the run at `run_path` (not yet serving); port 0 picks a free one."""
    return ViewerServer(open_run(run_path), (host, port), quiet=quiet, allow_hosts=allow_hosts)
