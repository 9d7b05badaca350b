"""Generate the upstream patch series (format-patch) and check it."""
