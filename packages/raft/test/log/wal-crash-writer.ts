// Child process for the WAL batch crash test: recovers the WAL directory in argv[2],
// then appends batches for every writer as fast as it can (terms change inside
// batches, small files so batches cross rollovers), printing "writer index" for each
// written notice, until it is killed. Every printed index was synced before it was printed.
import { NodeFs } from '../../src/internal/log/fs.js';
import { scanWalDir } from '../../src/internal/log/wal-recovery.js';
import { WalWriter } from '../../src/internal/log/wal.js';

const dir = process.argv[2] as string;
const writers = Number(process.argv[3] ?? 10);

const fs = new NodeFs();
const recovered = await scanWalDir(fs, dir);
const ids = Array.from({ length: writers }, (_, w) => `w${w}`);
const next = ids.map((id) => (recovered.lastIndexes.get(id) ?? 0) + 1);
const wal = await WalWriter.open({
  dir,
  fs,
  firstSeq: recovered.lastSeq + 1,
  lastIndexes: recovered.lastIndexes,
  maxSizeBytes: 16 * 1024,
  maxBatchEntries: 50,
  events: {
    written: (id, _term, _from, to) => process.stdout.write(`${id} ${to}\n`),
    resend: (id, from) => {
      process.stderr.write(`unexpected resend for ${id} from ${from}\n`);
      process.exit(3);
    },
    rolledOver: () => undefined,
    failed: (err) => {
      process.stderr.write(`WAL failed: ${String(err)}\n`);
      process.exit(3);
    },
  },
});
process.stdout.write('ready\n');
for (let round = 1; ; round++) {
  for (let w = 0; w < writers; w++) {
    const from = next[w] as number;
    const count = 1 + ((round + w) % 23);
    const payloads = [];
    const terms = [];
    for (let i = from; i < from + count; i++) {
      payloads.push(Buffer.from(`${ids[w]}:${i}`));
      terms.push(1 + Math.floor(i / 40));
    }
    wal.appendBatch(ids[w] as string, from, terms, payloads);
    next[w] = from + count;
  }
  if (wal.pendingEntries() > 2000) await wal.idle();
  else await new Promise((resolve) => setImmediate(resolve));
}
