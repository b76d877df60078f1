"""Interrogate: image to prompt, image classification and dataset captioning.

Built on the `clip-interrogator` package (its term lists, modes and label tables) with models
injected from local folders so nothing is ever downloaded:

- folders.py: where CLIP and caption models live and what is installed;
- clip_loader.py / caption_loader.py: build the models offline from those files;
- session.py: the package's Interrogator over our models, with the term-embedding cache;
- analyze.py, batch.py: the Analyze and Batch features; service.py: what UI and API call.
"""
