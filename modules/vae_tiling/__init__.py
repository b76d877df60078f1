"""Tiled VAE: decode and encode big images in overlapping, blended tiles so memory stays bounded."""
