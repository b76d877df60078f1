"""SD upscale (img2img script): upscale the picture, redraw it tile by tile with img2img, blend the tiles."""
