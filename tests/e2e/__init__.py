"""End-to-end tests: the command line against a stack it starts itself."""
