"""The playground (docs/playground.md): the built editor page at `/`, its assets under
/playground/assets/, and /playground/config.json (the dev key, only where a setting allows
it, and only to a browser on the same machine).

The page is an ordinary client of the public API with the user's key, so nothing here needs
one. The assets come from playground/dist (built by scripts/ensure-playground.sh); they are
read and gzipped once, and again only when a new build has replaced index.html (one stat
per page load), so a rebuild needs no restart.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from .config import Settings
from .errors import ApiError

log = logging.getLogger("throwbox.playground")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# esbuild names the bundle app-<8 base32 characters>.js: such a name never changes content.
HASHED_NAME = re.compile(r"^[\w.-]+-[A-Z0-9]{8}\.(js|css)$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MIN_GZIP_BYTES = 1024
# The page talks only to this origin; CodeMirror injects its styles, hence 'unsafe-inline' for styles.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'; form-action 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_enc = msgspec.json.Encoder()


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None   # None when compressing would not help
    content_type: str
    cache_control: str
    etag: str


def make_asset(name: str, body: bytes) -> Asset:
    suffix = Path(name).suffix
    content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
    gzipped = None
    if len(body) >= MIN_GZIP_BYTES and not content_type.startswith("image/png"):
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    return Asset(body, gzipped, content_type, IMMUTABLE if HASHED_NAME.match(name) else REVALIDATE,
                 '"' + hashlib.sha256(body).hexdigest()[:16] + '"')


def load_assets(directory: Path) -> dict[str, Asset]:
    """Every regular file directly in `directory` by name, except dot files (the build's stamp);
    empty when the playground is not built."""
    if not directory.is_dir():
        return {}
    return {p.name: make_asset(p.name, p.read_bytes()) for p in sorted(directory.iterdir())
            if p.is_file() and not p.name.startswith(".")}


class Assets:
    """The built files, reloaded when index.html changes (the build writes it last)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.stamp: tuple[int, int] | None = None
        self.files: dict[str, Asset] = {}
        self.current()
        if "index.html" not in self.files:
            log.warning("playground not built: / answers 404 (run scripts/ensure-playground.sh)",
                        extra={"playground_dir": str(directory)})

    def current(self) -> dict[str, Asset]:
        try:
            st = (self.directory / "index.html").stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self.stamp:
            try:
                self.files = load_assets(self.directory)
            except OSError as e:   # a build in progress removed a file: keep what we had
                log.warning("playground files unreadable", extra={"error": str(e)})
                return self.files
            self.stamp = stamp
        return self.files


def accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def answer(asset: Asset, request_headers, extra: dict[str, str] | None = None) -> HTTPResponse:
    headers = {"Cache-Control": asset.cache_control, "ETag": asset.etag, "Vary": "Accept-Encoding",
               **(extra or {})}
    if asset.etag in (request_headers.get("if-none-match") or ""):
        return HTTPResponse(status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and accepts_gzip(request_headers.get("accept-encoding", "")):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return raw(body, headers=headers, content_type=asset.content_type)


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def read_dev_key(path: str) -> str | None:
    """The dev stack's key from `path` (scripts/dev-key.sh writes it), or None. Read on each
    request: the file appears after the control plane has started."""
    if not path:
        return None
    try:
        key = Path(path).read_text().strip()
    except OSError:
        return None
    return key or None


def register(app: Sanic, settings: Settings) -> None:
    assets = Assets(Path(settings.playground_dir))
    if settings.playground_dev_key_file:
        log.warning("the playground hands the dev key to browsers on this machine (dev stack only)",
                    extra={"dev_key_file": settings.playground_dev_key_file})

    @app.get("/")
    async def playground_page(request: Request):
        page = assets.current().get("index.html")
        if page is None:
            raise ApiError(404, "not_found", "the playground is not built on this server")
        return answer(page, request.headers, PAGE_HEADERS)

    @app.get("/playground/assets/<name:str>")
    async def playground_asset(request: Request, name: str):
        asset = assets.files.get(name)
        if asset is None or name == "index.html":
            raise ApiError(404, "not_found", "no such playground file")
        return answer(asset, request.headers, {"X-Content-Type-Options": "nosniff"})

    @app.get("/playground/config.json")
    async def playground_config(request: Request):
        # Even where the setting is on, only a browser on this machine gets the key.
        key = read_dev_key(settings.playground_dev_key_file) if is_loopback(request.ip) else None
        body = _enc.encode({"dev_key": key})
        return raw(body, content_type="application/json", headers={"Cache-Control": "no-store"})
