"""A1111's "Settings in UI": settings that also appear in the txt2img and img2img tabs.

This is how A1111 1.6+ gives back the "Restore faces" checkbox: add `face_restoration` to
"Settings for txt2img" (and/or img2img); the tab then shows that setting's widget, and its value
applies to the generation only (the stored setting is unchanged). Changing these needs a UI reload.
"""

from __future__ import annotations

from modules.settings.schema import OptionInfo

MAIN_UI_SECTION = "settings-in-ui"

MAIN_UI_OPTIONS: dict[str, OptionInfo] = {
    "extra_options_txt2img": OptionInfo([], "Settings for txt2img (setting entries that also appear in the "
                                        "txt2img tab; reload the UI to apply)", MAIN_UI_SECTION, "dropdown"),
    "extra_options_img2img": OptionInfo([], "Settings for img2img (setting entries that also appear in the "
                                        "img2img tab; reload the UI to apply)", MAIN_UI_SECTION, "dropdown"),
    "extra_options_cols": OptionInfo(1, "Number of columns for added settings", MAIN_UI_SECTION, "slider", 1, 20, 1),
    "extra_options_accordion": OptionInfo(False, "Place added settings into an accordion", MAIN_UI_SECTION),
}
