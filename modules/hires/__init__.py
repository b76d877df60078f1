"""Hires fix: a second, larger pass over txt2img's result (latent or image upscale, then img2img)."""
