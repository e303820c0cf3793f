"""Tasks as pure functional environments with dm_env semantics."""
