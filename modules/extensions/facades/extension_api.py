"""`modules.extension_api`: this app's own extension API (versioned), beside the A1111 facades.

    from modules import extension_api as api
    api.require(1)                               # refuse to load on an app with an older API
    api.on("on_step", fn)                        # hook points: modules/hooks/host.py (HOOK_POINTS)
    api.add_setting("key", default, "Label")     # appears in Settings under the extension's name
    api.add_tab("Title", build)                  # build() makes gradio components (inside the tab)
    api.add_route("GET", "/my-ext/thing", fn)    # a FastAPI route on the app
    api.add_feature(feature)                     # a job feature (modules/engine/features.py)
    api.add_sampler("Name", fn, ...)             # the Sampling method list, /sdapi/v1/samplers
    api.add_scheduler("name", "Label", fn)       # the Schedule type list, /sdapi/v1/schedulers
    api.add_upscaler("Name", fn, scale=4)        # the upscaler lists, /sdapi/v1/upscalers
    api.add_preprocessor("name", fn, ...)        # ControlNet's preprocessors, /controlnet/module_list
    api.add_extra_network("name", fn)            # <name:arg1:arg2> prompt tags (modules/networks/extension_networks.py)
    api.add_request_field("name", "float", ...) # a txt2img/img2img API field + infotext key; a feature
                                                 # reads it with `setup.req.value("name")`

Registrations go to this app instance's own registries (the Runtime's), never to module globals.
"""

from __future__ import annotations

from typing import Any

from modules.extensions.facades.importer import FacadeModule
from modules.hooks.host import HOOK_POINTS
from modules.settings.schema import OptionInfo

API_VERSION = 1


class ExtensionApiError(RuntimeError):
    pass


def build(host: Any, owner: str) -> FacadeModule:
    runtime = host.runtime
    module = FacadeModule("modules.extension_api")
    module.VERSION = API_VERSION
    module.HOOK_POINTS = dict(HOOK_POINTS)

    def require(version: int) -> None:
        if version > API_VERSION:
            raise ExtensionApiError(f"extension '{owner}' needs extension API version {version}; this app "
                                    f"offers {API_VERSION}. Update the app or use an older version of the extension.")

    def on(point: str, fn: Any, version: int = 1) -> None:
        runtime.hooks.register(point, fn, owner=owner, version=version)

    def add_setting(key: str, default: Any, label: str, component: str = "auto", **kw: Any) -> None:
        runtime.settings.add_option(key, OptionInfo(default, label, f"ext-{owner}", component,
                                                    extra={"section_title": owner}, **kw))

    def add_tab(title: str, build_tab: Any, elem_id: str | None = None) -> None:
        host.add_callback("own_tabs", owner, lambda: (title, build_tab, elem_id or f"tab_{owner}"))

    def add_route(method: str, path: str, fn: Any) -> None:
        host.add_callback("app_started", owner, lambda _demo, app: app.add_api_route(path, fn, methods=[method]))

    def add_feature(feature: Any) -> None:
        runtime.features.register(feature)

    def add_request_field(name: str, kind: str, *, default: Any = None, infotext: str | None = None,
                          label: str | None = None, minimum: float | None = None, maximum: float | None = None,
                          modes: tuple[str, ...] = ("txt2img", "img2img"), description: str | None = None) -> None:
        """A request parameter of the app's field table (docs/SEAMS.md, "The field table")."""
        from modules.engine.field_rules import Range
        from modules.engine.request_fields import RequestField

        where = frozenset(modes)
        bound = ("between {low} and {high}" if minimum is not None and maximum is not None
                 else "at least {low}" if minimum is not None else "at most {high}")
        rules = () if minimum is None and maximum is None else (
            Range(low=minimum, high=maximum, in_schema=True, message="{name} must be " + bound + ", got {value}"),)
        row = RequestField(name, infotext, kind, label, default=default, bodies=where, api_modes=where,
                           ui_tabs=where, rules=rules, description=description or f"Added by the extension '{owner}'")
        try:
            runtime.request_fields.add(row)
        except (ValueError, RuntimeError) as e:
            raise ExtensionApiError(f"extension '{owner}': {e}") from e

    for fn in (require, on, add_setting, add_tab, add_route, add_feature, add_request_field,
               *registry_functions(runtime, owner)):
        setattr(module, fn.__name__, fn)
    module.settings = lambda: runtime.settings.snapshot()
    return module


