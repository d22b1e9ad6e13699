"""The streaming chat backend's logic: protocol, settings, upstream client, relay, errors.

Nothing here imports the Functions runtime: `function_app.py` routes to `chat.endpoints`.
"""
