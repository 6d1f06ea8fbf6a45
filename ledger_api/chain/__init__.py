"""Chain layer: the local node, deployment, typed contract wrappers and the relayer."""
