"""The benchmark suite: what the function adds to the model's own stream, measured on loopback.

`python -m benchmarks` (or `make bench`) runs everything and writes `benchmarks/RESULTS.md`
and the plots under `benchmarks/results/`. Every process it starts listens on 127.0.0.1 only,
and every scenario is bounded in stream count and time.
"""
