"""`modules.sd_hijack`: only `model_hijack.embedding_db`, the textual-inversion embeddings A1111
extensions read (prompt helpers list them by name and width). Nothing of A1111's hijack of the
model itself is offered; any other name is a clear error naming it."""

from __future__ import annotations

from typing import Any

from modules.extensions.facades.importer import FacadeModule, missing


class EmbeddingDb:
    """`model_hijack.embedding_db`: the embeddings the loaded model can use (`word_embeddings`) and
    those it cannot (`skipped_embeddings`), name -> embedding (`.shape` = vector width, `.vectors`,
    `.filename`, `.step`), as our embeddings list sees them now."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime

    def _view(self) -> Any:
        if self._runtime.networks is None:
            raise missing("modules.sd_hijack.model_hijack", "embedding_db (extra networks are not set up)")
        return self._runtime.networks.embeddings.lookup(self._runtime.models.current)

    @property
    def word_embeddings(self) -> dict[str, Any]:
        return dict(self._view().loaded)

    @property
    def skipped_embeddings(self) -> dict[str, Any]:
        return dict(self._view().skipped)

    def load_textual_inversion_embeddings(self, force_reload: bool = False) -> None:
        """Rescan the embeddings folder (new files are listed; the next job uses them anyway)."""
        if self._runtime.networks is not None:
            self._runtime.networks.embeddings.refresh()

    def __getattr__(self, name: str) -> Any:
        raise missing("modules.sd_hijack.model_hijack.embedding_db", name)


class ModelHijack:
    def __init__(self, runtime: Any) -> None:
        self.embedding_db = EmbeddingDb(runtime)

    def __getattr__(self, name: str) -> Any:
        raise missing("modules.sd_hijack.model_hijack", name)


def build(runtime: Any) -> FacadeModule:
    module = FacadeModule("modules.sd_hijack")
    module.model_hijack = ModelHijack(runtime)  # type: ignore[attr-defined]
    return module
