"""The feed formats: each writes a Feed as the bytes of one document."""
