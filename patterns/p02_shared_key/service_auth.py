"""Pattern 02: the services check the shared key, then allow everything."""

from runtime import presets

get_identity = presets.shared_key_identity
authorize = presets.allow_all
