"""A1111's prompt language: expected values written from the documented rules (a1111-compat §5)."""

from __future__ import annotations

import pytest
import torch

from modules.prompt_parser import (
    get_learned_conditioning_prompt_schedules,
    get_multicond_prompt_list,
    parse_prompt_attention,
)
from modules.text.cond_batch import CondBatch
from modules.text.scheduled_cond import (
    ComposableScheduledPromptConditioning,
    MulticondLearnedConditioning,
    ScheduledPromptConditioning,
    reconstruct_cond_batch,
    reconstruct_multicond_batch,
)

B = 1 / 1.1  # one square bracket


@pytest.mark.parametrize(("text", "expected"), [
    ("", [["", 1.0]]),
    ("normal text", [["normal text", 1.0]]),
    ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
    ("a (b:1.5) [c]", [["a ", 1.0], ["b", 1.5], [" ", 1.0], ["c", 0.9090909090909091]]),
    ("((x))", [["x", 1.2100000000000002]]),  # plain float products, not rounded
    ("[[x]]", [["x", B * B]]),
    ("((x:2))", [["x", 2.2]]),  # a weight multiplies: nesting compounds
    ("(unbalanced", [["unbalanced", 1.1]]),
    ("[unbalanced", [["unbalanced", B]]),
    ("a ) b ] c", [["a ) b ] c", 1.0]]),  # closers without an opener are text
    (r"\(literal\]", [["(literal]", 1.0]]),
    (r"a \\ b", [["a \\ b", 1.0]]),
    (r"a\b", [["ab", 1.0]]),  # a lone backslash is dropped
    ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
    ("x:1.5)", [["x:1.5)", 1.0]]),  # a weight with no open round bracket is text
    ("[x:1.5]", [["x:1.5", B]]),  # ':' inside [] is plain text for emphasis
    ("(x:1.2.3)", [["x:1.2.3)", 1.1]]),  # not a number: text (A1111 raises here)
    ("(a:-1)", [["a", -1.0]]),
    ("( a : 0.5 )", [[" a ", 0.5]]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", [
        ["a ", 1.0], ["house", 1.1 * 1.3 * 1.1], [" ", 1.1], ["on", 1.1 * B], [" a ", 1.1],
        ["hill", 0.55], [", sun, ", 1.1], ["sky", 1.1 ** 4], [".", 1.1]]),
    ("a BREAK b", [["a", 1.0], ["BREAK", -1], ["b", 1.0]]),
    ("(a BREAK b)", [["a", 1.1], ["BREAK", -1.1], ["b", 1.1]]),
    ("BREAK", [["", 1.0], ["BREAK", -1], ["", 1.0]]),
    ("aBREAK b", [["aBREAK b", 1.0]]),  # only the whole word
    ("a break b", [["a break b", 1.0]]),  # case-sensitive
])
def test_parse_prompt_attention(text: str, expected: list) -> None:
    got = parse_prompt_attention(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected], rel=1e-12)


def test_weights_are_exact_float_products() -> None:
    assert parse_prompt_attention("((x))")[0][1] == 1.1 * 1.1
    assert parse_prompt_attention("a (b:1.5) [c]")[3][1] == 1 / 1.1


def schedules(prompt: str, steps: int = 10, hires: int | None = None, old: bool = False) -> list:
    return get_learned_conditioning_prompt_schedules([prompt], steps, hires, old)[0]


