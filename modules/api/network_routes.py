"""/sdapi/v1 routes of the extra networks, in A1111's shapes.

GET `loras` -> [{name, alias, path, metadata}]; GET `embeddings` -> {loaded: {name: {step,
sd_checkpoint, sd_checkpoint_name, shape, vectors}}, skipped: {...}}; GET `sd-vae` ->
[{model_name, filename}]; GET `hypernetworks` -> [{name, path}]; the `refresh-*` POSTs rescan
the folders and answer null. A LoRA whose header cannot be read is listed with an extra
`error` field (A1111 has none) so clients can show it as broken.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modules.api.errors import ApiError
from modules.runtime import Runtime


def _services(runtime: Runtime) -> Any:
    if runtime.networks is None:
        raise ApiError(503, "extra networks are not set up in this server")
    return runtime.networks


def lora_list(services: Any) -> list[dict[str, Any]]:
    out = []
    for file in services.loras.files():
        item: dict[str, Any] = {"name": file.name, "alias": file.alias, "path": str(file.path),
                                "metadata": file.metadata()}
        if file.error:
            item["error"] = file.error
        out.append(item)
    return out


def embedding_lists(runtime: Runtime) -> dict[str, dict[str, Any]]:
    view = _services(runtime).embeddings.lookup(runtime.models.current)
    skipped = {name: emb.api_info() for name, emb in view.skipped.items()}
    return {"loaded": {name: emb.api_info() for name, emb in view.loaded.items()}, "skipped": skipped}


def network_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/loras")
    def loras() -> list[dict[str, Any]]:
        return lora_list(_services(runtime))

    @router.post("/refresh-loras")
    def refresh_loras() -> None:
        _services(runtime).loras.refresh()

    @router.get("/embeddings")
    def embeddings() -> dict[str, dict[str, Any]]:
        return embedding_lists(runtime)

    @router.post("/refresh-embeddings")
    def refresh_embeddings() -> None:
        _services(runtime).embeddings.refresh()

    @router.get("/sd-vae")
    def sd_vae() -> list[dict[str, Any]]:
        return [{"model_name": f.path.name, "filename": str(f.path)} for f in _services(runtime).vae.catalog.files()]

    @router.post("/refresh-vae")
    def refresh_vae() -> None:
        _services(runtime).vae.catalog.refresh()

    @router.get("/hypernetworks")
    def hypernetworks() -> list[dict[str, Any]]:
        return [{"name": f.name, "path": str(f.path)} for f in _services(runtime).hypernetworks.files()]

    return router
