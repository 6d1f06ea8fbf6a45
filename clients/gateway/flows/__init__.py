"""See the package docstring of :mod:`clients.gateway`."""
