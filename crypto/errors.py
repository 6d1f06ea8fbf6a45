"""Errors of the ``crypto`` package; every one derives from :class:`CryptoError`."""


class CryptoError(Exception):
    """Root of every error raised by ``crypto``."""


class SigningError(CryptoError):
    """A typed-data or Sign-In with Ethereum message is malformed, or its signature is invalid."""


# --- policy language and span programs (crypto.policy, crypto.msp) ---


class PolicyError(CryptoError):
    """A policy or attribute string is malformed.

    ``position`` is the 0-based character offset in the text where parsing failed and
    ``expected`` says what would have been accepted there, so an editor can point at it.
    """

    def __init__(self, message: str, *, position: int, expected: str) -> None:
        super().__init__(f"{message} at position {position} (expected {expected})")
        self.position = position
        self.expected = expected


class PolicyReachError(CryptoError):
    """A record policy reaches no institution of the directory, or a slot's epoch is invalid
    (:mod:`crypto.reach`): no authority's members could ever read it."""


class PolicyNotSatisfied(CryptoError):  # noqa: N818 - the name the issue and callers use
    """The key's attributes do not satisfy the ciphertext's policy, so nothing can be decrypted."""


# --- FAME CP-ABE and BLS12-381 encodings (crypto.fame, crypto.groups) ---


class FameFormatError(CryptoError):
    """A serialised FAME key or ciphertext has the wrong shape, version or sizes."""


class GroupElementError(FameFormatError):
    """Bytes do not encode a point of the prime-order subgroup (or an element of GT)."""


class DegenerateKeyError(FameFormatError):
    """A master public key whose elements are individually valid but together degenerate.

    ``T_1`` or ``T_2`` the identity of GT (then ``T_t^{s_t} = 1`` and the ciphertext's
    ``ct'`` carries the KEM secret in clear), or ``H_1 = H_2`` / ``T_1 = T_2`` (the two
    2-Lin components collapse into one). An honest setup produces any of these with
    probability about ``1/r``."""


class GroupArgumentError(CryptoError):
    """A pairing product, multi-scalar multiplication or GT membership test was given
    arguments of the wrong group or type, uninitialised elements or lists of different
    lengths. Raised before the native (ctypes) path copies any memory."""


# --- record envelope (crypto.envelope, crypto.stream) ---


class EnvelopeError(CryptoError):
    """An envelope header or body is malformed, tampered with, or does not match its key."""


class EnvelopeFormatError(EnvelopeError):
    """A header or body is structurally invalid (bad CBOR, unknown version or scheme, bad size)."""


class EnvelopeIntegrityError(EnvelopeError):
    """An authentication tag failed: the header or body was altered, truncated or swapped."""


class EnvelopeSealError(EnvelopeIntegrityError):
    """The author's seal is missing, malformed or does not sign this content: the record was
    changed after its author wrote it (or is another record's)."""


class EnvelopeBindingError(EnvelopeIntegrityError):
    """An envelope v2 names another record id or patient than the one asked for: a header
    (and body) of one record served as another."""


class EnvelopeAccessDeniedError(EnvelopeError):
    """The user key's attributes do not satisfy the record's policy."""


# --- key serialisation and sealing (crypto.keys) ---


class KeyFormatError(CryptoError):
    """Serialised key material is malformed, of the wrong kind, version or scheme."""


class WrongPassphraseError(CryptoError):
    """The passphrase does not open the encrypted master secret key."""


class SealError(CryptoError):
    """A sealed box is malformed or was tampered with."""


class WrongRecipientError(SealError):
    """A sealed box was addressed to another X25519 public key than the one opening it."""


# --- Sign-In with Ethereum (crypto.siwe) ---


class SiweError(SigningError):
    """A Sign-In with Ethereum message is malformed or fails verification.

    ``reason`` is a stable code (``malformed``, ``domain``, ``chain_id``, ``nonce``, ``expired``,
    ``not_yet_valid``, ``signature``, ``address``) that the API maps onto its JSON error codes.
    """

    reason = "invalid"

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class SiweMalformedError(SiweError):
    """The message text does not follow the EIP-4361 grammar; ``line`` is the 1-based line."""

    reason = "malformed"


class SiweDomainError(SiweError):
    reason = "domain"


class SiweChainIdError(SiweError):
    reason = "chain_id"


class SiweNonceError(SiweError):
    reason = "nonce"


class SiweExpiredError(SiweError):
    reason = "expired"


class SiweNotYetValidError(SiweError):
    reason = "not_yet_valid"


class SiweSignatureError(SiweError):
    reason = "signature"


class SiweAddressError(SiweError):
    """The message's address is not EIP-55 checksummed."""

    reason = "address"


# --- member attributes (crypto.attributes) ---


class MemberAttributeError(CryptoError):
    """An attribute an admin wants to give a member is not ``namespace:value`` in the policy
    grammar (lower-case ASCII, no spaces, at most 32 bytes): refused, never folded."""

    def __init__(self, message: str, *, attribute: object) -> None:
        super().__init__(message)
        self.attribute = attribute


class ReservedAttributeError(MemberAttributeError):
    """The attribute's namespace is derived by the protocol (``uid``, ``org``, ``epoch`` ...)
    and may not be written by an admin."""
