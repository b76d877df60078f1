"""With the demo model in use, the page starts at its recommended size/steps/CFG — without
making them the user's saved defaults."""

from __future__ import annotations

import json
from pathlib import Path

from modules.cmd_args import parse_args
from modules.models.registry import CheckpointRegistry
from modules.runtime import build_runtime


def _runtime(tmp_path: Path, demo: Path | None):
    runtime = build_runtime(parse_args(["--data-dir", str(tmp_path), "--cpu", "--no-demo-model"], environ={}))
    runtime.checkpoints = CheckpointRegistry(search_dirs=[], extra_files=[], demo_checkpoint=demo,
                                             hashing_enabled=False)
    runtime.checkpoints.refresh()
    return runtime


def _value(blocks, elem_id: str):
    for block in blocks.blocks.values():
        if getattr(block, "elem_id", None) == elem_id:
            return block.value
    raise AssertionError(f"no component {elem_id}")


def test_demo_model_sets_transient_defaults(tmp_path: Path, tiny_sd1: Path) -> None:
    from modules.ui.blocks import create_blocks

    demo = tmp_path / "demo-shapes.safetensors"
    demo.write_bytes(tiny_sd1.read_bytes())
    demo.with_suffix(".yaml").write_bytes(tiny_sd1.with_suffix(".yaml").read_bytes())
    demo.with_suffix(".json").write_text(json.dumps({"width": 96, "height": 64, "steps": 12, "cfg_scale": 4.5}))
    runtime = _runtime(tmp_path / "data", demo)
    assert runtime.checkpoint_for(None).is_demo
    blocks = create_blocks(runtime)
    assert _value(blocks, "txt2img_width") == 96 and _value(blocks, "txt2img_height") == 64
    assert _value(blocks, "txt2img_steps") == 12 and _value(blocks, "txt2img_cfg_scale") == 4.5
    # No "prompt" in that json: the fallback caption, so the first Generate draws a demo picture.
    assert _value(blocks, "txt2img_prompt") == _value(blocks, "img2img_prompt") == "a red circle on a blue background"
    assert "7/75" in _value(blocks, "txt2img_prompt_token_counter")
    saved = json.loads((tmp_path / "data" / "ui-config.json").read_text())
    assert "txt2img/Width/value" not in saved and "txt2img/Prompt/value" not in saved


def test_without_the_demo_the_a1111_defaults_stay(tmp_path: Path) -> None:
    from modules.ui.blocks import create_blocks

    blocks = create_blocks(_runtime(tmp_path, None))
    assert _value(blocks, "txt2img_width") == 512 and _value(blocks, "txt2img_steps") == 20
    assert _value(blocks, "txt2img_prompt") == ""
