"""A local Functions host in front of the pinned production worker runtime (`azure-functions-runtime`).

The runtime indexes, loads and invokes the app and serves its HTTP, exactly as in Azure on
Python 3.13+. What is emulated is only what runs in front of it there: the .NET Functions host
(start-up sequence, route table, the proxy hop, timeouts, logs) and the proxy worker that passes
the host's messages to the runtime, over an in-process channel instead of gRPC.
"""
