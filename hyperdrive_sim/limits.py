"""Documented limits on what the simulator accepts (docs/limits.md lists them for users).

These are not model parameters: they bound the work and memory one input may demand, so that
a typo such as ``100000x100000`` is refused in one line before anything is allocated,
instead of exhausting the machine. Each is far above any realistic design.
"""

from __future__ import annotations

#: mesh side (rows or columns); 64x64 = 4,096 chips
MAX_MESH_SIDE = 64
#: input image side in pixels (8K video is 7680x4320)
MAX_INPUT_SIDE = 16384
#: pixels of an input image (width x height), 16384 x 16384
MAX_INPUT_PIXELS = 16384 * 16384
#: elements (channels x height x width) of any one feature map of a network
MAX_MAP_ELEMENTS = 2**32
#: channels of any one layer
MAX_CHANNELS = 1 << 20
#: kernel side, stride, dilation and padding of a layer; upsampling factor
MAX_KERNEL = 1024
MAX_UPSAMPLE = 64
#: layers of one network
MAX_LAYERS = 100_000
#: points of one experiment (after expanding networks x inputs x meshes x sweep axes)
MAX_POINTS = 100_000
#: Tile-PU rows/cols and FMPUs per Tile-PU of a chip
MAX_TILE_SIDE = 1024
MAX_FMPUS = 65536
#: bits of any one on-chip memory (FMM, border buffer, weight cache): 1 Tbit
MAX_MEMORY_BITS = 10**12
#: size of a YAML file the loader reads
MAX_YAML_BYTES = 16 * 1024 * 1024
#: nodes (mappings, lists and scalars) of a YAML document after aliases and includes
MAX_YAML_NODES = 2_000_000
#: nesting depth of a YAML document, and length of an include chain
MAX_YAML_DEPTH = 64
MAX_INCLUDE_DEPTH = 32
#: size of an ONNX model file
MAX_ONNX_BYTES = 2 * 1024**3
#: elements of a tensor that ONNX constant folding may create
MAX_FOLD_ELEMENTS = 1 << 24
#: mesh side of the numerical ``verify`` (it computes real feature maps)
MAX_VERIFY_MESH_SIDE = 16
#: number of characters of an output path component the CLI accepts before asking the OS
MAX_NAME_CHARS = 255
