"""/sdapi/v1/scripts, /sdapi/v1/script-info and /sdapi/v1/extensions in A1111's shapes.

Scripts are the built-in ones plus those the loaded extensions define; `script-info`'s `args`
come from each script's UI (built once in a throwaway gradio Blocks when no page was built).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modules.api.catalog_routes import alwayson_script_names
from modules.runtime import Runtime


def _builtin_names(mode: str) -> list[str]:
    from modules.scripts import BUILTIN_SCRIPTS, IMG2IMG_ONLY

    return [n for n in sorted(BUILTIN_SCRIPTS) if mode == "img2img" or n not in IMG2IMG_ONLY]


def script_lists(runtime: Runtime) -> dict[str, list[str]]:
    """Built-in scripts, built-in always-on features (ControlNet, named as A1111's extension), extensions'."""
    host = runtime.extensions
    always = alwayson_script_names(runtime)
    out = {}
    for mode in ("txt2img", "img2img"):
        extra = [e.key for e in host.scripts_for(mode)] if host is not None else []
        out[mode] = _builtin_names(mode) + always + extra
    return out


def script_info(runtime: Runtime) -> list[dict[str, Any]]:
    """Clients look for "controlnet" here to find the ControlNet API."""
    items = [{"name": n, "is_alwayson": False, "is_img2img": mode == "img2img", "args": []}
             for mode in ("txt2img", "img2img") for n in _builtin_names(mode)]
    items += [{"name": name, "is_alwayson": True, "is_img2img": img2img, "args": []}
              for name in alwayson_script_names(runtime) for img2img in (False, True)]
    host = runtime.extensions
    if host is None:
        return items
    for entry in host.entries:
        args = [{"label": a.label, "value": a.value, "minimum": a.minimum, "maximum": a.maximum, "step": a.step,
                 "choices": a.choices} for a in host.arg_specs(entry)]
        items.append({"name": entry.key, "is_alwayson": entry.alwayson, "is_img2img": entry.mode == "img2img",
                      "args": args})
    return items


def extension_list(runtime: Runtime) -> list[dict[str, Any]]:
    from modules.extensions.git_repo import git_info

    host = runtime.extensions
    out = []
    for ext in host.discover() if host is not None else []:
        info = git_info(ext.path)
        if not info.remote:
            continue
        out.append({"name": ext.name, "remote": info.remote, "branch": info.branch,
                    "commit_hash": info.commit_hash, "commit_date": info.commit_date, "version": info.version,
                    "enabled": ext.enabled})
    return out


def extension_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    router.add_api_route("/scripts", lambda: script_lists(runtime), methods=["GET"], name="scripts")
    router.add_api_route("/script-info", lambda: script_info(runtime), methods=["GET"], name="script_info")
    router.add_api_route("/extensions", lambda: extension_list(runtime), methods=["GET"], name="extensions")
    return router
