"""API bodies -> one typed `GenerationRequest`, checked before it reaches the queue.

Everything that can be refused is refused here, before the job is queued, so a client gets a
422 naming the field at once instead of a failure after waiting its turn: unknown sampler,
schedule type, style, checkpoint, setting or script, undecodable images, sizes out of range.
Features that have not landed (firstpass_image, latent_mask) answer 501.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from modules.api.controlnet_mapping import ALWAYSON_SCRIPTS, controlnet_units
from modules.api.errors import ApiError, not_available
from modules.api.infotext_fill import parse_infotext, request_values, settings_values
from modules.api.model_defaults import fill_model_defaults
from modules.api.models import GenerationBody, Img2ImgBody, Txt2ImgBody
from modules.engine.request import REQUEST_ATTRS, GenerationRequest
from modules.engine.request_fields import REQUEST_FIELDS, RequestField, body_fields
from modules.engine.validation import InvalidRequestError, check_fields, steps_bound, validate_request
from modules.hires.params import validate_hires
from modules.hooks.payloads import InfotextPaste
from modules.images.codec import InputImageTooLargeError, decode_image_b64
from modules.refiner.switcher import check_request_checkpoints
from modules.runtime import Runtime
from modules.settings.store import SettingsError

NO_SCRIPT = ("", "none")


@dataclass
class PreparedJob:
    """A validated request plus what the response needs: the echo and the client's choices."""

    request: GenerationRequest
    parameters: dict[str, Any]
    send_images: bool = True
    persist_settings: dict[str, Any] = field(default_factory=dict)
    model_defaults: dict[str, Any] = field(default_factory=dict)  # unsent fields the model's values filled


def effective_fields(body: GenerationBody, runtime: Runtime, mode: str,
                     table: tuple[RequestField, ...] = REQUEST_FIELDS) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request fields after the infotext filled the unset ones, override_settings)."""
    values = body.model_dump()
    overrides = dict(body.override_settings or {})
    if body.infotext:
        params = parse_infotext(body.infotext, runtime.settings, runtime.styles)
        runtime.hooks.call("on_infotext_paste", InfotextPaste(body.infotext, params))
        values.update(request_values(params, mode, set(body.model_fields_set), table))
        overrides.update(settings_values(params, runtime.settings, overrides, runtime.checkpoints.find))
    values["override_settings"] = overrides
    return values, overrides


def refuse_unsupported_settings(values: dict[str, Any], runtime: Any = None) -> None:
    """Settings naming something that does not exist: accepting them would silently change nothing."""
    vae = values.get("sd_vae")
    if vae is None or str(vae) in ("Automatic", "None"):
        return
    selector = getattr(getattr(runtime, "networks", None), "vae", None)
    if selector is None:
        raise not_available("Choosing a separate VAE file (sd_vae)", "use 'Automatic'")
    if selector.find(str(vae)) is None:
        raise ApiError(422, f"sd_vae: VAE {vae!r} not found; GET /sdapi/v1/sd-vae lists the available ones "
                            "(or use 'Automatic' or 'None')")


def check_overrides(overrides: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Validate override_settings against the settings schema; a checkpoint must exist."""
    try:
        clean = runtime.settings.validate(overrides)
    except SettingsError as e:
        raise ApiError(422, f"override_settings: {e}") from e
    refuse_unsupported_settings(clean, runtime)
    name = clean.get("sd_model_checkpoint")
    if name:
        info = runtime.checkpoints.find(str(name))
        if info is None:
            raise ApiError(422, f"override_settings: checkpoint {name!r} not found; "
                                "GET /sdapi/v1/sd-models lists the available ones")
        clean["sd_model_checkpoint"] = info.title
    return clean


def check_unsupported(values: dict[str, Any]) -> None:
    """501 for requests that need a feature this version does not have yet."""
    if values.get("firstpass_image"):
        raise not_available("firstpass_image")
    if values.get("latent_mask"):
        raise not_available("latent_mask", "send the mask in 'mask'")


def check_scripts(values: dict[str, Any], mode: str, runtime: Runtime | None = None) -> None:
    """Built-in and extension scripts; anything else is unknown (422, as A1111)."""
    from modules.scripts import IMG2IMG_ONLY, find_builtin_script

    host = getattr(runtime, "extensions", None)
    name = values.get("script_name")
    if name is not None and str(name).strip().lower() not in NO_SCRIPT:
        key = str(name).strip().lower()
        builtin = find_builtin_script(key) is not None and not (mode != "img2img" and key in IMG2IMG_ONLY)
        if not builtin and (host is None or host.find_script(mode, key, alwayson=False) is None):
            raise ApiError(422, f"Script '{name}' not found; GET /sdapi/v1/scripts lists the available scripts")
    for script in values.get("alwayson_scripts") or {}:
        if str(script).lower() in ALWAYSON_SCRIPTS:
            continue
        if host is None or host.find_script(mode, script, alwayson=True) is None:
            raise ApiError(422, f"Script '{script}' not found in alwayson_scripts; "
                                "GET /sdapi/v1/script-info lists the available scripts")


