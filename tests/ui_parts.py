"""The UI message stream parts the app writes, as the strictest AI SDK release validates them."""

# What AI SDK 5.0.0's strict schemas allow in each UI message stream part the app writes:
# (required keys, optional keys). 6.0 adds `finish.finishReason`, which 5.0 rejects.
UI_PART_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "start": ({"type"}, {"messageId", "messageMetadata"}),
    "data-progress": ({"type", "data"}, {"id", "transient"}),
    "text-start": ({"type", "id"}, set()),
    "text-delta": ({"type", "id", "delta"}, set()),
    "text-end": ({"type", "id"}, set()),
    "reasoning-start": ({"type", "id"}, set()),
    "reasoning-delta": ({"type", "id", "delta"}, set()),
    "reasoning-end": ({"type", "id"}, set()),
    "error": ({"type", "errorText"}, set()),
    "finish": ({"type"}, {"messageMetadata"}),
}
