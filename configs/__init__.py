"""ml_collections config files: `configs/<agent>.py:<preset>`."""
