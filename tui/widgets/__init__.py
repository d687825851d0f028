"""The explorer's widgets; each owns its DEFAULT_CSS and talks through nested Messages."""
