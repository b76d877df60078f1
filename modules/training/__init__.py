"""Training of the shipped demo model (models-demo/demo-shapes.safetensors) and its small world.

- world.py: the generated world (vocabulary, captions, seeded scenes and rendering)
- judge.py: reads a picture back into (background colour, shape colour, shape)
- architecture.py: the SD1.x-layout sizes and module builders
- train_demo.py: the command line (`python -m modules.training.train_demo --out DIR ...`)
- vae_stage.py, latent_cache.py, unet_stage.py: the three training stages
- stage_loop.py, state_files.py, captions.py: shared loop, resumable states, token rows
- export.py: the original-layout fp16 .safetensors + .yaml sidecar
- euler_sampler.py, evaluate.py: sampling and judging a fixed prompt set
  (`python -m modules.training.evaluate CHECKPOINT`)
"""
