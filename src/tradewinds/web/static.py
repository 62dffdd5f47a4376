"""Serving the built desk: hashed assets cached for a year, compressed copies when the browser
takes them, and the page itself (never cached, so a new build is seen at once) for every path
that is not the API."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

STATIC = Path(__file__).with_name("static")
_IMMUTABLE = "public, max-age=31536000, immutable"
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))

MISSING = (
    "The web desk is not built. Run `make up` (it builds it), or `make frontend`; "
    "the API under /api works without it."
)


def _asset(folder: Path, path: str) -> Path | None:
    candidate = (folder / path).resolve()
    if folder.resolve() not in candidate.parents or not candidate.is_file():
        return None
    return candidate


def _compressed(request: Request, file: Path) -> tuple[Path, str | None]:
    accepted = request.headers.get("accept-encoding", "")
    for encoding, suffix in _ENCODINGS:
        packed = file.with_name(file.name + suffix)
        if encoding in accepted and packed.is_file():
            return packed, encoding
    return file, None


def install_static(app: FastAPI, folder: Path = STATIC) -> None:
    @app.get("/{path:path}", include_in_schema=False)
    async def desk(path: str, request: Request) -> Response:
        if path.startswith("api/") or path == "api":
            return JSONResponse({"detail": f"no API route /{path}", "errors": []}, status_code=404)
        file = _asset(folder, path) if path else None
        if file is not None and file.suffix not in (".br", ".gz"):
            served, encoding = _compressed(request, file)
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            headers = {
                "Cache-Control": _IMMUTABLE if path.startswith("assets/") else "no-cache",
                "Vary": "Accept-Encoding",
            }
            if encoding:
                headers["Content-Encoding"] = encoding
            return FileResponse(served, media_type=kind, headers=headers)
        index = folder / "index.html"
        if not index.is_file():
            return JSONResponse({"detail": MISSING, "errors": []}, status_code=503)
        served, encoding = _compressed(request, index)
        headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if encoding:
            headers["Content-Encoding"] = encoding
        return FileResponse(served, media_type="text/html", headers=headers)