def registry_functions(runtime: Any, owner: str) -> list[Any]:
    """`add_sampler`, `add_scheduler`, `add_upscaler`, `add_preprocessor` bound to `runtime`."""

    def add_sampler(name: str, fn: Any, *, aliases: tuple[str, ...] = (), scheduler: str | None = None,
                    kind: str = "kdiffusion", second_order: bool = False, description: str = "",
                    options: dict[str, Any] | None = None) -> None:
        """`fn(model, x, sigmas, *, extra_args, callback, noise_sampler, options) -> x` (k-diffusion
        convention: `model(x, sigma_batch)` returns the denoised latent; sigmas end with 0)."""
        from modules.samplers.schedulers import SCHEDULERS
        from modules.samplers.spec import SamplerSpec

        builtin = [s.name for s in SCHEDULERS[1:]]
        if scheduler is not None and scheduler not in builtin:
            raise ExtensionApiError(f"extension '{owner}': sampler '{name}' names schedule type {scheduler!r} as its "
                                    f"default; use one of the built-in ones ({', '.join(builtin)}) or None")
        runtime.samplers.add(SamplerSpec(name=name, aliases=tuple(aliases), default_scheduler=scheduler, fn=fn,
                                         options=dict(options or {}, **({"scheduler": scheduler} if scheduler else {})),
                                         kind=kind, second_order=second_order,
                                         description=description or f"Added by the extension '{owner}'"))

    def add_scheduler(name: str, label: str, fn: Any, *, aliases: tuple[str, ...] = (), default_rho: float = -1.0,
                      need_inner_model: bool = False) -> None:
        """`fn(ctx: ScheduleContext) -> n+1 descending sigmas` (modules/samplers/schedulers.py)."""
        from modules.samplers.schedulers import SchedulerSpec

        runtime.samplers.add_scheduler(SchedulerSpec(name, label, tuple(aliases), default_rho, need_inner_model, fn))

    def add_upscaler(name: str, fn: Any, *, scale: float = 4.0) -> None:
        """`fn(image: PIL.Image, scale: float) -> PIL.Image` about `scale` times larger."""
        if runtime.upscalers is None:
            raise ExtensionApiError(f"extension '{owner}': this app has no upscalers to add '{name}' to")
        runtime.upscalers.register(name, fn, scale, owner=owner)

    def add_preprocessor(name: str, fn: Any, *, alias: str | None = None, tags: tuple[str, ...] = (),
                         uses_resolution: bool = True, threshold_a: Any = None, threshold_b: Any = None) -> None:
        """`fn(pixels: HxWx3 uint8 array, call: ProcessorCall) -> HxWx3 uint8 map`; `threshold_a/b` are
        `(name, value, min, max, step)` slider tuples or None; `tags` name Control Types ("Canny")."""
        from modules.controlnet.preprocessors.spec import Preprocessor, Slider

        service = getattr(runtime, "controlnet", None)
        if service is None:
            raise ExtensionApiError(f"extension '{owner}': ControlNet is not available to add '{name}' to")

        def slider(spec: Any) -> Any:
            return Slider(*spec) if isinstance(spec, (tuple, list)) else spec

        service.preprocessors.add(Preprocessor(name, fn, tuple(tags), alias, uses_resolution,
                                               slider(threshold_a), slider(threshold_b)))

    def add_extra_network(name: str, fn: Any, *, aliases: tuple[str, ...] = (), items: Any = None,
                          title: str | None = None) -> None:
        """`<name:a:b>` tags: `fn(params_list, call)` for each pass of a job whose prompt has them;
        `params_list` holds `ExtraNetworkParams` (`.items`, `.positional`, `.named`), `call` is a
        `NetworkCall` (add_unet_wrapper, add_weight_delta, wrap_forward, pre_cfg, post_cfg, on_step,
        infotext, comments, model, pass_index, settings). `items()` (optional) lists cards for a page
        `title` of the card browser: dicts with `name` and optional `prompt`, `description`, `preview`
        (a local image file)."""
        from modules.networks.cards import PAGES
        from modules.networks.extension_cards import CardPage
        from modules.networks.extension_networks import NetworkType, extension_networks

        if not callable(fn) or (items is not None and not callable(items)):
            raise ExtensionApiError(f"extension '{owner}': add_extra_network('{name}', fn, items=...) needs a "
                                    "function fn(params_list, call) and, if given, a function items()")
        try:
            table = extension_networks(runtime)
            table.add(NetworkType(name, owner, fn), tuple(aliases))
            if items is not None:
                table.add_page(CardPage(name, title or name, owner, name, items), PAGES)
        except ValueError as err:
            raise ExtensionApiError(f"extension '{owner}': {err}") from None

    return [add_sampler, add_scheduler, add_upscaler, add_preprocessor, add_extra_network]
