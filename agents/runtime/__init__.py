"""Running agents: the compiled and host loops, checkpoints, logs, the train driver."""
