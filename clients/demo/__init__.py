"""``medledger demo``: the whole system on one machine, told as a consortium story.

``stack`` finds or starts the local stack (dev chain, escrow-free API), ``authorities`` each
institution's own key authority process, ``cast`` holds the
people and the FHIR records, ``story`` plays the scripted steps through the SDK, and ``report``
prints each step as it happens and the summary table at the end.
"""
