"""The Extras tab's work: upscale (by or to a size, two upscalers blended), save with infotext."""
