"""Extra-network tags: parsing, removal before encoding, and the per-runtime handler registry."""

from __future__ import annotations

from typing import Any

import pytest

from modules.text.extra_networks import (
    ExtraNetworkParams,
    ExtraNetworkRegistry,
    parse_prompt_extra_networks,
    parse_prompts_extra_networks,
)


@pytest.mark.parametrize(("prompt", "clean", "found"), [
    ("a cat", "a cat", {}),
    ("a cat <lora:fluffy:0.8>", "a cat ", {"lora": [["fluffy", "0.8"]]}),
    ("<lora:a:1>, <lora:b:0.5:0.2> x <hypernet:h:1>", ",  x ",  # surrounding spaces stay
     {"lora": [["a", "1"], ["b", "0.5", "0.2"]], "hypernet": [["h", "1"]]}),
    ("<lyco:name:te=0.5:unet=1>", "", {"lyco": [["name", "te=0.5", "unet=1"]]}),
    ("<lora:no weight>", "", {"lora": [["no weight"]]}),
    ("<not a tag> <lora:> <:x>", "<not a tag> <lora:> <:x>", {}),  # need a word and something after ":"
    ("<lora:a<b:1>", "", {"lora": [["a<b", "1"]]}),
])
def test_parse_prompt_extra_networks(prompt: str, clean: str, found: dict) -> None:
    text, data = parse_prompt_extra_networks(prompt)
    assert text == clean
    assert {name: [p.items for p in params] for name, params in data.items()} == found


def test_params_positional_and_named() -> None:
    params = ExtraNetworkParams(items=["detail", "0.8", "te=1", "a=b=c"])
    assert params.positional == ["detail", "0.8", "a=b=c"]
    assert params.named == {"te": "1"}


def test_batch_uses_the_first_prompts_networks() -> None:
    prompts, data = parse_prompts_extra_networks(["x <lora:a:1>", "y <lora:b:1>"])
    assert prompts == ["x ", "y "]
    assert [p.items for p in data["lora"]] == [["a", "1"]]


class Recorder:
    def __init__(self, log: list, fail: bool = False) -> None:
        self.log, self.fail = log, fail

    def activate(self, params_list: list[ExtraNetworkParams], context: Any) -> None:
        if self.fail:
            raise RuntimeError("file missing")
        self.log.append(("activate", [p.items for p in params_list], context))

    def deactivate(self, context: Any) -> None:
        self.log.append(("deactivate", context))


def test_registry_activates_each_type_and_reports_unknown_ones() -> None:
    log: list = []
    registry = ExtraNetworkRegistry()
    registry.register("lora", Recorder(log), aliases=("lyco",))
    registry.register("hypernet", Recorder(log))
    _, data = parse_prompt_extra_networks("<lora:a:1> <lyco:b:0.5> <mystery:z:1>")
    warnings = registry.activate(data, "job-1")
    assert ("activate", [["a", "1"], ["b", "0.5"]], "job-1") in log  # the alias shares the handler
    assert ("activate", [], "job-1") in log  # hypernet gets an empty list so it can reset
    assert len(log) == 2
    assert len(warnings) == 1 and "mystery" in warnings[0] and "hypernet, lora, lyco" in warnings[0]
    assert registry.deactivate("job-1") == []
    assert log[2:] == [("deactivate", "job-1"), ("deactivate", "job-1")]


def test_a_failing_handler_is_a_warning_not_a_crash() -> None:
    log: list = []
    registry = ExtraNetworkRegistry()
    registry.register("lora", Recorder(log, fail=True))
    registry.register("hypernet", Recorder(log))
    warnings = registry.activate({"lora": [ExtraNetworkParams(["x"])]}, None)
    assert warnings == ["activating extra network Recorder failed: file missing"]
    assert log == [("activate", [], None)]


def test_registries_are_independent_and_names_cannot_be_taken_twice() -> None:
    first, second = ExtraNetworkRegistry(), ExtraNetworkRegistry()
    first.register("lora", Recorder([]))
    assert second.names() == [] and first.names() == ["lora"]
    with pytest.raises(ValueError, match="'lora' is already registered"):
        first.register("lora", Recorder([]))
