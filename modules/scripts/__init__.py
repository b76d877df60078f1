"""Built-in scripts selectable by name (A1111's `script_name`), e.g. "Outpainting mk2".

A script takes the whole request (its settings in `req.script_args`) and returns the job's
result; the API and UI look it up here by its lower-case title instead of wiring positional
UI lists. Extension scripts will register through the extension hook interface, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from modules.engine.context import EngineContext
from modules.engine.control import JobControl
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.validation import InvalidRequestError
from modules.scripts.declaration import ScriptDeclaration
from modules.scripts.outpainting import DECLARATION as OUTPAINTING
from modules.scripts.sd_upscale import DECLARATION as SD_UPSCALE

ScriptRunner = Callable[[GenerationRequest, EngineContext, "JobControl | None"], GenerationResult]

# Every built-in script declares itself (title, runner, parameters and their widgets).
BUILTIN_DECLARATIONS: tuple[ScriptDeclaration, ...] = (OUTPAINTING, SD_UPSCALE)
BUILTIN_SCRIPTS: Mapping[str, ScriptRunner] = MappingProxyType({d.key: d.run for d in BUILTIN_DECLARATIONS})
# Titles as A1111 shows them (GET /sdapi/v1/scripts lists these).
BUILTIN_TITLES: Mapping[str, str] = MappingProxyType({d.key: d.title for d in BUILTIN_DECLARATIONS})
# Built-ins that exist only for img2img (A1111's `show(is_img2img)`).
IMG2IMG_ONLY = frozenset(d.key for d in BUILTIN_DECLARATIONS if d.img2img_only)


def find_declaration(title: str | None) -> ScriptDeclaration | None:
    """The declaration of a built-in script by title (case and surrounding spaces ignored)."""
    key = (title or "").strip().lower()
    return next((d for d in BUILTIN_DECLARATIONS if d.key == key), None)


def find_builtin_script(name: str | None) -> ScriptRunner | None:
    """The runner for `name` (case and surrounding spaces ignored), or None."""
    if not name:
        return None
    return BUILTIN_SCRIPTS.get(name.strip().lower())


def run_script(req: GenerationRequest, ctx: EngineContext, control: JobControl | None = None) -> GenerationResult:
    """The one script dispatch: no script -> the plain job; else the named built-in script."""
    if is_no_script(req.script_name):
        from modules.engine.generate import generate

        return generate(req, ctx, control)
    return run_builtin_script(req, ctx, control)


def run_builtin_script(req: GenerationRequest, ctx: EngineContext,
                       control: JobControl | None = None) -> GenerationResult:
    """Run the script named by `req.script_name`; a clear error lists the known ones."""
    runner = find_builtin_script(req.script_name)
    if runner is None:
        known = ", ".join(BUILTIN_TITLES.values())
        raise InvalidRequestError(f"script {req.script_name!r} not found; built-in scripts: {known}")
    return runner(req, ctx, control)


def is_no_script(name: str | None) -> bool:
    """True for "no script selected" in any of the forms clients send (None, "", "None")."""
    return name is None or name.strip().lower() in ("", "none")
