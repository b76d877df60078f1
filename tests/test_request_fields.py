"""The one request-field table: every row names a real API field, and both paste directions use it."""

from __future__ import annotations

import dataclasses

from modules.api.infotext_fill import request_values
from modules.api.models import Img2ImgBody, Txt2ImgBody
from modules.engine.request import GenerationRequest
from modules.engine.request_fields import REQUEST_FIELDS, RequestField, ui_paste_fields
from modules.ui.infotext_paste import TXT2IMG_PASTE_FIELDS, paste_values

BODIES = {"txt2img": Txt2ImgBody, "img2img": Img2ImgBody}


def test_every_api_row_is_a_field_of_that_modes_api_model():
    missing = [(f.attr, mode) for f in REQUEST_FIELDS for mode in f.api_modes
               if f.attr not in BODIES[mode].model_fields]
    assert missing == []


def test_ui_rows_are_request_attributes():
    attrs = {f.name for f in dataclasses.fields(GenerationRequest)}
    pasted = {f for tab in ("txt2img", "img2img") for f in ui_paste_fields(tab)}
    assert [f.attr for f in pasted if f.attr not in attrs] == []


def test_infotext_keys_are_unique():
    keys = [f.infotext for f in REQUEST_FIELDS if f.infotext]
    assert len(keys) == len(set(keys))


def test_a_new_row_reaches_both_paste_directions(monkeypatch):
    """Adding one row is all a feature does: the API fill and the UI paste both pick it up."""
    import modules.engine.request_fields as table

    row = RequestField("eta", "Eta", "float", "Eta", ui_tabs=frozenset({"txt2img"}))
    monkeypatch.setattr(table, "REQUEST_FIELDS", (*table.REQUEST_FIELDS, row))
    assert request_values({"Eta": "0.5"}, "txt2img", set()) == {"eta": 0.5}
    fields = tuple(table.ui_paste_fields("txt2img"))
    assert paste_values({"Eta": "0.5"}, fields=[type(TXT2IMG_PASTE_FIELDS[0])(f.attr, f.infotext, f.kind)
                                               for f in fields]).values == {"eta": 0.5}
