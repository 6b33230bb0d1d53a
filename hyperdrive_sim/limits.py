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
#: size of a weight file (``pruning_weights``, ``verify --weights``: .npz, .npy, .onnx), and
#: of the arrays it holds once decompressed or read from ONNX external data (ResNet-152 in
#: float32 is 240 MB)
MAX_WEIGHT_BYTES = 512 * 1024**2
#: size of a file the tool wrote and reads back (results.json, layers.csv, a cache entry, a
#: trace, sensitivity tables): a 100,000-point results.json is about 100 MB
MAX_RESULTS_BYTES = 512 * 1024**2
#: elements of a tensor that ONNX constant folding may create
MAX_FOLD_ELEMENTS = 1 << 24
#: mesh side of the numerical ``verify`` (it computes real feature maps)
MAX_VERIFY_MESH_SIDE = 16
#: number of characters of an output path component the CLI accepts before asking the OS
MAX_NAME_CHARS = 255
#: Plausible ranges of physical numbers. These are input sanity limits, not model
#: parameters: they refuse typos such as 1e-300 Gbit/s or 1e300 MHz, whose arithmetic
#: would overflow or underflow, while staying far outside any real design.
#: clock frequency of an operating point, MHz (1 kHz .. 100 GHz)
MIN_FREQUENCY_MHZ = 1e-3
MAX_FREQUENCY_MHZ = 1e5
#: supply voltage, V (operating points and the energy table's reference voltage)
MIN_VOLTAGE_V = 0.05
MAX_VOLTAGE_V = 5.0
#: off-chip and chip-to-chip bandwidth, Gbit/s (1 Mbit/s .. 1 Pbit/s)
MIN_BANDWIDTH_GBPS = 1e-3
MAX_BANDWIDTH_GBPS = 1e6
#: off-chip and link latency, ns (1 s)
MAX_LATENCY_NS = 1e9
#: energy of one action or of one bit moved, pJ (1 uJ)
MAX_ENERGY_PJ = 1e6
#: leakage power, mW per chip or per Mbit (1 kW)
MAX_LEAKAGE_MW = 1e6
#: exponent of the voltage scaling of energy and leakage
MAX_VOLTAGE_EXPONENT = 10.0
#: published efficiency (TOp/s/W) and throughput (GOp/s) of a baseline accelerator
MAX_TOPS_PER_W = 1e6
MAX_GOPS = 1e9
MIN_PUBLISHED = 1e-6
#: bits per feature-map value or weight
MAX_WORD_BITS = 64
#: weight blocks a chip's weight buffer holds
MAX_BUFFER_BLOCKS = 1024
#: seed of random weights (numpy accepts any non-negative integer; this keeps it to 64 bits)
MAX_SEED = 2**64 - 1
#: cycles of one frame or one transfer; beyond it, 64-bit cycle counts could overflow
MAX_CYCLES = 2**60
#: area of one component, mm² (a 10 cm² die)
MAX_AREA_MM2 = 1e3
#: pads of one interface or link port
MAX_PADS = 100_000
#: pad pitch or pad-ring depth, µm (a 1 cm pad)
MAX_PAD_UM = 1e4
#: capacitance of one pad or board trace, pF
MAX_CAPACITANCE_PF = 1e4
#: exponent of the SRAM energy-per-bit scaling with capacity
MAX_SRAM_EXPONENT = 2.0
#: factor on a memory table's energies or leakage (sensitivity to the cell corner)
MAX_SRAM_SCALE = 1e4
#: feature-map memory banks per Tile-PU
MAX_FMM_BANKS = 1024
#: Monte-Carlo samples of one sensitivity run
MAX_SAMPLES = 10_000
#: chips of a mesh (MAX_MESH_SIDE squared): also the most pipeline stages
MAX_MESH_CHIPS = MAX_MESH_SIDE * MAX_MESH_SIDE
#: frames simulated back to back (each frame is a full pass of the event model)
MAX_FRAMES = 64
#: frames of one batch (their maps are all held in the FMM)
MAX_BATCH = 256
