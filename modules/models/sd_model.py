"""The loaded-model types, re-exported for the models layer. They live in modules/model_types.py,
below both text/ and models/, because the text encoders and the loader share them."""

from modules.model_types import DerivedValues, LoadedModel, ModelFamily, TextEncoderBundle, TextEncoderKind

__all__ = ["DerivedValues", "LoadedModel", "ModelFamily", "TextEncoderBundle", "TextEncoderKind"]
