"""Pattern 04: the runtime binds the user's key into each tool call; the model never sees it."""

from runtime import presets

handler = presets.UserKeyArgument(model_sees_api_key=False)
