"""A self-contained ``index.html`` beside exported files: what a user opens first.

Every GLB on the page is shown in an interactive 3-D viewer (drag to orbit, scroll or pinch to
zoom): Google's ``<model-viewer>`` web component, a pinned build vendored in this package
(``get3d/export/vendor/model-viewer``, Apache-2.0, three.js inside) and copied into
``viewer/`` beside the page, so the folder works offline and can be zipped, mailed or served as
it is. Around the viewers: the overview images, one card per item (its viewers, its images
inline, its files as links) and the settings the files were made with. All links are relative.

How the models reach the viewer: browsers refuse ``fetch()`` of ``file://`` URLs from a page
opened as a file, and that is how a viewer loads a GLB. So a model up to ``embed_max_bytes``
(8 MiB) is embedded in the page as a ``data:`` URI, while the page's embedded total stays under
``embed_total_bytes`` (48 MiB); such pages work opened straight from disk. Larger models are
linked by their relative URL, which loads only over http: ``get3d view OUTDIR`` serves the
folder on 127.0.0.1 and opens the page, and the page itself says so when opened as a file.

Other commands (``invert``, ...) make their gallery with :func:`write_gallery` and a list of
:class:`GalleryItem` (title, files, note): GLBs become viewers, images are shown, the rest linked.
"""
from __future__ import annotations

import base64
import filecmp
import html
import json
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from get3d._io import atomic_path, atomic_write

__all__ = ["EMBED_MAX_BYTES", "EMBED_TOTAL_BYTES", "GalleryItem", "VIEWER_FILES", "VIEWER_VERSION", "write_gallery"]

IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg")
MODEL_SUFFIXES = (".glb",)

VIEWER_VERSION = "4.4.0"  # @google/model-viewer, from the npm registry (see vendor/model-viewer/README.md)
VIEWER_SCRIPT = "model-viewer-umd.min.js"  # the UMD build: a classic script, which file:// pages may load
VIEWER_FILES = (VIEWER_SCRIPT, "LICENSE", "README.md")
VIEWER_DIR = "viewer"  # beside index.html

EMBED_MAX_BYTES = 8 << 20  # one model embedded up to this size (base64 makes it 4/3 as large)
EMBED_TOTAL_BYTES = 48 << 20  # embedded models of one page together


@dataclass
class GalleryItem:
    title: str
    files: list = field(default_factory=list)  # paths (absolute or relative to the gallery folder)
    note: str = ""


def _relative(path, folder: Path) -> str | None:
    """``path`` as a link relative to ``folder``, or None if it is not a file inside it.

    A relative ``path`` is what a caller holds, usually ``outdir / name`` with ``outdir`` itself
    relative to the working directory (``--outdir out/s``): it is tried as it stands first, then
    as a name inside ``folder``. (Joining it onto ``folder`` alone gave ``out/s/out/s/...``, and
    every gallery written with a relative ``--outdir`` came out empty.)
    """
    path = Path(path)
    candidates = [path] if path.is_absolute() else [path, folder / path]
    root = folder.resolve()
    for full in candidates:
        if full.is_file():
            try:
                return full.resolve().relative_to(root).as_posix()
            except ValueError:
                continue  # outside the gallery's folder: not linkable relatively
    return None


def _is_image(rel: str) -> bool:
    return rel.lower().endswith(IMAGE_SUFFIXES)


def _is_model(rel: str) -> bool:
    return rel.lower().endswith(MODEL_SUFFIXES)


def _media(rel: str) -> str:
    name = html.escape(rel)
    if _is_image(rel):
        return f'<a href="{name}"><img src="{name}" alt="{name}"></a>'
    return f'<a class="file" href="{name}">{name}</a>'  # the relative path: samples/index.html, not index.html


class _Embedder:
    """Decides per model: embedded (``data:`` URI) or linked (``data-src``, loaded when served)."""

    def __init__(self, folder: Path, max_bytes: int, total_bytes: int):
        self.folder, self.max_bytes, self.left = folder, max_bytes, total_bytes
        self.linked = 0  # models too large to embed

    def viewer(self, rel: str) -> str:
        path = self.folder / rel
        size = path.stat().st_size
        name = html.escape(rel)
        common = (f'alt="{name}" title="{name}" camera-controls touch-action="pan-y" loading="eager" '
                  f'interaction-prompt="none" shadow-intensity="0.6"')
        if size <= self.max_bytes and size <= self.left:
            self.left -= size
            uri = "data:model/gltf-binary;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            return f'<model-viewer src="{uri}" data-file="{name}" {common}></model-viewer>'
        self.linked += 1
        return (f'<model-viewer data-src="{name}" data-file="{name}" {common}></model-viewer>'
                f'<p class="served">{size / 2**20:.1f} MiB: too large to embed in the page; open the page '
                f'with <code>get3d view {html.escape(str(self.folder))}</code> to turn it here.</p>')


