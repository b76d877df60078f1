"""The card browser's data: one card per checkpoint, embedding or LoRA, as plain dicts.

Why server-built, client-filtered: the list for 5,000 LoRAs is built from the folder scan alone
(previews and `name.json` notes are found in the scan's directory listings, not with extra disk
calls; safetensors headers are not read), sent once per tab open, and searched and sorted in
the browser without another request.
Per-card user metadata is A1111's `name.json` beside the file: `activation text`,
`preferred weight`, `description`, `notes`, `sd version`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.networks.catalog import NetworkCatalog, NetworkFile

PREVIEW_SUFFIXES = (".png", ".preview.png", ".jpg", ".preview.jpg", ".jpeg", ".webp", ".preview.webp")
PAGES = ("checkpoints", "textual_inversion", "lora")
USER_METADATA_KEYS = ("description", "activation text", "preferred weight", "notes", "sd version")


@dataclass(frozen=True)
class CardSource:
    """How one page lists its files."""

    page: str
    catalog: NetworkCatalog


def preview_file(file: NetworkFile, names: frozenset[str]) -> str | None:
    """The preview image's file name beside `file` (A1111's order), or None."""
    for suffix in PREVIEW_SUFFIXES:
        if file.name + suffix in names:
            return file.name + suffix
    return None


def user_metadata(file: NetworkFile, names: frozenset[str] | None = None) -> dict[str, Any]:
    """`name.json` beside the file (empty when there is none or it is not a JSON object)."""
    if names is not None and file.name + ".json" not in names:
        return {}
    try:
        data = json.loads((file.path.parent / f"{file.name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_user_metadata(file: NetworkFile, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge `updates` (A1111's keys only) into `name.json`; returns the stored dict."""
    unknown = sorted(set(updates) - set(USER_METADATA_KEYS))
    if unknown:
        raise ValueError(f"unknown card metadata {unknown}; use {', '.join(USER_METADATA_KEYS)}")
    data = {**user_metadata(file), **updates}
    (file.path.parent / f"{file.name}.json").write_text(json.dumps(data, indent=4), encoding="utf-8")
    return data


def _prompt(page: str, file: NetworkFile, meta: dict[str, Any], default_weight: float) -> str:
    if page == "lora":
        weight = meta.get("preferred weight") or default_weight
        tag = f"<lora:{file.name}:{float(weight):g}>"
        activation = str(meta.get("activation text") or "").strip()
        return f"{tag} {activation}" if activation else tag
    return file.name


def cards(page: str, catalog: NetworkCatalog, default_weight: float = 1.0) -> list[dict[str, Any]]:
    """Every card of a page: name, tag to insert, folder, path, dates, preview, description."""
    out = []
    for file in catalog.files():
        names = catalog.sibling_names(file.path.parent)
        meta = user_metadata(file, names)
        preview = preview_file(file, names)
        rel = file.rel
        out.append({
            "name": file.name, "prompt": _prompt(page, file, meta, default_weight), "folder": file.folder,
            "path": rel, "mtime": file.mtime, "size": file.size,
            "preview": f"{file.folder}/{preview}".lstrip("/") if preview else None,
            "description": str(meta.get("description") or ""),
            "user_metadata": {k: meta[k] for k in USER_METADATA_KEYS if k in meta},
            "search": f"{rel} {meta.get('description') or ''} {meta.get('activation text') or ''}".lower(),
        })
    return out


def preview_path(catalog: NetworkCatalog, rel: str) -> Path | None:
    """A preview image inside one of the catalog's folders, never outside them."""
    if not rel.lower().endswith((".png", ".jpg", ".jpeg", ".webp")):
        return None
    for root in catalog.roots:
        candidate = (root / rel).resolve()
        try:
            candidate.relative_to(root.resolve())
        except ValueError:
            continue
        if candidate.is_file():
            return candidate
    return None


def folders(items: list[dict[str, Any]]) -> list[str]:
    """Every folder (and its parents) that holds a card, for the tree."""
    found: set[str] = set()
    for item in items:
        parts = item["folder"].split("/") if item["folder"] else []
        for i in range(1, len(parts) + 1):
            found.add("/".join(parts[:i]))
    return sorted(found)
