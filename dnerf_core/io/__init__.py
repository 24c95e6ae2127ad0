"""The ground floor: files and small shared things every layer above may use.

atomic (temp + rename writes, staged output folders), images (8-bit RGB PNGs), masks (palette
PNG part masks), tagged_file (dnerf's weight files, read weights_only), splits (seed ranges and
the evaluation pose seed), metrics (PSNR, IoU, confusion-matrix scores). Nothing here imports
from render, generators, semantic, factory or inversion.
"""
