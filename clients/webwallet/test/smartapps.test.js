// The patient's revocation of a connected app: an AppRevocation the Marketplace recovers the
// patient from (domain from GET /smart/connections' `sign`), a fresh nonce each time, and the
// list ordered with the apps still connected first.
import { Wallet, verifyTypedData } from 'ethers';
import { describe, expect, it } from 'vitest';
import { appRevocation, marketplaceDomain, revocationTypes, signedRevocation, sortConnections } from '../src/smartapps.js';

const sign = { chain_id: 31337, verifying_contract: '0x5fbdb2315678afecb367f032d93f642f64180aa3' };
const APP = `0x${'9a'.repeat(32)}`;

describe('AppRevocation', () => {
  it('is signed by the patient over the app id, in the Marketplace domain', async () => {
    const wallet = new Wallet(`0x${'22'.repeat(32)}`);
    const body = await signedRevocation(wallet, sign, APP, 1_800_000_000);
    expect(body.deadline).toBe(1_800_000_600);
    const message = { patient: wallet.address, appId: APP, nonce: body.nonce, deadline: body.deadline };
    const domain = marketplaceDomain(sign);
    expect(domain).toMatchObject({ name: 'MedLedger Marketplace', version: '1', chainId: 31337 });
    expect(verifyTypedData(domain, revocationTypes(), message, body.signature)).toBe(wallet.address);
    const again = await signedRevocation(wallet, sign, APP, 1_800_000_000);
    expect(again.nonce).not.toBe(body.nonce);
  });
  it('refuses an app id that is not bytes32', () => {
    expect(() => appRevocation({ patient: `0x${'11'.repeat(20)}`, appId: '0x1234', deadline: 1 })).toThrow(/appId/);
  });
});

describe('connections', () => {
  it('lists the apps in force first, newest first', () => {
    const list = [
      { app_id: 'a', revoked_at: 5, last_issued_at: 9 },
      { app_id: 'b', revoked_at: 0, last_issued_at: 1 },
      { app_id: 'c', revoked_at: 0, last_issued_at: 3 },
    ];
    expect(sortConnections(list).map((c) => c.app_id)).toEqual(['c', 'b', 'a']);
  });
});
