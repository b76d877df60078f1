"""Upscalers: the built-in resizers (None, Lanczos, Nearest), the latent modes used by hires fix,
and model upscalers (ESRGAN, Real-ESRGAN, DAT, SwinIR, HAT, ... whatever spandrel detects) found in
their model folders and run in overlapping tiles so a big image never needs one huge activation."""