def _copy_viewer(folder: Path) -> None:
    """Copy the vendored viewer (script, licence, provenance) into ``folder/viewer``."""
    target = folder / VIEWER_DIR
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("get3d.export") / "vendor" / "model-viewer"
    for name in VIEWER_FILES:
        with resources.as_file(source / name) as src:
            dst = target / name
            if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
                continue
            with atomic_path(dst, fsync=False) as tmp:
                shutil.copyfile(src, tmp)


# Linked models load only over http(s) (browsers refuse fetch() of file:// URLs); the note under
# each says how. Failed loads are shown in the card, not only in the console.
_SCRIPT = """<script>
(function () {
  var served = location.protocol === 'http:' || location.protocol === 'https:';
  document.querySelectorAll('model-viewer').forEach(function (el) {
    el.addEventListener('error', function () {
      var p = document.createElement('p'); p.className = 'failed';
      p.textContent = 'could not show ' + el.dataset.file + ' here; the file link below still works';
      el.insertAdjacentElement('afterend', p);
    });
    if (el.dataset.src) {
      if (served) { el.src = el.dataset.src; el.nextElementSibling.style.display = 'none'; }
      else { el.style.display = 'none'; }
    }
  });
})();
</script>"""

_STYLE = ("body{font-family:sans-serif;margin:2em;background:#fafafa}img{max-width:100%;border:1px solid #ddd;"
          "background:#fff}.card{display:inline-block;vertical-align:top;margin:.5em;padding:.5em;background:#fff;"
          "border:1px solid #ddd;max-width:420px}.file{margin-right:.8em}model-viewer{display:block;width:400px;"
          "height:400px;max-width:100%;background:#fff;border:1px solid #ddd}.served,.failed{color:#a40;"
          "max-width:400px}.hint{color:#666}pre{background:#fff;border:1px solid #ddd;padding:1em;overflow:auto}")


def write_gallery(folder, title: str, overview=(), items=(), settings: dict | None = None, *,
                  embed_max_bytes: int = EMBED_MAX_BYTES, embed_total_bytes: int = EMBED_TOTAL_BYTES) -> Path:
    """Write ``folder/index.html`` (and ``folder/viewer/`` when it shows a GLB); files that do not
    exist are left out. ``overview``: paths shown first (images, or GLBs as viewers); ``items``:
    GalleryItems, one card each. -> the page's path."""
    folder = Path(folder)
    embed = _Embedder(folder, embed_max_bytes, embed_total_bytes)
    body = []
    for path in overview:
        rel = _relative(path, folder)
        if rel is not None:
            body.append(f"<div class='card'>{embed.viewer(rel)}<p>{_media(rel)}</p></div>" if _is_model(rel)
                        else f"<p>{_media(rel)}</p>")
    for item in items:
        rels = [r for r in (_relative(p, folder) for p in item.files) if r is not None]
        if not rels and not item.note:
            continue
        viewers = [embed.viewer(r) for r in rels if _is_model(r)]
        images = [_media(r) for r in rels if _is_image(r)]
        links = [_media(r) for r in rels if not _is_image(r)]
        note = f"<p>{html.escape(item.note)}</p>" if item.note else ""
        body.append(f"<div class='card'><h3>{html.escape(item.title)}</h3>{note}{''.join(viewers)}"
                    f"{''.join(images)}<p>{''.join(links)}</p></div>")
    has_viewer = any("<model-viewer" in part for part in body)
    # An empty icon: else a served page asks for /favicon.ico and logs a 404.
    head = [f"<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
            f"<title>{html.escape(title)}</title>",
            f"<style>{_STYLE}</style>"]
    if has_viewer:
        _copy_viewer(folder)
        head.append(f'<script src="{VIEWER_DIR}/{VIEWER_SCRIPT}"></script>')
    parts = head + ["</head><body>", f"<h1>{html.escape(title)}</h1>"]
    if has_viewer:
        parts.append("<p class='hint'>Drag a model to turn it, scroll or pinch to zoom, right-drag to pan.</p>")
    if embed.linked:
        parts.append(f"<p class='served'>{embed.linked} model(s) are too large to embed in this page: browsers "
                     f"load them only over http. Run <code>get3d view {html.escape(str(folder))}</code> "
                     f"to serve this folder on 127.0.0.1 and open it.</p>")
    parts += body
    if settings:
        parts.append("<h2>Settings</h2><pre>" + html.escape(json.dumps(settings, indent=2, default=str)) + "</pre>")
    if has_viewer:
        parts.append(_SCRIPT)
    parts.append("</body></html>")
    path = folder / "index.html"
    atomic_write(path, "\n".join(parts).encode("utf-8"), fsync=False)
    return path
