"""Text conditioning on tiny random CLIP encoders, checked against manual computations."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from modules.models.sd_model import LoadedModel, ModelFamily, TextEncoderBundle, TextEncoderKind
from modules.text.clip_tokenizer import END_ID, START_ID, load_clip_tokenizer, tokenize_texts
from modules.text.conditioning import CondBatch, PromptConditioner, TextOptions
from modules.text.scheduled_cond import reconstruct_cond_batch, reconstruct_multicond_batch

L_WIDTH, G_WIDTH = 32, 64


def tiny_clip(width: int, seed: int, projection: bool = False):
    """2 layers, the real vocabulary; layer norms randomised too (a fresh one outputs mean 0,
    which would hide what the final norm and the emphasis rescale do)."""
    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=width, intermediate_size=width * 2,
                            num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                            projection_dim=width)
    cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    model = cls(config).eval().requires_grad_(False)
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.weight.normal_(1.0, 0.3)
            module.bias.normal_(0.5, 0.3)
    return model


def loaded(family: ModelFamily, bundles: list[TextEncoderBundle]) -> LoadedModel:
    return LoadedModel(family=family, unet=None, vae=None, text_encoders=bundles, prediction_type="epsilon",
                       alphas_cumprod=None, vae_scaling_factor=0.18215)


@pytest.fixture(scope="module")
def tok():
    return load_clip_tokenizer()


@pytest.fixture(scope="module")
def clip_l():
    return tiny_clip(L_WIDTH, 0)


@pytest.fixture(scope="module")
def clip_g():
    return tiny_clip(G_WIDTH, 1, projection=True)


@pytest.fixture(scope="module")
def sd1(tok, clip_l) -> LoadedModel:
    return loaded(ModelFamily.SD1, [TextEncoderBundle(TextEncoderKind.CLIP_L, tok, clip_l, END_ID)])


@pytest.fixture(scope="module")
def sd2(tok, clip_l) -> LoadedModel:
    return loaded(ModelFamily.SD2, [TextEncoderBundle(TextEncoderKind.OPEN_CLIP_H, tok, clip_l, 0, True)])


@pytest.fixture(scope="module")
def sdxl(tok, clip_l, clip_g) -> LoadedModel:
    return loaded(ModelFamily.SDXL, [TextEncoderBundle(TextEncoderKind.CLIP_L, tok, clip_l, END_ID, True),
                                     TextEncoderBundle(TextEncoderKind.OPEN_CLIP_G, tok, clip_g, 0, True)])


def ids(tok, text: str, pad: int = END_ID) -> torch.Tensor:
    """[BOS] + tokens + [EOS] padded to 77 (pad after the first EOS), as one batch row."""
    body = tokenize_texts(tok, [text])[0]
    row = [START_ID, *body, END_ID]
    return torch.tensor([row + [pad] * (77 - len(row))])


def raw(model, tokens: torch.Tensor, layer: int | None = None, norm: bool = True) -> torch.Tensor:
    """The reference: the model's last output, or hidden_states[layer] (+ final norm)."""
    out = model(input_ids=tokens, output_hidden_states=True)
    if layer is None:
        return out.last_hidden_state
    z = out.hidden_states[layer]
    text_model = model.text_model if hasattr(model, "text_model") else model
    return text_model.final_layer_norm(z) if norm else z


def test_one_chunk_equals_the_plain_encoder_output(sd1, clip_l, tok) -> None:
    cond = PromptConditioner(sd1).encode_texts(["a photo of a cat"])
    assert cond.shape == (1, 77, L_WIDTH) and cond.pooled is None
    torch.testing.assert_close(cond.crossattn, raw(clip_l, ids(tok, "a photo of a cat")))


def test_200_tokens_give_three_chunks_encoded_separately(sd1, clip_l, tok) -> None:
    cond = PromptConditioner(sd1, TextOptions(emphasis="Ignore")).encode_texts(["cat " * 200])
    assert cond.shape == (1, 231, L_WIDTH)
    full = torch.tensor([[START_ID] + [2368] * 75 + [END_ID]])
    torch.testing.assert_close(cond.crossattn[:, 77:154], raw(clip_l, full))
    torch.testing.assert_close(cond.crossattn[:, 154:], raw(clip_l, ids(tok, "cat " * 50)))


