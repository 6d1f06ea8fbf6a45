// The EIP-712 domain name and the RecordRegistration type the author of a record signs, and
// RecordRegistry recovers on chain (issue 14).
//
// MIRROR: this copies RecordRegistration of crypto/signing/records.py (the contracts branch),
// which scripts/export_eip712.py exports as generated/eip712.json → domains.RecordRegistry.
// That export is not in this base yet; at merge, replace the two constants below with
//   const { domain, types } = definitions.domains.RecordRegistry;
// (test/registration.test.js checks this copy against the generated file once it is there,
// and against scripts/export_registration.py's fixture, made by eth-account, meanwhile).
export const REGISTRY_DOMAIN = Object.freeze({ name: 'MedLedger RecordRegistry', version: '1' });

export const REGISTRATION_TYPES = Object.freeze({
  RecordRegistration: Object.freeze([
    { name: 'id', type: 'bytes32' },
    { name: 'patient', type: 'address' },
    { name: 'bodyCid', type: 'string' },
    { name: 'headerCid', type: 'string' },
    { name: 'bodyHash', type: 'bytes32' },
    { name: 'policyHash', type: 'bytes32' },
    { name: 'recordType', type: 'bytes32' },
    { name: 'deadline', type: 'uint64' },
  ]),
});
