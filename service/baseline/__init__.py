"""The baseline policy shipped inside the package: used when CONFIG_DIR is not set.

The YAML files here are links to the repository's `config/` (the one source of truth); a
built wheel holds their contents, so an installed service runs from any directory.
"""
