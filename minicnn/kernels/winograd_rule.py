"""Which Winograd tile, if any, ``Conv2D(algorithm="auto")`` uses for a layer shape: a rule measured
with benchmarks/bench_layers.py at every shape of the three models (benchmarks/README.md, "The
`auto` rule").
"""

DEFAULT_TILE = 4          #: output tile m of F(m x m, 3x3) when Conv2D(algorithm="winograd")
SMALL_OUTPUT_TILE = 2     #: ... and where the output is at most DEFAULT_TILE wide (tile_for)
AUTO_MIN_CHANNELS = 16    #: "auto" keeps im2col below this many input channels (measured)
AUTO_MAX_FILTER_BYTES = 40 << 20   #: ... and where the transformed filters would be larger (memory)


def tile_for(OH, OW):
    """The output tile m of F(m x m, 3x3) for an OH x OW output: F(4x4), except F(2x2) where
    the output is at most 4x4. There F(4x4) has one tile per image, so its 36 x C_in x C_out
    transformed filters (made, and their gradient taken, three times a step) cost more than the
    multiplications it saves over F(2x2)'s 16 (benchmarks/README.md: 512->512 @4)."""
    return SMALL_OUTPUT_TILE if max(OH, OW) <= DEFAULT_TILE else DEFAULT_TILE


def auto_tile(kernel_size, stride, c_in, c_out, OH, OW):
    """Conv2D(algorithm="auto")'s rule: the Winograd tile m for this layer shape (``tile_for``),
    or None for im2col. Measured with benchmarks/bench_layers.py at every model shape
    (benchmarks/README.md)."""
    m = tile_for(OH, OW)
    u_bytes = (m + 2) ** 2 * c_in * c_out * 4                             # U and each dU, float32
    if (tuple(kernel_size), tuple(stride)) != ((3, 3), (1, 1)) or c_in < AUTO_MIN_CHANNELS \
            or u_bytes > AUTO_MAX_FILTER_BYTES:
        return None
    return m
