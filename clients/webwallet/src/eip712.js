// EIP-712 consents and revocations, built from the one definition in crypto/signing.py
// (exported to generated/eip712.json by scripts/export_eip712.py). The app signs only what
// these builders return, after the patient confirmed the summary of exactly that message.
import { getAddress, TypedDataEncoder, verifyTypedData, ZeroAddress, ZeroHash } from 'ethers';
import definitions from './generated/eip712.json';

const { types, purposes, domain: domainBase } = definitions.eip712;

export const PURPOSES = Object.freeze({ ...purposes });
export const PURPOSE_NAMES = Object.freeze(
  Object.fromEntries(Object.entries(purposes).map(([name, code]) => [code, name])),
);

/** The EIP-712 domain from GET /chain's eip712_domain (checked against the shared name). */
export function domainFromChain(chain) {
  const d = chain.eip712_domain;
  if (d.name !== domainBase.name || d.version !== domainBase.version) {
    throw new Error(`the API signs for ${d.name} v${d.version}; this wallet knows ${domainBase.name} v${domainBase.version}`);
  }
  return {
    name: d.name,
    version: d.version,
    chainId: Number(d.chainId),
    verifyingContract: getAddress(d.verifyingContract),
  };
}

/** A nonce that rises across sessions without local state (as the SDK: clock in ns). */
export function freshNonce(above = 0n) {
  const now = BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
  return now > BigInt(above) ? now : BigInt(above) + 1n;
}

/**
 * The Consent message, field for field as crypto.signing.Consent.message().
 * Exactly one of grantee / granteePolicyHash; recordId null = the whole chart.
 */
export function buildConsent({
  patient,
  grantee = null,
  granteePolicyHash = null,
  recordId = null,
  purpose = 'treatment',
  notBefore = 0,
  expiresAt,
  nonce,
}) {
  if ((grantee == null) === (granteePolicyHash == null)) {
    throw new Error('name exactly one of a grantee address or a grantee policy');
  }
  const code = typeof purpose === 'number' ? purpose : purposes[purpose];
  if (code === undefined || PURPOSE_NAMES[code] === undefined) throw new Error(`unknown purpose ${purpose}`);
  if (!Number.isInteger(expiresAt) || expiresAt <= 0) throw new Error('expiresAt must be unix seconds');
  return {
    patient: getAddress(patient),
    grantee: grantee == null ? ZeroAddress : getAddress(grantee),
    granteePolicyHash: granteePolicyHash ?? ZeroHash,
    recordId: recordId ?? ZeroHash,
    purpose: code,
    notBefore,
    expiresAt,
    nonce: BigInt(nonce),
  };
}

export function buildRevocation({ patient, consentId: id, nonce, deadline }) {
  return { patient: getAddress(patient), consentId: id, nonce: BigInt(nonce), deadline };
}

/** The eth_signTypedData_v4 payload (what crypto.signing.typed_data returns). */
export function typedData(domain, primaryType, message) {
  return {
    types: { EIP712Domain: definitions.eip712.domainType, [primaryType]: types[primaryType] },
    primaryType,
    domain,
    message,
  };
}

/** ethers wants the types without EIP712Domain, one primary type at a time. */
function typesOf(primaryType) {
  return { [primaryType]: types[primaryType] };
}

/** hashStruct(consent): the consent's on-chain id. */
export function consentId(consent) {
  return TypedDataEncoder.hashStruct('Consent', typesOf('Consent'), consent);
}

/** Sign with an ethers signer (Wallet); returns the 65-byte r‖s‖v hex. */
export function signTyped(signer, domain, primaryType, message) {
  return signer.signTypedData(domain, typesOf(primaryType), message);
}

export function recoverTyped(domain, primaryType, message, signature) {
  return verifyTypedData(domain, typesOf(primaryType), message, signature);
}

/** The consent object of POST /consents (snake_case, zero values omitted), as the SDK sends. */
export function consentJson(c) {
  return {
    patient: c.patient,
    grantee: c.grantee === ZeroAddress ? null : c.grantee,
    grantee_policy_hash: c.granteePolicyHash === ZeroHash ? null : c.granteePolicyHash,
    record_id: c.recordId === ZeroHash ? null : c.recordId,
    purpose: c.purpose,
    not_before: c.notBefore,
    expires_at: c.expiresAt,
    nonce: c.nonce.toString(),
  };
}

/** The signed fields of a consent back from a GET /consents item. */
export function consentFromListing(item) {
  return buildConsent({
    patient: item.patient,
    grantee: item.grantee ?? null,
    granteePolicyHash: item.grantee ? null : item.grantee_policy_hash,
    recordId: item.record_id ?? null,
    purpose: typeof item.purpose === 'number' ? item.purpose : purposes[item.purpose],
    notBefore: Number(item.not_before),
    expiresAt: Number(item.expires_at),
    nonce: BigInt(item.nonce),
  });
}
