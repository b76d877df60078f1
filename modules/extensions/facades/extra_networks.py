"""`modules.extra_networks`: A1111's extra-network types, over the extension API's own ones.

An A1111 extension subclasses `ExtraNetwork(name)` and calls `register_extra_network(net)`; the
type then gets the `<name:...>` tags of each job (`activate(p, params_list)`, before every batch
with the job's `p` and that batch's first prompt's tags; an empty list when it has none, as A1111 does) and
`deactivate(p)` after the job. Changes to `p.extra_generation_params` reach the infotext. The
registration goes to this app's own table (modules/networks/extension_networks.py).

`modules.ui_extra_networks`: `ExtraNetworksPage(title)` subclasses with `list_items()` and
`register_page(page)` add a tab of cards to the card browser (modules/networks/extension_cards.py).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from modules.extensions.facades.importer import FacadeModule
from modules.text.extra_networks import ExtraNetworkParams, parse_prompt_extra_networks, parse_prompts_extra_networks


class ExtraNetwork:
    """A1111's base class: subclasses implement `activate(p, params_list)` and `deactivate(p)`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def activate(self, p: Any, params_list: list[ExtraNetworkParams]) -> None:
        raise NotImplementedError(f"extra network '{self.name}' does not implement activate(p, params_list)")

    def deactivate(self, p: Any) -> None:
        """Nothing to undo by default."""


def parse_prompt(prompt: str) -> tuple[str, defaultdict[str, list[ExtraNetworkParams]]]:
    """The prompt without its tags, and `{type: [ExtraNetworkParams, ...]}` (A1111's shape)."""
    text, found = parse_prompt_extra_networks(prompt)
    return text, defaultdict(list, found)


def parse_prompts(prompts: list[str]) -> tuple[list[str], defaultdict[str, list[ExtraNetworkParams]]]:
    """Every prompt without its tags; the networks of the first prompt (A1111's rule)."""
    texts, found = parse_prompts_extra_networks(list(prompts))
    return texts, defaultdict(list, found)


def build(host: Any, owner: str) -> FacadeModule:
    from modules.extensions.facades.extension_api import ExtensionApiError
    from modules.networks.extension_networks import NetworkType, extension_networks

    runtime = host.runtime
    module = FacadeModule("modules.extra_networks")

    def register(extra_network: Any, aliases: tuple[str, ...] = ()) -> None:
        name = str(getattr(extra_network, "name", ""))
        network = NetworkType(name, owner, lambda params, call: extra_network.activate(call.p, params),
                              lambda call: extra_network.deactivate(call.p), per_job=True, always=True,
                              wants_p=True)
        try:
            extension_networks(runtime).add(network, aliases)
        except ValueError as err:
            raise ExtensionApiError(f"extension '{owner}': {err}") from None

    def register_extra_network(extra_network: Any) -> None:
        register(extra_network)

    def register_extra_network_alias(extra_network: Any, alias: str) -> None:
        table = extension_networks(runtime)
        network = table.types.get(str(getattr(extra_network, "name", "")))
        if network is None:
            raise ExtensionApiError(f"extension '{owner}': register the extra network "
                                    f"'{getattr(extra_network, 'name', '?')}' before its alias '{alias}'")
        table.add_alias(network, alias)

    for name, value in (("ExtraNetwork", ExtraNetwork), ("ExtraNetworkParams", ExtraNetworkParams),
                        ("register_extra_network", register_extra_network),
                        ("register_extra_network_alias", register_extra_network_alias),
                        ("parse_prompt", parse_prompt), ("parse_prompts", parse_prompts)):
        setattr(module, name, value)
    return module


PREVIEW_SUFFIXES = (".png", ".preview.png", ".jpg", ".preview.jpg", ".jpeg", ".webp", ".preview.webp")


class ExtraNetworksPage:
    """A1111's card page: subclasses implement `list_items()` (dicts with `name`, `prompt`,
    `description`, `preview` / `local_preview` (a local image file), `search_terms`)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.name = title.lower()
        self.id_page = self.name.replace(" ", "_")
        self.allow_negative_prompt = False

    def refresh(self) -> None:
        """Nothing cached here: the cards are listed each time the tab is opened."""

    def list_items(self) -> Any:
        raise NotImplementedError(f"the card page '{self.title}' does not implement list_items()")

    def find_preview(self, path: str) -> str | None:
        """A preview image beside `path` (without its extension), as A1111 looks for one."""
        base = str(Path(path).with_suffix("")) if Path(path).suffix else str(path)
        return next((base + s for s in PREVIEW_SUFFIXES if Path(base + s).is_file()), None)

    def link_preview(self, filename: str) -> str:
        return filename

    def find_description(self, path: str) -> str | None:
        base = str(Path(path).with_suffix("")) if Path(path).suffix else str(path)
        for candidate in (base + ".txt", base + ".description.txt"):
            try:
                return Path(candidate).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
        return None

    def search_terms_from_path(self, filename: str, possible_directories: Any = None) -> str:
        return str(filename)


def build_ui(host: Any, owner: str) -> FacadeModule:
    from modules.extensions.facades.extension_api import ExtensionApiError
    from modules.networks.cards import PAGES
    from modules.networks.extension_cards import CardPage
    from modules.networks.extension_networks import extension_networks

    runtime = host.runtime
    module = FacadeModule("modules.ui_extra_networks")

    def register_page(page: Any) -> None:
        page_id = str(getattr(page, "id_page", "") or "")
        if not page_id.replace("-", "_").isidentifier():
            raise ExtensionApiError(f"extension '{owner}': the card page id {page_id!r} must be letters, digits, "
                                    "'_' or '-'")
        try:
            extension_networks(runtime).add_page(CardPage(page_id, str(page.title), owner, page.name,
                                                          lambda: list(page.list_items())), PAGES)
        except ValueError as err:
            raise ExtensionApiError(f"extension '{owner}': {err}") from None

    module.ExtraNetworksPage = ExtraNetworksPage
    module.register_page = register_page
    return module