def test_break_starts_a_new_chunk(sd1, clip_l, tok) -> None:
    cond = PromptConditioner(sd1).encode_texts(["a cat BREAK a dog"])
    assert cond.shape == (1, 154, L_WIDTH)
    torch.testing.assert_close(cond.crossattn[:, :77], raw(clip_l, ids(tok, "a cat")))
    torch.testing.assert_close(cond.crossattn[:, 77:], raw(clip_l, ids(tok, "a dog")))


PROMPT = "a (cat:1.5) [dog]"
MULTIPLIERS = torch.tensor([1.0, 1.0, 1.5, 1 / 1.1] + [1.0] * 73)


@pytest.mark.parametrize("mode", ["Original", "No norm", "Ignore"])
def test_emphasis_modes(sd1, clip_l, tok, mode: str) -> None:
    z = raw(clip_l, ids(tok, "a cat dog"))
    weighted = z * MULTIPLIERS[None, :, None]
    expected = {"Original": weighted * (z.mean() / weighted.mean()), "No norm": weighted, "Ignore": z}[mode]
    got = PromptConditioner(sd1, TextOptions(emphasis=mode)).encode_texts([PROMPT]).crossattn
    torch.testing.assert_close(got, expected)
    if mode == "Original":
        torch.testing.assert_close(got.mean(), z.mean())


def test_emphasis_none_reads_brackets_as_text(sd1, clip_l, tok) -> None:
    got = PromptConditioner(sd1, TextOptions(emphasis="None")).encode_texts([PROMPT]).crossattn
    torch.testing.assert_close(got, raw(clip_l, ids(tok, PROMPT)))


def test_original_emphasis_mean_spans_the_schedule_batch(sd1, clip_l, tok) -> None:
    """A1111 encodes a prompt's schedule texts as one batch; the rescale uses the batch mean
    (with alternation's repeated texts counted each time)."""
    schedule = PromptConditioner(sd1).get_learned_conditioning(["[(cat:1.5)|dog]"], 3)[0]
    z = torch.cat([raw(clip_l, ids(tok, t)) for t in ("cat", "dog", "cat")])
    m = torch.ones(3, 77)
    m[[0, 2], 1] = 1.5
    weighted = z * m[..., None]
    expected = weighted * (z.mean() / weighted.mean())
    assert [e.end_at_step for e in schedule] == [1, 2, 3]
    for i, entry in enumerate(schedule):
        torch.testing.assert_close(entry.cond.crossattn, expected[i:i + 1])


@pytest.mark.parametrize(("skip", "layer"), [(1, None), (2, -2), (3, -3)])
def test_clip_skip_sd1(sd1, clip_l, tok, skip: int, layer: int | None) -> None:
    got = PromptConditioner(sd1, TextOptions(clip_skip=skip)).encode_texts(["a cat"]).crossattn
    torch.testing.assert_close(got, raw(clip_l, ids(tok, "a cat"), layer, norm=True))


def test_clip_skip_too_large_is_a_clear_error(sd1) -> None:
    with pytest.raises(ValueError, match="Clip skip 4 is too large .* 2 layers; use a value from 1 to 3"):
        PromptConditioner(sd1, TextOptions(clip_skip=4)).encode_texts(["a cat"])


@pytest.mark.parametrize("skip", [1, 3])
def test_sd2_uses_the_penultimate_layer_with_norm_and_ignores_clip_skip(sd2, clip_l, tok, skip: int) -> None:
    got = PromptConditioner(sd2, TextOptions(clip_skip=skip)).encode_texts(["a cat"]).crossattn
    torch.testing.assert_close(got, raw(clip_l, ids(tok, "a cat", pad=0), -2, norm=True))


@pytest.mark.parametrize(("skip", "option", "layer"),
                         [(1, False, -2), (3, False, -2), (1, True, -1), (3, True, -3)])
