"""SMART App Launch 2.2 authorisation server for the app marketplace (issue 21).

The server issues OAuth 2 tokens to apps that are Live on chain (``Marketplace``); it never
decrypts anything for them: the launching user's page does, over ``postMessage``
(``docs/marketplace.md``). Modules: :mod:`.scopes` (SMART v1/v2 scope grammar and the
intersections a token's scope is made of), :mod:`.manifest` (the listing's manifest, fetched
from the block store and checked against the on-chain digest), :mod:`.store` (clients, launch
contexts, codes and tokens in the index, hashed), :mod:`.server` (authlib's grant machinery
bound to that store), :mod:`.adapter` (FastAPI ↔ authlib requests), :mod:`.registration`
(RFC 7591 for Live apps only), :mod:`.oidc` (the id_token key), :mod:`.consent` (what the
consent screen shows and what a user may approve).
"""
