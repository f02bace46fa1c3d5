"""``get3d view OUTDIR``: serve a gallery folder on 127.0.0.1 and open its index.html.

Pages opened from disk (``file://``) may not fetch other local files, so a gallery embeds its
models; the ones too large to embed load only when the folder is served over http. This is a
plain static file server (Python's ``http.server``) bound to the loopback interface only, with
GLB's media type, serving nothing outside the folder; it runs until Ctrl-C.
"""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

from get3d.errors import Get3dError

__all__ = ["gallery_server", "view"]

HOST = "127.0.0.1"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".glb": "model/gltf-binary",
                      ".gltf": "model/gltf+json", ".js": "text/javascript", ".obj": "text/plain",
                      ".mtl": "text/plain"}

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # quiet: the command prints the URL, and request lines would bury it

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a re-run's files show on reload
        super().end_headers()


def gallery_server(folder, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server for ``folder`` on 127.0.0.1:``port`` (0: any free port), not yet serving.
    ``server.url`` is its index page."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Get3dError(f"{folder}: no such folder (give an output folder of generate, interpolate, refine, "
                         f"finetune-text, invert or demo)")
    if not (folder / "index.html").is_file():
        raise Get3dError(f"{folder} has no index.html: it is not a gallery folder (generate, interpolate, "
                         f"refine, finetune-text, invert and demo write one into their outdir, --outdir)")
    if not 0 <= int(port) <= 65535:
        raise Get3dError(f"port (--port) must be in 0-65535, got {port}")
    handler = functools.partial(_Handler, directory=str(folder.resolve()))
    try:
        server = http.server.ThreadingHTTPServer((HOST, int(port)), handler)
    except OSError as err:
        raise Get3dError(f"cannot listen on {HOST}:{port}: {err.strerror or err} (try another port (--port), or 0)") from err
    server.daemon_threads = True
    server.url = f"http://{HOST}:{server.server_address[1]}/index.html"
    return server


def view(folder, port: int = 0, open_browser: bool = True, log=print) -> None:
    """Serve ``folder`` and open its page in the default browser; blocks until Ctrl-C."""
    server = gallery_server(folder, port)
    log(f"serving {Path(folder)} at {server.url} (Ctrl-C to stop)")
    if open_browser:
        import webbrowser

        # After serve_forever has started, so the first request is answered.
        threading.Timer(0.3, webbrowser.open, args=(server.url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.server_close()
