// The clinician's page signs the app marketplace's AppAuthorization and AppReadRequest with
// the workstation's generic signer (signing.js) and builds them with the wallet's builders
// (@wallet/apptypes.js): the same digests and signatures Python made for fixed inputs
// (webwallet/test/fixtures/python.json, written by scripts/export_eip712.py).
import { readFileSync } from 'node:fs';
import { TypedDataEncoder, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { appAuthorization, appReadRequest, appRevocation } from '@wallet/apptypes.js';
import { contractDomain, digest, signMessage } from '../src/signing.js';

const py = JSON.parse(readFileSync(new URL('../../webwallet/test/fixtures/python.json', import.meta.url), 'utf8'));
const wallet = new Wallet(py.privateKey);
const { clientId, scopes } = py.appIds;
const BUILD = {
  appReadRequest: (m) => appReadRequest({ ...m, clientId }),
  appAuthorization: (m) => appAuthorization({ ...m, clientId, scopes }),
  appRevocation: (m) => appRevocation(m),
};

describe('app marketplace messages in the workstation', () => {
  for (const [name, build] of Object.entries(BUILD)) {
    const { primaryType, domain, message, types } = py[name].typedData;
    it(`${primaryType}: Python's digest and signature`, async () => {
      const contract = primaryType === 'AppReadRequest' ? 'AccessLog' : 'Marketplace';
      const chain = { chain_id: domain.chainId, contracts: { [contract]: domain.verifyingContract } };
      const d = contractDomain(chain, contract);
      const m = build({ ...message, nonce: BigInt(message.nonce) });
      const { EIP712Domain: _, ...plain } = types;
      expect(digest(d, primaryType, m)).toBe(TypedDataEncoder.hash(domain, plain, message));
      expect(await signMessage(wallet, d, primaryType, m)).toBe(py[name].signature);
    });
  }
});
