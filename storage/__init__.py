"""MedLedger storage: content addressing (CIDs, UnixFS), block stores and the relational index."""
