"""A self-contained ``index.html`` beside exported files: what a user opens first.

The page links only files that exist in its own folder (relative links, no scripts, no network),
so the folder can be zipped, mailed or served as it is. Sections: the overview images, one card
per item (its images inline, its mesh files as links), and the settings the files were made with.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from get3d._io import atomic_write

__all__ = ["GalleryItem", "write_gallery"]

IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg")


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


def _media(rel: str) -> str:
    name = html.escape(rel)
    if rel.lower().endswith(IMAGE_SUFFIXES):
        return f'<a href="{name}"><img src="{name}" alt="{name}"></a>'
    return f'<a class="file" href="{name}">{html.escape(Path(rel).name)}</a>'


def write_gallery(folder, title: str, overview=(), items=(), settings: dict | None = None) -> Path:
    """Write ``folder/index.html``; files that do not exist are left out. -> its path."""
    folder = Path(folder)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em;background:#fafafa}img{max-width:100%;"
             "border:1px solid #ddd;background:#fff}.card{display:inline-block;vertical-align:top;margin:.5em;"
             "padding:.5em;background:#fff;border:1px solid #ddd;max-width:420px}.file{margin-right:.8em}"
             "pre{background:#fff;border:1px solid #ddd;padding:1em;overflow:auto}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for path in overview:
        rel = _relative(path, folder)
        if rel is not None:
            parts.append(f"<p>{_media(rel)}</p>")
    for item in items:
        rels = [r for r in (_relative(p, folder) for p in item.files) if r is not None]
        if not rels and not item.note:
            continue
        images = [_media(r) for r in rels if r.lower().endswith(IMAGE_SUFFIXES)]
        links = [_media(r) for r in rels if not r.lower().endswith(IMAGE_SUFFIXES)]
        note = f"<p>{html.escape(item.note)}</p>" if item.note else ""
        parts.append(f"<div class='card'><h3>{html.escape(item.title)}</h3>{note}{''.join(images)}"
                     f"<p>{''.join(links)}</p></div>")
    if settings:
        parts.append("<h2>Settings</h2><pre>" + html.escape(json.dumps(settings, indent=2, default=str)) + "</pre>")
    parts.append("</body></html>")
    path = folder / "index.html"
    atomic_write(path, "\n".join(parts).encode("utf-8"), fsync=False)
    return path
