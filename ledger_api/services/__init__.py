"""Service functions: keyword-only, explicit context, callable without HTTP."""
