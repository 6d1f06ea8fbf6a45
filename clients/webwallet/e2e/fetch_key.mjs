// The page's key request through the API's same-origin relay (what the workstation does: a
// page may only talk to its own origin): POST <api>/keys/authorities/<id>/keys carries the
// member's signed KeyRequest to their institution's authority; the page opens the sealed key.
// usage: node fetch_key.mjs <api-url> <institution> <member-key> <chain-id> <consortium>
// prints { attributes, epoch, institution } or { error, message, code }
import { Wallet } from 'ethers';
import { fetchUserKey } from '../src/crypto/index.js';

const [api, institution, memberKey, chainId, consortium] = process.argv.slice(2);
try {
  const issued = await fetchUserKey({
    url: `${api}/keys/authorities/${institution}`,
    signer: new Wallet(memberKey),
    institutionId: Number(institution),
    chainId: Number(chainId),
    consortium,
  });
  process.stdout.write(`${JSON.stringify({ attributes: issued.attributes, epoch: issued.epoch, institution: issued.institution })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: err.name, message: err.message, code: err.code, status: err.status })}\n`);
}