@pytest.mark.parametrize(("prompt", "expected"), [
    ("test", [[10, "test"]]),
    ("a [b:3]", [[3, "a "], [10, "a b"]]),
    ("a [b: 3]", [[3, "a "], [10, "a b"]]),
    ("a [b:c:3]", [[3, "a b"], [10, "a c"]]),
    ("a [b::3]", [[3, "a b"], [10, "a "]]),
    ("a [[[b]]:2]", [[2, "a "], [10, "a [[b]]"]]),
    ("[(a:2):3]", [[3, ""], [10, "(a:2)"]]),
    ("a [b : c : 1] d", [[1, "a b  d"], [10, "a  c  d"]]),
    ("a[b:[c:d:2]:1]e", [[1, "abe"], [2, "ace"], [10, "ade"]]),
    ("a [unbalanced", [[10, "a [unbalanced"]]),
    ("a [b:.5] c", [[5, "a  c"], [10, "a b c"]]),
    ("a [b:0.25] c", [[2, "a  c"], [10, "a b c"]]),  # int(2.5) = 2
    ("a [b:c:15] d", [[10, "a b d"]]),  # past the end: clamped to the last step
    ("a [b:c:0] d", [[10, "a c d"]]),
    ("a [b:c:-3] d", [[10, "a c d"]]),
    ("((a][:b:c [d:3]", [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
    ("a | b [c:2]", [[10, "a | b [c:2]"]]),  # a bare | does not parse: literal
    (r"a \[b:3] c", [[10, r"a \[b:3] c"]]),  # escaped bracket is not an edit
    ("(a [b:c:5])", [[5, "(a b)"], [10, "(a c)"]]),  # emphasis brackets kept as text
    ("x [a:b:1e999] y", [[10, "x a y"]]),  # huge numbers clamp instead of overflowing
])
def test_prompt_editing(prompt: str, expected: list) -> None:
    assert schedules(prompt) == expected


@pytest.mark.parametrize(("prompt", "expected"), [
    ("[a|(b:1.1)]", [[i, "a" if i % 2 else "(b:1.1)"] for i in range(1, 11)]),
    ("[fe|]male", [[i, "female" if i % 2 else "male"] for i in range(1, 11)]),
    ("[fe|||]male", [[i, "female" if i % 4 == 1 else "male"] for i in range(1, 11)]),
    ("[a|b|c]", [[i, "abc"[(i - 1) % 3]] for i in range(1, 11)]),
])
def test_alternation(prompt: str, expected: list) -> None:
    assert schedules(prompt) == expected


def test_module_comment_example() -> None:
    prompt = ("fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75]"
              "[ in foreground::0.6][: in background:0.25] [shoddy:masterful:0.5]")
    assert schedules(prompt, 100) == [
        [25, "fantasy landscape with a mountain and an oak in foreground shoddy"],
        [50, "fantasy landscape with a lake and an oak in foreground in background shoddy"],
        [60, "fantasy landscape with a lake and an oak in foreground in background masterful"],
        [75, "fantasy landscape with a lake and an oak in background masterful"],
        [100, "fantasy landscape with a lake and a christmas tree in background masterful"],
    ]


@pytest.mark.parametrize(("prompt", "hires", "old", "expected"), [
    # hires pass (20 steps after 10 first-pass steps): fractions 1-2 and integers > 10 address it
    ("a [b:c:0.5]", 20, False, [[20, "a c"]]),  # switched during the first pass
    ("a [b:c:1.5]", 20, False, [[10, "a b"], [20, "a c"]]),
    ("a [b:c:1.25]", 20, False, [[5, "a b"], [20, "a c"]]),
    ("a [b:c:15]", 20, False, [[5, "a b"], [20, "a c"]]),
    ("a [b:c:5]", 20, False, [[20, "a c"]]),
    # old timelines: below 1 a fraction of the base steps, else absolute; hires ignored
    ("a [b:c:0.5]", 20, True, [[5, "a b"], [10, "a c"]]),
    ("a [b:c:1.5]", 20, True, [[1, "a b"], [10, "a c"]]),
    ("a [b:c:3]", None, True, [[3, "a b"], [10, "a c"]]),
    ("a [b:c:3.0]", None, False, [[10, "a b"]]),  # new rules: "3.0" is a fraction: 30 steps, clamped to 10
    ("a [b:c:3.0]", None, True, [[3, "a b"], [10, "a c"]]),
])
def test_when_rules(prompt: str, hires: int | None, old: bool, expected: list) -> None:
    assert schedules(prompt, 10, hires, old) == expected


def test_schedules_keep_prompt_order_and_duplicates() -> None:
    got = get_learned_conditioning_prompt_schedules(["x [a:b:1]", "y", "x [a:b:1]"], 4)
    assert got == [[[1, "x a"], [4, "x b"]], [[4, "y"]], [[1, "x a"], [4, "x b"]]]
    got[0][0][1] = "changed"
    assert got[2][0][1] == "x a"  # callers may edit their copy


@pytest.mark.parametrize(("prompts", "indexes", "flat"), [
    (["a cat AND a dog :0.5 AND (sky:1.2):-0.3"], [[(0, 1.0), (1, 0.5), (2, -0.3)]],
     ["a cat", " a dog", " (sky:1.2)"]),
    (["x"], [[(0, 1.0)]], ["x"]),
    (["x AND x"], [[(0, 1.0), (1, 1.0)]], ["x", " x"]),  # trailing spaces go, leading stay
    (["cat:2", "cat:.5 AND dog"], [[(0, 2.0)], [(0, 0.5), (1, 1.0)]], ["cat", " dog"]),
    (["ANDROID and AND"], [[(0, 1.0), (1, 1.0)]], ["ANDROID and", ""]),  # whole word, case-sensitive
    (["(a:1.5)"], [[(0, 1.0)]], ["(a:1.5)"]),
    (["a :1e3"], [[(0, 1.0)]], ["a :1e3"]),  # not a weight
])
def test_get_multicond_prompt_list(prompts: list, indexes: list, flat: list) -> None:
    res_indexes, prompt_flat_list, prompt_indexes = get_multicond_prompt_list(prompts)
    assert res_indexes == indexes
    assert prompt_flat_list == flat
    assert prompt_indexes == {t: i for i, t in enumerate(flat)}


def row(value: float, tokens: int = 77, pooled: bool = False) -> CondBatch:
    return CondBatch(torch.full((1, tokens, 4), value), torch.full((1, 2), value) if pooled else None)


def test_reconstruct_cond_batch_switches_after_end_step() -> None:
    first = [ScheduledPromptConditioning(3, row(1.0)), ScheduledPromptConditioning(10, row(2.0))]
    second = [ScheduledPromptConditioning(10, row(5.0))]
    for step, expected in [(0, 1.0), (3, 1.0), (4, 2.0), (10, 2.0), (11, 1.0)]:  # past the end: first entry
        got = reconstruct_cond_batch([first, second], step)
        assert got.shape == (2, 77, 4)
        assert got.crossattn[0, 0, 0].item() == expected and got.crossattn[1, 0, 0].item() == 5.0


def test_reconstruct_cond_batch_carries_pooled() -> None:
    got = reconstruct_cond_batch([[ScheduledPromptConditioning(5, row(1.0, pooled=True))],
                                  [ScheduledPromptConditioning(5, row(3.0, pooled=True))]], 1)
    assert got.pooled.tolist() == [[1.0, 1.0], [3.0, 3.0]]


def test_reconstruct_multicond_batch_rows_and_weights() -> None:
    cat = [ScheduledPromptConditioning(2, row(1.0)), ScheduledPromptConditioning(4, row(2.0))]
    dog = [ScheduledPromptConditioning(4, row(7.0, tokens=154))]
    c = MulticondLearnedConditioning((2,), [
        [ComposableScheduledPromptConditioning(cat, 1.0), ComposableScheduledPromptConditioning(dog, 0.5)],
        [ComposableScheduledPromptConditioning(dog, -0.3)],
    ])
    conds_list, batch = reconstruct_multicond_batch(c, 3)
    assert conds_list == [[(0, 1.0), (1, 0.5)], [(2, -0.3)]]
    assert batch.shape == (3, 154, 4)
    # step 3 is past the cat's first entry; its 77 tokens are padded by repeating the last vector
    assert batch.crossattn[0, :, 0].eq(2.0).all()
    assert batch.crossattn[1, 0, 0].item() == 7.0 and batch.crossattn[2, 153, 0].item() == 7.0
