"""Interrupt reaches into the VAE: a long decode stops at the next VAE block, not after the picture."""

from __future__ import annotations

from pathlib import Path

from modules.engine.control import JobControl
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from tests.engine_helpers import engine_context, load_cpu_model

SMALL = dict(prompt="a red circle", width=64, height=64, steps=2, sampler_name="Euler", seed=3, save_images=False)


def test_interrupt_during_the_vae_decode_stops_before_the_next_block(tiny_sd1: Path, tmp_path: Path) -> None:
    model = load_cpu_model(tiny_sd1)
    control = JobControl()
    ran: list[str] = []
    decoder = model.vae.decoder
    mid_forward = decoder.mid_block.forward

    def mid_then_interrupt(*args, **kwargs):
        out = mid_forward(*args, **kwargs)
        control.interrupt()  # the user presses Interrupt while the decoder runs
        return out

    decoder.mid_block.forward = mid_then_interrupt
    for i, block in enumerate(decoder.up_blocks):
        block.register_forward_hook(lambda *_a, i=i: ran.append(f"up{i}"))
    result = generate(GenerationRequest(**SMALL), engine_context(tiny_sd1, tmp_path, model=model), control)
    assert result.interrupted and result.images == []
    assert ran == []  # no up block ran after Interrupt

