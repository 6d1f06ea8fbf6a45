// node clients/webwallet/bench/bench_node.mjs [n]: the same decryption timing in node (one JSON line).
import { benchDecrypt } from './decrypt_entry.mjs';

process.stdout.write(`${JSON.stringify(await benchDecrypt(Number(process.argv[2] ?? 30)))}\n`);
