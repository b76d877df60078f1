"""ExtensionHost: the Runtime's extensions — loading, their scripts and callbacks, isolation.

One host per Runtime (`runtime.extensions`). Loading runs each enabled extension's
`scripts/*.py` with the A1111 facades; an extension that fails to import is named in the
page's banner and skipped, the others load. Scripts and callbacks are called isolated: one
that raises is skipped for that call, with a message naming it in the job's comments.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.cmd_args import extension_access_allowed
from modules.extensions.extension import Extension, discover
from modules.extensions.facades import callbacks as callbacks_facade
from modules.extensions.facades import extension_api, paths_images, script_api, shared
from modules.extensions.facades import extra_networks as extra_networks_facade
from modules.extensions.facades import processing as processing_facade
from modules.extensions.facades.importer import ModulesView, facade_builtins
from modules.extensions.facades.own_packages import OwnPackages
from modules.extensions.install import ACCESS_REFUSED, InstallError, run_install_script

log = logging.getLogger(__name__)

EXTENSION_API_VERSION = 1


@dataclass
class ArgSpec:
    """One input of a script's UI, as /sdapi/v1/script-info shows it (filled by the UI build)."""

    label: str | None
    value: Any = None
    minimum: Any = None
    maximum: Any = None
    step: Any = None
    choices: Any = None


@dataclass
class ScriptEntry:
    owner: str  # extension name
    script: Any  # a facades.script_api.Script
    mode: str  # "txt2img" / "img2img"
    alwayson: bool
    title: str
    args: list[ArgSpec] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.title.strip().lower()


