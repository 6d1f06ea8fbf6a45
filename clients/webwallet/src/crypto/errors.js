// The errors of the shared in-page crypto (clients/webwallet/src/crypto), one base class as
// crypto/errors.py has CryptoError: a caller catches CryptoError for "this record cannot be
// opened" and the subclass says why, with a message a person can act on.

/** Base of every error this package raises. */
export class CryptoError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bytes that are not a valid group element (wrong size, off the curve, outside the subgroup). */
export class GroupElementError extends CryptoError {}

/** A FAME key or ciphertext whose structure is wrong (fields, counts, scheme, policy). */
export class FameFormatError extends CryptoError {}

/** The key's attributes do not satisfy the ciphertext's policy. */
export class PolicyNotSatisfied extends CryptoError {}

/** A sealed box that is malformed, made for another purpose or altered. */
export class SealError extends CryptoError {}

/** A sealed box made for another X25519 key. */
export class WrongRecipientError extends SealError {}

/** An envelope header or body that is malformed or of an unknown version. */
export class EnvelopeFormatError extends CryptoError {}

/** An envelope that fails authentication (altered header, body, truncation, wrong key). */
export class EnvelopeIntegrityError extends CryptoError {}

/** An envelope of another record or patient, or whose digests differ from the chain's. */
export class EnvelopeBindingError extends CryptoError {}

/** The reader's key opens no slot of the envelope. */
export class EnvelopeAccessDeniedError extends CryptoError {}

/** The author's seal does not open or does not sign this content. */
export class EnvelopeSealError extends CryptoError {}