def test_sdxl_layers_and_concatenation(sdxl, clip_l, clip_g, tok, skip: int, option: bool,
                                       layer: int) -> None:
    options = TextOptions(clip_skip=skip, sdxl_clip_l_skip=option, emphasis="No norm")
    cond = PromptConditioner(sdxl, options).encode_texts(["a cat", "a dog"])
    assert cond.shape == (2, 77, L_WIDTH + G_WIDTH) and cond.pooled.shape == (2, G_WIDTH)
    for row, text in enumerate(["a cat", "a dog"]):
        expected_l = raw(clip_l, ids(tok, text), layer, norm=False)
        expected_g = raw(clip_g, ids(tok, text, pad=0), -2, norm=False)
        torch.testing.assert_close(cond.crossattn[row:row + 1], torch.cat([expected_l, expected_g], dim=2))
        pooled = clip_g(input_ids=ids(tok, text, pad=0)).text_embeds
        torch.testing.assert_close(cond.pooled[row:row + 1], pooled)


def test_sdxl_pooled_comes_from_the_first_chunk(sdxl, clip_g, tok) -> None:
    cond = PromptConditioner(sdxl).encode_texts(["a cat BREAK a dog"])
    assert cond.shape == (1, 154, L_WIDTH + G_WIDTH)
    torch.testing.assert_close(cond.pooled, clip_g(input_ids=ids(tok, "a cat", pad=0)).text_embeds)


def test_sdxl_empty_negative_prompt_is_zeros(sdxl, sd1) -> None:
    conditioner = PromptConditioner(sdxl)
    def negative(c: PromptConditioner, text: str) -> CondBatch:
        return reconstruct_cond_batch(c.get_learned_conditioning([text], 4, is_negative_prompt=True), 1)

    zero = negative(conditioner, "")
    assert zero.crossattn.abs().sum() == 0 and zero.pooled.abs().sum() == 0
    assert negative(conditioner, "ugly").crossattn.abs().sum() > 0
    assert reconstruct_cond_batch(conditioner.get_learned_conditioning([""], 4), 1).crossattn.abs().sum() > 0
    assert negative(PromptConditioner(sd1), "").crossattn.abs().sum() > 0


def test_prompt_editing_switches_at_the_right_step(sd1) -> None:
    conditioner = PromptConditioner(sd1)
    cat, dog = conditioner.encode_texts(["a cat", "a dog"]).crossattn.split(1)
    c = conditioner.get_learned_conditioning(["a [cat:dog:2]", "a cat"], 4)
    for step, first_row in [(0, cat), (1, cat), (2, cat), (3, dog), (4, dog)]:
        batch = reconstruct_cond_batch(c, step)
        assert isinstance(batch, CondBatch) and batch.shape == (2, 77, L_WIDTH)
        torch.testing.assert_close(batch.crossattn[:1], first_row)
        torch.testing.assert_close(batch.crossattn[1:], cat)


def test_and_weights_in_reconstruct_multicond_batch(sd1) -> None:
    conditioner = PromptConditioner(sd1)
    c = conditioner.get_multicond_learned_conditioning(["a cat AND a dog:0.5", "a dog"], 4)
    assert c.shape == (2,)
    conds_list, batch = reconstruct_multicond_batch(c, 1)
    assert conds_list == [[(0, 1.0), (1, 0.5)], [(2, 1.0)]]
    expected = conditioner.encode_texts(["a cat", " a dog", "a dog"]).crossattn
    torch.testing.assert_close(batch.crossattn, expected)


def test_each_schedule_is_encoded_once_and_duplicates_once(sd1, clip_l) -> None:
    calls: list[int] = []
    def count(_module, _args, kwargs, _out) -> None:
        calls.append(kwargs["input_ids"].shape[0])

    handle = clip_l.register_forward_hook(count, with_kwargs=True)
    try:
        conditioner = PromptConditioner(sd1)
        first = conditioner.get_learned_conditioning(["[cat|dog]", "[cat|dog]"], 10)
        again = conditioner.get_learned_conditioning(["[cat|dog]"], 10)
    finally:
        handle.remove()
    assert calls == [2]  # one forward pass with the two distinct texts
    assert len(first[0]) == 10 and first[0] is first[1] is again[0]