class ExtensionHost:
    def __init__(self, runtime: Any, builtin_dir: Path | None = None) -> None:
        self.runtime = runtime
        self.builtin_dir = builtin_dir or runtime.paths.app_root / "extensions-builtin"
        self.extensions: list[Extension] = []
        self.entries: list[ScriptEntry] = []
        self.callbacks: dict[str, list[tuple[str, Callable[..., Any]]]] = {}
        self.errors: list[str] = []
        self.reported: set[tuple[str, str]] = set()  # (extension, hook) failures already named on the page
        self.ui_inspector: Callable[[ScriptEntry], list[ArgSpec]] | None = None
        self.own_packages: dict[str, OwnPackages] = {}  # per extension: its files importable by name
        from modules.extensions.manage import ExtensionManager

        self.manager = ExtensionManager(self)

    # --- loading -----------------------------------------------------------------------
    def discover(self) -> list[Extension]:
        return discover(self.builtin_dir, self.runtime.paths.extensions_dir, self.runtime.args,
                        self.runtime.settings)

    def load(self, run_installers: bool | None = None) -> None:
        """Find, install (install.py unless --skip-install) and load every enabled extension."""
        self.extensions = self.discover()
        if run_installers is None:
            run_installers = not getattr(self.runtime.args, "skip_install", False)
        update_all = getattr(self.runtime.args, "update_all_extensions", False)
        for ext in self.extensions:
            self.errors += ext.errors
            if not ext.enabled:
                continue
            if update_all and (ext.path / ".git").exists():
                self._update_at_launch(ext)
            if run_installers:
                try:
                    run_install_script(ext.path)
                except InstallError as e:
                    self._fail(ext, str(e))
            for file in ext.script_files():
                self._load_script_file(ext, file)
        self.call("ui_settings")
        self.runtime.warnings.extend(e for e in self.errors if e not in self.runtime.warnings)

    def _update_at_launch(self, ext: Extension) -> None:
        """--update-all-extensions: move to the upstream commit before loading (A1111 pulls)."""
        from modules.extensions.git_repo import GitError, update_to_upstream

        try:
            update_to_upstream(ext.path)
        except GitError as e:
            self._fail(ext, f"Extension '{ext.name}' could not be updated: {e}")

    def _fail(self, ext: Extension, message: str) -> None:
        log.error("%s", message)
        ext.errors.append(message)
        self.errors.append(message)

    def modules_view(self, ext: Extension) -> ModulesView:
        rt = self.runtime
        factories: dict[str, Callable[[], types.ModuleType]] = {
            "scripts": lambda: script_api.build(self, str(ext.path)),
            "script_callbacks": lambda: callbacks_facade.build(self, ext.name),
            "shared": lambda: shared.build(rt, ext.name),
            "processing": processing_facade.build,
            "paths": lambda: paths_images.build_paths(rt),
            "images": lambda: paths_images.build_images(rt),
            "ui_components": lambda: importlib.import_module("modules.ui.form_components").build(),
            "extension_api": lambda: extension_api.build(self, ext.name),
            "extra_networks": lambda: extra_networks_facade.build(self, ext.name),
            "ui_extra_networks": lambda: extra_networks_facade.build_ui(self, ext.name),
            "sd_hijack": lambda: importlib.import_module("modules.extensions.facades.sd_hijack").build(rt),
        }
        return ModulesView(factories)

    def _load_script_file(self, ext: Extension, file: Path) -> None:
        name = f"sdui_extension.{ext.name}.{file.stem}"
        module = types.ModuleType(name)
        module.__file__ = str(file)
        prefix = f"sdui_extension.{ext.name}.own{id(self):x}"  # per host: a second app in a process reloads them
        own = self.own_packages.setdefault(ext.name, OwnPackages(ext.path, prefix))
        module.__dict__["__builtins__"] = facade_builtins(self.modules_view(ext), own)
        sys.modules[name] = module  # dataclasses and pickle look classes up here
        try:
            code = compile(file.read_text(encoding="utf-8"), str(file), "exec")
            exec(code, module.__dict__)  # noqa: S102 - running the user's extension is the point
            self._collect_scripts(ext, module, file)
        except Exception as err:  # isolation: a broken extension never stops the app
            sys.modules.pop(name, None)
            self._fail(ext, f"Extension '{ext.name}' could not be loaded ({file.name}): "
                            f"{type(err).__name__}: {err}")

    def _collect_scripts(self, ext: Extension, module: types.ModuleType, file: Path) -> None:
        for value in list(vars(module).values()):
            if not (isinstance(value, type) and issubclass(value, script_api.Script)
                    and value is not script_api.Script and value.__module__ == module.__name__):
                continue
            for mode in ("txt2img", "img2img"):
                script = value()
                script.filename = str(file)
                script.is_txt2img, script.is_img2img = mode == "txt2img", mode == "img2img"
                shown = script.show(mode == "img2img")
                if not shown:
                    continue
                alwayson = shown is script_api.AlwaysVisible
                script.alwayson = alwayson
                self.entries.append(ScriptEntry(ext.name, script, mode, alwayson, script.title()))

    # --- callbacks ---------------------------------------------------------------------
    def add_callback(self, name: str, owner: str, fn: Callable[..., Any]) -> None:
        self.callbacks.setdefault(name, []).append((owner, fn))

    def call(self, name: str, *args: Any) -> list[Any]:
        """Call the `name` callbacks isolated; returns their results (failures are left out)."""
        results = []
        for owner, fn in self.callbacks.get(name, []):
            try:
                results.append(fn(*args))
            except Exception as err:
                message = f"Extension '{owner}' failed in on_{name} and was skipped: {type(err).__name__}: {err}"
                log.error("%s", message, exc_info=True)
                self.errors.append(message)
        return results

    def component_event(self, when: str, component: Any, kwargs: dict[str, Any], tab: str | None) -> None:
        """A page widget is about to be / was just built (`when`: "before"/"after"): the global
        `on_<when>_component` callbacks, then, while a generation tab is built, that tab's scripts
        (their `on_<when>_component(elem_id=...)` registrations, then `<when>_component`)."""
        for owner, fn in self.callbacks.get(f"{when}_component", []):
            self._component_call(owner, f"on_{when}_component", fn, component, **kwargs)
        if tab is None:
            return
        elem_id = kwargs.get("elem_id")
        for entry in self.scripts_for(tab):
            script = entry.script
            for wanted, fn in script.elem_id_callbacks(when) if elem_id else []:
                if wanted == elem_id:
                    self._component_call(entry.owner, f"on_{when}_component", fn,
                                         script_api.OnComponent(component=component))
            self._component_call(entry.owner, f"{when}_component", getattr(script, f"{when}_component"),
                                 component, **kwargs)

    def _component_call(self, owner: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """One isolated component callback: a failure is logged and named once per extension and hook
        (on the page's banner), and the page goes on being built."""
        try:
            fn(*args, **kwargs)
        except Exception as err:
            message = f"Extension '{owner}' failed in {what} and was skipped: {type(err).__name__}: {err}"
            if (owner, what) not in self.reported:  # once per build: it may fail for every widget
                log.error("%s", message, exc_info=True)
                self.reported.add((owner, what))
                self.errors.append(message)
                self.runtime.warnings.append(message)

    def unload(self) -> None:
        self.call("script_unloaded")

    # --- scripts -----------------------------------------------------------------------
    def scripts_for(self, mode: str) -> list[ScriptEntry]:
        return [e for e in self.entries if e.mode == mode]

    def find_script(self, mode: str, title: str | None, alwayson: bool | None = None) -> ScriptEntry | None:
        key = (title or "").strip().lower()
        return next((e for e in self.scripts_for(mode) if e.key == key
                     and (alwayson is None or e.alwayson == alwayson)), None)

    def arg_specs(self, entry: ScriptEntry) -> list[ArgSpec]:
        if not entry.args and self.ui_inspector is not None:
            try:
                entry.args = self.ui_inspector(entry)
            except Exception as err:
                self.errors.append(f"Extension '{entry.owner}': the UI of script '{entry.title}' failed: {err}")
        return entry.args

    def script_args(self, entry: ScriptEntry, given: Any) -> list[Any]:
        """A script's arguments: positional (A1111's list) or by name (a dict keyed by the UI labels);
        missing ones take the UI's defaults."""
        specs = self.arg_specs(entry)
        defaults = [s.value for s in specs]
        if isinstance(given, dict):
            by_label = {s.label: i for i, s in enumerate(specs)}
            args = list(defaults)
            for label, value in given.items():
                if label not in by_label:
                    raise ValueError(f"script '{entry.title}' has no argument {label!r}; its arguments: "
                                     f"{', '.join(str(s.label) for s in specs)}")
                args[by_label[label]] = value
            return args
        given = list(given or [])
        return given + defaults[len(given):]

    def run_job(self, req: Any, ctx: Any, control: Any, inner: Callable[..., Any]) -> Any:
        """Run one job with the extension scripts around it (the plain job when none applies).

        A1111's order: `setup`, then the selected script's `run(p, *args)` or `process_images(p)`;
        `process_images` calls `before_process`, builds the prompts and seeds, `process`, runs the
        batches (per-batch and per-picture methods: extensions/script_lifecycle.py), `postprocess`.
        """
        alwayson = [e for e in self.scripts_for(req.mode) if e.alwayson]
        selected = self.find_script(req.mode, req.script_name, alwayson=False)
        if not alwayson and selected is None and not _networks_need_p(ctx):
            return inner(req, ctx, control)
        link = processing_facade.JobLink(ctx, control, inner, self)
        p = processing_facade.processing_for(req, link)
        p._active = [(e, self._alwayson_args(e, req)) for e in alwayson]
        p._runs_extension_script = selected is not None
        p._comments = []
        self._each(p, "setup")
        processed = None
        if selected is not None:
            processed = selected.script.run(p, *self.script_args(selected, req.script_args))
        if processed is None:
            processed = processing_facade.process_images(p)
        result = processing_facade.result_of(processed)
        result.comments += [c for c in p._comments if c not in result.comments]
        result.info["comments"] = "\n".join(result.comments)  # A1111's info carries them too
        return result

    def _alwayson_args(self, entry: ScriptEntry, req: Any) -> list[Any]:
        payload = req.alwayson_scripts.get(entry.key)
        given = payload.get("args", []) if isinstance(payload, dict) else payload
        return self.script_args(entry, given)

    def _each(self, p: Any, method: str, *extra: Any, **kwargs: Any) -> None:
        """Call `method` of every active AlwaysVisible script, isolated: one that raises is skipped
        for this call and named in the job's comments."""
        for entry, args in p._active:
            fn = getattr(entry.script, method, None)
            if fn is None:
                continue
            try:
                fn(p, *extra, *args, **kwargs)
            except Exception as err:
                message = (f"The '{entry.owner}' script '{entry.title}' failed in {method} and was skipped: "
                           f"{type(err).__name__}: {err}")
                log.error("%s", message, exc_info=True)
                if message not in p._comments:
                    p._comments.append(message)

    # --- access ------------------------------------------------------------------------
    def access_allowed(self) -> bool:
        return extension_access_allowed(self.runtime.args)

    def check_access(self) -> None:
        if not self.access_allowed():
            raise PermissionError(ACCESS_REFUSED)


def _networks_need_p(ctx: Any) -> bool:
    """A1111-style extra-network types get the job's `p`, so such jobs run through process_images."""
    from modules.networks.extension_networks import ExtensionNetworks

    return any(isinstance(f, ExtensionNetworks) and f.needs_p() for f in ctx.features)


def load_extensions(runtime: Any, builtin_dir: Path | None = None) -> ExtensionHost:
    """Build the Runtime's host and load the extensions (the composition root calls this once)."""
    host = ExtensionHost(runtime, builtin_dir)
    runtime.extensions = host
    if not (getattr(runtime.args, "disable_all_extensions", False)):
        host.load()
    else:
        host.extensions = host.discover()
    return host
