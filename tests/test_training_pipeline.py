"""The training pipeline end to end on a test-sized model: trains, exports, reloads, reproduces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from modules.training import train_demo


def _same_checkpoint(a, b) -> bool:
    """Byte-identical files (the export canonicalises the header, so the sha256 - A1111's model
    hash - repeats too), checked tensor by tensor as well for a readable failure."""
    from safetensors import safe_open

    with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
        if fa.metadata() != fb.metadata() or set(fa.keys()) != set(fb.keys()):
            return False
        if not all(torch.equal(fa.get_tensor(k), fb.get_tensor(k)) for k in fa.keys()):
            return False
    return a.read_bytes() == b.read_bytes()


def _args(unet_steps: int = 2) -> list[str]:
    return ["--arch", "tiny", "--steps-vae", "2", "--steps-unet", str(unet_steps), "--per-key", "1",
            "--batch-vae", "4", "--batch-unet", "8"]


ARGS = _args()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert train_demo.main(["--out", str(out), *ARGS]) == 0
    return out


def test_run_writes_a_loadable_sd1_checkpoint(trained):
    from modules.models.loader import load_checkpoint
    from modules.models.sd_model import ModelFamily

    ckpt = trained / train_demo.CHECKPOINT_NAME
    record = json.loads((trained / train_demo.RUN_FILE).read_text())
    assert ckpt.is_file() and ckpt.with_suffix(".yaml").is_file()
    assert record["steps_vae"] == 2 and record["steps_unet"] == 2 and record["dataset_size"] == 160
    model = load_checkpoint(ckpt)
    assert model.family is ModelFamily.SD1 and model.prediction_type == "epsilon"
    assert model.vae_scaling_factor == pytest.approx(record["scale_factor"], rel=1e-6)
    assert model.vae_downscale == 8 and model.latent_channels == 4
    assert model.text_encoders[0].model.config.hidden_size == 32
    assert float(model.alphas_cumprod[0]) == pytest.approx(1 - 0.00085, rel=1e-5)
    from safetensors import safe_open

    with safe_open(str(ckpt), "pt") as f:
        assert f.metadata()["demo.steps_unet"] == "2"
        assert all(f.get_slice(k).get_dtype() == "F16" for k in list(f.keys())[:20])


def test_checkpoint_samples_through_the_euler_loop(trained):
    from modules.models.loader import load_checkpoint
    from modules.training.euler_sampler import sample

    model = load_checkpoint(trained / train_demo.CHECKPOINT_NAME)
    images = sample(model, ["a red circle on a blue background"] * 2, [1, 1], steps=2, cfg_scale=5.0)
    assert len(images) == 2 and images[0].shape == (64, 64, 3) and images[0].dtype == np.uint8
    assert np.array_equal(images[0], images[1])


def test_same_seed_and_steps_reproduce_the_same_file(trained, tmp_path):
    assert train_demo.main(["--out", str(tmp_path), *ARGS]) == 0
    name = train_demo.CHECKPOINT_NAME
    assert _same_checkpoint(tmp_path / name, trained / name)


def test_resume_finishes_without_training_again(trained, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    (run / train_demo.CHECKPOINT_NAME).unlink()
    assert train_demo.main(["--out", str(run), "--resume", *ARGS]) == 0
    assert _same_checkpoint(run / train_demo.CHECKPOINT_NAME, trained / train_demo.CHECKPOINT_NAME)


def test_resume_with_more_steps_extends_the_unet_stage(trained, tmp_path):
    import shutil

    from modules.training.state_files import load_state

    run = tmp_path / "extended"
    shutil.copytree(trained, run)
    assert train_demo.main(["--out", str(run), "--resume", *_args(3), "--high-noise-fraction", "0.5"]) == 0
    state = load_state(run / "unet_state.pt")
    assert (state["step"], state["total"], state["phase_start"]) == (3, 3, 2)
    record = json.loads((run / train_demo.RUN_FILE).read_text())
    assert [p["until_step"] for p in record["unet_phases"]] == [2, 3]
    assert record["unet_phases"][1]["high_noise_fraction"] == 0.5
    assert len(record["invocations"]) == 2
    assert not _same_checkpoint(run / train_demo.CHECKPOINT_NAME, trained / train_demo.CHECKPOINT_NAME)


def test_existing_run_needs_resume(trained):
    with pytest.raises(SystemExit, match="--resume"):
        train_demo.main(["--out", str(trained), *ARGS])


def test_export_round_trips_weights_through_the_loader(tmp_path):
    from modules.models.loader import load_checkpoint
    from modules.training import architecture
    from modules.training.export import export_checkpoint

    torch.manual_seed(3)
    arch = architecture.TINY
    unet, vae = architecture.build_unet(arch), architecture.build_vae(arch)
    text = architecture.build_text_encoder(arch)
    path = export_checkpoint(tmp_path / "m.safetensors", unet=unet, vae=vae, text_encoder=text,
                             scale_factor=0.5)
    model = load_checkpoint(path)
    assert model.vae_scaling_factor == 0.5
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([500])
    ids = torch.tensor([[49406, 320, 736, 49407] + [49407] * 73])
    with torch.no_grad():
        for module in (unet, text):
            module.half().float()  # the file is fp16: compare against the same rounding
        cond = text(input_ids=ids).last_hidden_state
        assert torch.allclose(model.text_encoders[0].model(input_ids=ids).last_hidden_state, cond, atol=1e-4)
        assert torch.allclose(model.unet(x, t, encoder_hidden_states=cond).sample,
                              unet(x, t, encoder_hidden_states=cond).sample, atol=1e-4)


def test_bad_arguments_are_explained(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_demo.main(["--out", str(tmp_path), "--steps-vae", "2", "--minutes-vae", "1"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValueError, match=".safetensors"):
        from modules.training.export import export_checkpoint

        export_checkpoint(tmp_path / "m.ckpt", unet=None, vae=None, text_encoder=None, scale_factor=1.0)