def resolve_sampler(values: dict[str, Any], runtime: Runtime) -> tuple[str, str]:
    """`sampler_name`, else the deprecated `sampler_index` (API default "Euler")."""
    from modules.samplers.registry import UnknownSamplerError

    name = values.get("sampler_name") or values.get("sampler_index") or "Euler"
    try:
        return runtime.samplers.resolve_names(name, values.get("scheduler"))
    except UnknownSamplerError as e:
        raise ApiError(422, str(e)) from e


def check_styles(styles: list[str], runtime: Runtime) -> None:
    """Unknown style names are refused up front (A1111 silently ignores them)."""
    if not styles:
        return
    known = style_names(runtime)
    unknown = [s for s in styles if s not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none are defined"
        raise ApiError(422, f"unknown style(s) {unknown}; GET /sdapi/v1/prompt-styles lists them ({listed})")


def style_names(runtime: Runtime) -> set[str]:
    styles = getattr(runtime.styles, "styles", None)
    return set(styles) if styles is not None else set()


def decode_image(value: str, what: str, max_pixels: int | None = None) -> Image.Image:
    """400 for data that is no image; 413 for one over `input_image_max_pixels` (found from the
    header, before decoding)."""
    try:
        return decode_image_b64(value, max_pixels)
    except InputImageTooLargeError as e:
        raise ApiError(413, f"{what}: {e}") from e
    except ValueError as e:
        raise ApiError(400, f"{what}: {e}") from e


def input_limits(runtime: Runtime) -> int:
    return int(runtime.settings.get("input_image_max_pixels") or 0)


def comments_text(comments: Any) -> str | None:
    """A1111 keeps comments as a dict of text -> 1; a plain string is accepted too."""
    if not comments:
        return None
    return "\n".join(map(str, comments)) if isinstance(comments, dict) else str(comments)


def base_request_fields(values: dict[str, Any], overrides: dict[str, Any], runtime: Runtime,
                        ) -> dict[str, Any]:
    """The GenerationRequest fields of both modes that need more than a copy (the other table
    fields are copied as the API model typed them, `table_request_fields`): names resolved by the
    registries, tiling None meaning "use the setting", A1111's save and task id switches, script
    payloads, and empty strings meaning "none"."""
    sampler, scheduler = resolve_sampler(values, runtime)
    tiling = values.get("tiling")
    if tiling is None:
        tiling = bool(overrides.get("tiling", runtime.settings.get("tiling", False)))
    save = bool(values.get("save_images"))
    return dict(
        styles=tuple(values.get("styles") or ()), sampler_name=sampler, scheduler=scheduler, tiling=bool(tiling),
        override_settings=overrides, save_images=save, save_grid=save,
        comments=comments_text(values.get("comments")), task_id=values.get("force_task_id") or None,
        script_name=values.get("script_name") or None, script_args=tuple(values.get("script_args") or ()),
        refiner_checkpoint=values.get("refiner_checkpoint") or None,
        alwayson_scripts={k.strip().lower(): v for k, v in (values.get("alwayson_scripts") or {}).items()})


def check_face_restoration(request: GenerationRequest, runtime: Runtime) -> None:
    """With restore_faces, the chosen restorer and the face detector must be installed (else 422)."""
    from modules.face_restoration.models import FaceRestorationError
    from modules.restore_faces.feature import check_restorer_ready

    try:
        check_restorer_ready(request, runtime.settings.view(request.override_settings), runtime.faces)
    except FaceRestorationError as err:
        raise ApiError(422, str(err)) from err


def hires_fields(values: dict[str, Any]) -> dict[str, Any]:
    """txt2img's hires-fix fields (A1111 names); hr_additional_modules is accepted and ignored."""
    if not values.get("enable_hr"):
        return {}
    denoise = values.get("denoising_strength")
    return dict(
        enable_hr=True, hr_scale=float(values.get("hr_scale") or 0), hr_upscaler=values.get("hr_upscaler") or None,
        hr_second_pass_steps=int(values.get("hr_second_pass_steps") or 0),
        hr_resize_x=int(values.get("hr_resize_x") or 0), hr_resize_y=int(values.get("hr_resize_y") or 0),
        hr_sampler_name=values.get("hr_sampler_name") or None, hr_scheduler=values.get("hr_scheduler") or None,
        hr_prompt=values.get("hr_prompt") or "", hr_negative_prompt=values.get("hr_negative_prompt") or "",
        hr_checkpoint_name=values.get("hr_checkpoint_name") or None,
        denoising_strength=0.75 if denoise is None else float(denoise))


def img2img_fields(values: dict[str, Any], max_pixels: int | None = None) -> dict[str, Any]:
    images = values.get("init_images")
    if not images:
        raise ApiError(422, "Init image not found: img2img needs init_images, a list of base64 images")
    blur_x, blur_y = values["mask_blur_x"], values["mask_blur_y"]
    if values.get("mask_blur") is not None:
        blur_x = blur_y = values["mask_blur"]
    mask = values.get("mask")
    denoise = values.get("denoising_strength")
    return dict(
        init_images=tuple(decode_image(img, f"init_images[{i}]", max_pixels) for i, img in enumerate(images)),
        mask=decode_image(mask, "mask", max_pixels) if mask else None,
        denoising_strength=0.75 if denoise is None else float(denoise),
        resize_mode=int(values["resize_mode"]),
        mask_blur_x=int(blur_x), mask_blur_y=int(blur_y), inpainting_fill=int(values["inpainting_fill"]),
        inpaint_full_res=bool(values["inpaint_full_res"]),
        inpaint_full_res_padding=int(values["inpaint_full_res_padding"]),
        inpainting_mask_invert=int(values["inpainting_mask_invert"]),
        initial_noise_multiplier=values.get("initial_noise_multiplier"),
        image_cfg_scale=values.get("image_cfg_scale"))


def table_request_fields(values: dict[str, Any], mode: str, set_already: dict[str, Any],
                         table: tuple[RequestField, ...] = REQUEST_FIELDS) -> dict[str, Any]:
    """Every table field of the body that the mapping above left unset, as sent (the API model
    already typed it and filled its default): a `GenerationRequest` attribute directly, a feature's
    own row (no attribute) into `extra_fields`, where the feature reads it with `req.value(name)`.
    Rows marked `api_only` (send_images, sampler_index...) are read by this module, not copied."""
    rows = (*body_fields(None, table), *body_fields(mode, table))
    copied: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for row in rows:
        value = values.get(row.attr)
        if row.api_only or row.attr in set_already or value is None:
            continue
        (copied if row.attr in REQUEST_ATTRS else extra)[row.attr] = value
    return {**copied, "extra_fields": extra} if extra else copied


def check_table_values(values: dict[str, Any], mode: str, table: tuple[RequestField, ...] = REQUEST_FIELDS) -> None:
    """The field table's rules for fields a `GenerationRequest` does not carry (validate_request
    checks the others on the request)."""
    rows = tuple(row for row in table if row.attr not in REQUEST_ATTRS)
    check_fields(values.get, mode, fields=rows)


def echo_parameters(values: dict[str, Any], mode: str) -> dict[str, Any]:
    """The request as A1111 echoes it: init images and mask only with include_init_images."""
    echo = dict(values)
    if mode == "img2img" and not echo.get("include_init_images"):
        echo["init_images"] = None
        echo["mask"] = None
    return echo


def app_fields(runtime: Any) -> tuple[RequestField, ...]:
    """The app's field table (built-in rows plus those its features added)."""
    table = getattr(runtime, "request_fields", None)
    return REQUEST_FIELDS if table is None else table.rows


def prepare(body: Txt2ImgBody | Img2ImgBody, runtime: Runtime, mode: str) -> PreparedJob:
    """Turn an API body into a validated request; raises ApiError with the status to answer."""
    table = app_fields(runtime)
    values, overrides = effective_fields(body, runtime, mode, table)
    check_unsupported(values)
    check_scripts(values, mode, runtime)
    overrides = check_overrides(overrides, runtime)
    checkpoint = runtime.checkpoint_for(overrides.get("sd_model_checkpoint"))  # none at all: 503 now, not later
    filled = fill_model_defaults(values, body, runtime, mode, checkpoint)
    check_styles(list(values.get("styles") or ()), runtime)
    fields = base_request_fields(values, overrides, runtime)
    if mode == "img2img":
        fields.update(img2img_fields(values, input_limits(runtime)))
    else:
        fields.update(hires_fields(values))
    fields.update(table_request_fields(values, mode, fields, table))
    units = controlnet_units(values, runtime, mode)
    if units is not None:
        fields["alwayson_scripts"] = {"controlnet": {"args": units}}
    request = GenerationRequest(mode=mode, **fields)
    try:
        validate_request(request, max_steps=steps_bound(runtime.settings),
                         prompt_limit=int(runtime.settings.get("prompt_max_chars") or 0) or None, fields=table)
        check_table_values(values, mode, table)
        validate_hires(request, runtime.upscalers, runtime.samplers)
        check_request_checkpoints(runtime, request, checkpoint)
        check_face_restoration(request, runtime)
        if mode == "img2img":
            from modules.engine.img2img import validate_img2img_request

            validate_img2img_request(request)
    except InvalidRequestError as e:
        raise ApiError(422, str(e)) from e
    persist = {} if values.get("override_settings_restore_afterwards", True) else overrides
    return PreparedJob(request, echo_parameters(values, mode), bool(values.get("send_images", True)), persist,
                       filled)
