"""The three assistant services as CDS Hooks 2.0 services: discovery, hooks, cards, feedback."""
