"""The HTTP API: authenticate, validate, guard, write, enqueue. Never calls an upstream."""
