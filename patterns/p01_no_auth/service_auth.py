"""Pattern 01: the services accept every request from anyone."""

from runtime import presets

get_identity = presets.anonymous
authorize = presets.allow_all
