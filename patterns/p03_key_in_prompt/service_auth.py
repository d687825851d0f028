"""Pattern 03: the services look the key up and apply role checks of their own."""

from runtime import presets

get_identity = presets.user_key_identity
authorize = presets.service_rbac
