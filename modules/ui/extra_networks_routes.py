"""HTTP routes behind the card browser: card lists, preview images, user notes, checkpoint pick.

`GET /sd_extra_networks/cards?page=lora` answers every card of a page at once (the browser
searches and sorts them itself), `GET /sd_extra_networks/thumb?page=lora&path=sub/x.png` serves a
preview image from inside that page's folders only, `POST /sd_extra_networks/user-metadata`
writes `name.json`, `POST /sd_extra_networks/select-checkpoint` switches the model as a
checkpoint card click does in A1111. With a UI login the routes need the logged-in session.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse

from modules.networks.cards import PAGES, cards, folders, preview_path, save_user_metadata
from modules.networks.catalog import NetworkCatalog
from modules.ui.auth import credentials_from_args
from modules.ui.auth_guard import find_gradio_app


def page_catalog(runtime: Any, page: str) -> NetworkCatalog:
    services = runtime.networks
    if page not in PAGES or services is None:
        raise HTTPException(404, f"unknown card page {page!r}; use one of {', '.join(PAGES)}")
    if page == "lora":
        return services.loras
    if page == "textual_inversion":
        return services.embeddings.catalog
    return services.checkpoint_cards


def extension_card_page(runtime: Any, page: str) -> Any:
    """The card page an extension added under this id (None for the built-in pages and unknown ids)."""
    from modules.networks.extension_networks import ExtensionNetworks

    for feature in runtime.features.all():
        if isinstance(feature, ExtensionNetworks) and page in feature.pages:
            return feature.pages[page]
    return None


def extension_page_cards(runtime: Any, page: Any) -> dict[str, Any]:
    """An extension page's cards; its list function failing is a 500 naming the extension."""
    from modules.networks.extension_cards import page_cards

    started = time.perf_counter()
    weight = float(runtime.settings.get("extra_networks_default_multiplier", 1.0))
    try:
        items = page_cards(page, weight)
    except Exception as exc:
        raise HTTPException(500, f"the extension '{page.owner}' could not list its {page.title} cards: "
                                 f"{type(exc).__name__}: {exc}") from exc
    return {"page": page.page_id, "items": items, "folders": [], "seconds": round(time.perf_counter() - started, 4)}


def extension_page_preview(page: Any, name: str) -> Any:
    from modules.networks.extension_cards import page_preview

    try:
        return page_preview(page, name)
    except Exception:
        return None


def mark_skipped_embeddings(items: list[dict[str, Any]], runtime: Any) -> None:
    """Say on the card why an embedding does not work with the loaded model."""
    reasons = runtime.networks.embeddings.lookup(runtime.models.current).skip_reasons
    for item in items:
        reason = reasons.get(item["name"])
        if reason:
            item["description"] = f"Skipped: {reason}"
            item["skipped"] = True


def _logged_in(request: Request, gradio_app: Any) -> bool:
    """True for the session cookie the mounted gradio app issued at login."""
    if gradio_app is None:
        return False
    cookie_id = getattr(gradio_app, "cookie_id", "")
    token = (request.cookies.get(f"access-token-{cookie_id}")
             or request.cookies.get(f"access-token-unsecure-{cookie_id}"))
    return token is not None and token in getattr(gradio_app, "tokens", {})


def register_card_routes(app: FastAPI, runtime: Any) -> None:
    """Add the routes to `app`; with a UI login (`--gradio-auth`) each needs the logged-in session."""
    login_required = credentials_from_args(runtime.args) is not None

    def check(request: Request) -> None:
        if login_required and not _logged_in(request, find_gradio_app(app)):
            raise HTTPException(401, "log in to the web UI first")

    @app.get("/sd_extra_networks/cards", include_in_schema=False)
    def card_list(request: Request, page: str, refresh: bool = False) -> dict[str, Any]:
        check(request)
        extension_page = extension_card_page(runtime, page)
        if extension_page is not None:
            return extension_page_cards(runtime, extension_page)
        catalog = page_catalog(runtime, page)
        started = time.perf_counter()
        if refresh:
            catalog.refresh()
        weight = float(runtime.settings.get("extra_networks_default_multiplier", 1.0))
        items = cards(page, catalog, weight)
        if page == "textual_inversion":
            mark_skipped_embeddings(items, runtime)
        return {"page": page, "items": items, "folders": folders(items),
                "seconds": round(time.perf_counter() - started, 4)}

    @app.get("/sd_extra_networks/thumb", include_in_schema=False)
    def thumb(request: Request, page: str, path: str) -> FileResponse:
        check(request)
        extension_page = extension_card_page(runtime, page)
        if extension_page is not None:
            found = extension_page_preview(extension_page, path)
        else:
            found = preview_path(page_catalog(runtime, page), path)
        if found is None:
            raise HTTPException(404, f"no preview image {path!r} in the {page} folders")
        return FileResponse(found, headers={"Cache-Control": "max-age=60"})

    @app.post("/sd_extra_networks/user-metadata", include_in_schema=False)
    def user_metadata(request: Request, page: str = Body(...), path: str = Body(...),
                      data: dict[str, Any] = Body(...)) -> dict[str, Any]:
        check(request)
        catalog = page_catalog(runtime, page)
        file = next((f for f in catalog.files() if f.rel == path), None)
        if file is None:
            raise HTTPException(404, f"no {page} file {path!r}")
        try:
            return save_user_metadata(file, data)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    @app.post("/sd_extra_networks/select-checkpoint", include_in_schema=False)
    def select_checkpoint(request: Request, name: str = Body(..., embed=True)) -> dict[str, str]:
        check(request)
        try:
            info = runtime.select_checkpoint(name)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {"title": info.title}
