"""Pattern 05: the services verify the JWT (signature, issuer, audience, expiry), then RBAC."""

from runtime import presets

get_identity = presets.verified_jwt()
authorize = presets.service_rbac
