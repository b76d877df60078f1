"""Face restoration: find faces, align each to the restorer's 512x512 frame, restore (GFPGAN,
CodeFormer, RestoreFormer via spandrel) and paste back with a feathered mask."""
