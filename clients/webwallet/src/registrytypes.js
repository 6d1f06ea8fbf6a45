// The EIP-712 domain name and the RecordRegistration type the author of a record signs and
// RecordRegistry recovers on chain (issue 14), from the one definition in crypto/signing/
// (scripts/export_eip712.py → generated/eip712.json → domains.RecordRegistry).
import definitions from './generated/eip712.json' with { type: 'json' };

const { domain, types } = definitions.domains.RecordRegistry;

export const REGISTRY_DOMAIN = Object.freeze({ ...domain });

export const REGISTRATION_TYPES = Object.freeze({
  RecordRegistration: Object.freeze(types.RecordRegistration.map((f) => Object.freeze({ ...f }))),
});
