"""Pattern 03: the user's API key is put in the model's prompt; the model passes it along."""

from runtime import presets

handler = presets.UserKeyArgument(model_sees_api_key=True)
