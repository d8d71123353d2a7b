// `pnpm bench frame-check [--json]`: the check every received frame's bytes go through
// (checkFrameBody), beside the whole decode of the same bytes (the check, then msgpackr),
// on frames like those the distribution sends: batches of small sends, calls, large
// strings, nested user data.

import { FRAME_HEADER_BYTES, FrameCodec, SIGNALS } from '../../packages/actors/src/distribution/internal/codec.js';
import { checkFrameBody, newRecordShapes, type FrameRules } from '../../packages/actors/src/distribution/internal/frame-check.js';
import { FRAME_DEPTH_MAX } from '../../packages/actors/src/distribution/limits.js';
import { machine, median, printTable } from './lib/report.js';

const ROUNDS = 7;
const ROUND_MS = 200;

/** A pid of the receiving end packed as the wire packs it (id 12, scheduler 0, end 1). */
const PID = (12 * 256 + 0) * 2 + 1;

interface Sample {
  name: string;
  /** Signals as the sender puts them on the wire: [kind, ...]. */
  wire: unknown[][];
}

const SAMPLES: Sample[] = [
  // `pnpm bench dist`: 10,000 sends of { body: 1 } flushed as one frame.
  { name: 'sends, 10,000 a frame', wire: Array.from({ length: 10_000 }, () => [0, PID, { body: 1 }]) },
  { name: 'sends, 100 a frame', wire: Array.from({ length: 100 }, () => [0, PID, { body: 1 }]) },
  { name: 'sends, 1 a frame', wire: [[0, PID, { body: 1 }]] },
  // Call requests with a reference string, as `node.call` makes them.
  { name: 'calls, 100 a frame', wire: Array.from({ length: 100 }, (_, i) => [13, PID, PID - 1, `#Ref<0.${i}.4711>`, { op: 'get', key: `key-${i}` }]) },
  { name: 'user data, 100 a frame', wire: Array.from({ length: 100 }, (_, i) => [0, PID, { id: i, name: 'a name', tags: ['x', 'y'], at: 1.5 * i, nested: { ok: true, n: -i } }]) },
  { name: 'one 64 KiB string', wire: [[0, PID, 'x'.repeat(64 * 1024)]] },
];

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const results = SAMPLES.map(measure);
  if (json) {
    console.log(JSON.stringify({ machine: machine(), results }));
    return;
  }
  console.log(`frame check vs msgpackr decode: ${machine().cpu}, Node ${process.version}; medians of ${ROUNDS} rounds\n`);
  printTable(
    ['frame', 'bytes', 'check ns/frame', 'check ns/byte', 'decode ns/frame', 'check share of decode'],
    results.map((r) => [r.name, String(r.bytes), r.checkNs.toFixed(0), (r.checkNs / r.bytes).toFixed(2), r.decodeNs.toFixed(0), `${((r.checkNs / r.decodeNs) * 100).toFixed(1)}%`]),
  );
}

function measure(sample: Sample): { name: string; bytes: number; checkNs: number; decodeNs: number } {
  const sender = new FrameCodec();
  const receiver = new FrameCodec();
  const rules: FrameRules = { shapes: newRecordShapes(), userTypes: true, depthMax: FRAME_DEPTH_MAX };
  // The first frame defines the record shapes; the ones after it, timed here, refer to them.
  const first = sender.encode([SIGNALS, sample.wire]).subarray(FRAME_HEADER_BYTES);
  if (checkFrameBody(first, rules) !== undefined) throw new Error(`${sample.name}: the first frame is refused`);
  receiver.decode(first);
  const body = sender.encode([SIGNALS, sample.wire]).subarray(FRAME_HEADER_BYTES);
  const refusal = checkFrameBody(body, rules);
  if (refusal !== undefined) throw new Error(`${sample.name}: refused: ${refusal}`);
  const checkNs: number[] = [];
  const decodeNs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    checkNs.push(timePerCall(() => checkFrameBody(body, rules)));
    decodeNs.push(timePerCall(() => receiver.decode(body)));
  }
  return { name: sample.name, bytes: body.length, checkNs: median(checkNs), decodeNs: median(decodeNs) };
}

/** Nanoseconds per call of `run`, over about ROUND_MS. */
function timePerCall(run: () => unknown): number {
  let calls = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ROUND_MS * 1e6);
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 16; i++) if (run() !== undefined) sink++;
    calls += 16;
    now = process.hrtime.bigint();
  }
  if (sink < 0) console.log(sink);
  return Number(now - start) / calls;
}
