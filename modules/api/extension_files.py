"""`/file=<path>`: the files of enabled extensions, as A1111 serves them to extension JavaScript
(which rule applies: modules/extensions/served_files.py)."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

from modules.extensions.served_files import extension_file
from modules.runtime import Runtime


def register_extension_files(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/file={path:path}", include_in_schema=False)
    def served_file(path: str) -> FileResponse:
        host = runtime.extensions
        found = None if host is None else extension_file(host, runtime.paths.data_dir, runtime.paths.app_root, path)
        if found is None:
            raise HTTPException(404, f"{path!r} is not a file of an enabled extension; only those are served here")
        return FileResponse(found)