def test_texts_of_one_schedule_share_the_chunk_count(sd1) -> None:
    conditioner = PromptConditioner(sd1)
    schedule = conditioner.get_learned_conditioning(["[cat:" + "dog " * 100 + ":2]"], 4)[0]
    short = schedule[0].cond
    assert short.shape == schedule[1].cond.shape == (1, 154, L_WIDTH)
    torch.testing.assert_close(short.crossattn[:, 77:], conditioner.empty_chunk().crossattn)


def test_empty_chunk_and_padding(sd1) -> None:
    conditioner = PromptConditioner(sd1)
    empty = conditioner.empty_chunk()
    assert empty.shape == (1, 77, L_WIDTH) and conditioner.empty_chunk() is empty
    padded = conditioner.encode_texts(["a", "b"]).pad_to_length(231, empty)
    assert padded.shape == (2, 231, L_WIDTH)
    torch.testing.assert_close(padded.crossattn[1:, 154:], empty.crossattn)


@dataclass
class Emb:
    name: str
    vec: object


class Lookup:
    def __init__(self, tok, embedding: Emb) -> None:
        self.ids, self.embedding = tokenize_texts(tok, [embedding.name])[0], embedding

    def find_embedding_at_position(self, tokens: list[int], offset: int):
        if tokens[offset:offset + len(self.ids)] == self.ids:
            return self.embedding, len(self.ids)
        return None, None


def test_embedding_vectors_replace_placeholders(sd1, sdxl, clip_l, clip_g, tok) -> None:
    """An embedding whose vector is the token embedding of "cat" must encode exactly like "cat"."""
    cat = tok.convert_tokens_to_ids("cat</w>")
    emb = Emb("fluffystyle", clip_l.get_input_embeddings().weight[cat].clone())
    conditioner = PromptConditioner(sd1, embeddings=Lookup(tok, emb))
    torch.testing.assert_close(conditioner.encode_texts(["a fluffystyle"]).crossattn,
                               conditioner.encode_texts(["a cat"]).crossattn)
    assert conditioner.used_embeddings == {"fluffystyle": emb}
    xl_vec = {"clip_l": clip_l.get_input_embeddings().weight[cat][None],
              "clip_g": clip_g.get_input_embeddings().weight[cat][None]}
    xl = PromptConditioner(sdxl, embeddings=Lookup(tok, Emb("fluffystyle", xl_vec)))
    got, expected = xl.encode_texts(["a fluffystyle"]), xl.encode_texts(["a cat"])
    torch.testing.assert_close(got.crossattn, expected.crossattn)
    torch.testing.assert_close(got.pooled, expected.pooled)


def test_embedding_for_another_family_is_a_clear_error(sd1, tok) -> None:
    conditioner = PromptConditioner(sd1, embeddings=Lookup(tok, Emb("widestyle", torch.zeros(2, 768))))
    message = "'widestyle' has 768-wide vectors but the clip-l text encoder needs 32"
    with pytest.raises(ValueError, match=message):
        conditioner.encode_texts(["a widestyle"])
    conditioner = PromptConditioner(sd1, embeddings=Lookup(tok, Emb("gonly", {"clip_g": torch.zeros(1, 32)})))
    with pytest.raises(ValueError, match="'gonly' has no vectors for the clip-l text encoder"):
        conditioner.encode_texts(["gonly"])


def test_bad_options_are_clear_errors(sd1) -> None:
    with pytest.raises(ValueError, match="unknown emphasis mode 'Strong'; use one of Original, No norm"):
        TextOptions(emphasis="Strong")
    with pytest.raises(ValueError, match="comma_padding_backtrack must be 0-74"):
        TextOptions(comma_padding_backtrack=80)
    with pytest.raises(ValueError, match="no text encoders"):
        PromptConditioner(loaded(ModelFamily.SD1, []))
