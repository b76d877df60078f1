"""/sdapi/v1 lists (samplers, schedulers, styles, scripts) and the routes whose feature is missing.

A route whose feature has not landed answers 501 with a message naming what is missing; it
never returns an invented or empty-by-accident result that a client would trust. Lists whose
data genuinely exists (samplers, schedule types, styles, the empty script list) are served.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modules.api.errors import not_available
from modules.runtime import Runtime

# path -> (method, feature, hint): every A1111 route whose feature is not in this version.
MISSING: tuple[tuple[str, str, str, str], ...] = (
    ("/create/embedding", "POST", "Embedding training", ""),
    ("/create/hypernetwork", "POST", "Hypernetworks", ""),
    ("/train/embedding", "POST", "Embedding training", ""),
    ("/train/hypernetwork", "POST", "Hypernetworks", ""),
)


def style_list(styles: Any) -> list[dict[str, Any]]:
    """`[{name, prompt, negative_prompt}]` from the style database."""
    items = getattr(styles, "styles", None) or {}
    return [{"name": name, "prompt": getattr(style, "prompt", ""),
             "negative_prompt": getattr(style, "negative_prompt", "")} for name, style in items.items()]


def _add_missing(router: APIRouter, path: str, method: str, feature: str, hint: str) -> None:
    def handler() -> None:
        raise not_available(feature, hint)

    name = "missing" + path.replace("/", "_")
    router.add_api_route(path, handler, methods=[method], status_code=501, name=name,
                         summary=f"{feature}: not available yet (501)")


def missing_feature_routes(router: APIRouter) -> None:
    for path, method, feature, hint in MISSING:
        _add_missing(router, path, method, feature, hint)



def alwayson_script_names(runtime: Runtime) -> list[str]:
    """Built-in features that answer `alwayson_scripts` entries, named as A1111's extensions are."""
    return ["controlnet"] if getattr(runtime, "controlnet", None) is not None else []


def catalog_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/samplers")
    def samplers() -> list[dict[str, Any]]:
        """Every sampler in UI order: name, aliases, options (e.g. its default schedule type)."""
        return [spec.api_dict() for spec in runtime.samplers.list()]

    @router.get("/schedulers")
    def schedulers() -> list[dict[str, Any]]:
        return [spec.api_dict() for spec in runtime.samplers.schedulers()]

    @router.get("/prompt-styles")
    def prompt_styles() -> list[dict[str, Any]]:
        return style_list(runtime.styles)

    missing_feature_routes(router)
    return router
