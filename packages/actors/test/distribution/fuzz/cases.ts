// The fuzzer's cases: where a case runs (before the handshake, after a hello, after
// authentication, against the node's own dial) and what it sends: frames of every
// kind with any value or a plausible one in every field, raw bytes, cut frames,
// length headers alone, and structured-clone references.

import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ANSWER, CHALLENGE, HEARTBEAT, HELLO, PROTOCOL_VERSION, READY, REFUSED, RESET, SIGNALS, TICK } from '../../../src/distribution/internal/codec.js';
import { FRAGMENT } from '../../../src/distribution/internal/fragments.js';

/** The fuzzer's node name on its authenticated connections. */
export const FUZZER = 'fuzzer@127.0.0.1:1';
/** The fuzzer's incarnation, as a handshake carries it. */
export const FUZZER_CREATION = 1;
/** Stands for the name of the node the target dialled in a case (known only when it runs). */
export const DIALLED = '<dialled node>';

export type Where = 'pre' | 'after-hello' | 'post' | 'dial' | 'dial-ready';

export type Piece =
  | { readonly t: 'frame'; readonly value: unknown[] }
  | { readonly t: 'bytes'; readonly bytes: Uint8Array }
  | { readonly t: 'truncated'; readonly value: unknown[]; readonly keepPercent: number }
  | { readonly t: 'oversize'; readonly extra: number }
  | { readonly t: 'references' };

export interface Case {
  readonly where: Where;
  readonly pieces: readonly Piece[];
}


const anything = fc.anything({
  maxDepth: 3,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withObjectString: true,
});

/** Any value, or one that passes the first checks so that the next ones are reached too. */
const field = (plausible: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 1, arbitrary: anything }, { weight: 5, arbitrary: plausible });
const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));

export function caseArbitrary(targetName: string): fc.Arbitrary<Case> {
  // Pids of actors that do not exist (ids from 1,000,000) or of a scheduler (id 0),
  // packed as the wire packs them, or spelled out: valid signals reach nothing real.
  const id = fc.oneof(fc.constant(0), fc.integer({ min: 1_000_000, max: 2 ** 40 }));
  const packedPid = fc.tuple(id, fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 1 })).map(([i, s, end]) => (i * 256 + s) * 2 + end);
  const spelledPid = fc.tuple(fc.constantFrom(targetName, FUZZER, 'other@127.0.0.1:2'), fc.integer({ min: 0, max: 300 }), id, fc.integer({ min: 1, max: 2 ** 30 }));
  const pid = field(fc.oneof(packedPid, spelledPid));
  const ref = field(fc.string({ maxLength: 12 }));
  const name = field(fc.constantFrom('nobody', 'rafter_failure_detector'));
  const node = field(fc.constantFrom(targetName, FUZZER));
  const wireError = fc.record({ $error: fc.record({ name: field(fc.string()), message: field(fc.string()), code: field(fc.string()), props: field(fc.dictionary(fc.string(), anything)) }, { requiredKeys: [] }) });
  const reason = field(fc.oneof(fc.constantFrom('normal', 'noproc', 'shutdown'), wireError));
  const bool = field(fc.boolean());
  const fieldsByCode: fc.Arbitrary<unknown>[][] = [
    [pid, anything], // 0 msg
    [pid, pid, ref, anything], // 1 call
    [name, node, anything], // 2 named
    [pid, name, node, ref], // 3 monitorName
    [pid, pid], // 4 link
    [pid, pid], // 5 unlink
    [pid, pid, reason, bool], // 6 exit
    [pid, pid, ref], // 7 monitor
    [pid, pid, ref], // 8 demonitor
    [pid, ref, field(fc.oneof(packedPid, fc.record({ name: fc.string(), node: fc.constant(FUZZER) }))), reason], // 9 down
    [pid, ref, bool, anything, field(fc.constant(1))], // 10 reply
    [pid, ref, pid, anything, anything, anything], // 11 spawn
    [pid, ref, pid], // 12 info
    [pid, pid, ref, anything], // 13 call as a message
  ];
  const signal = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 13 }).chain((code) => withArity(code, fieldsByCode[code]!)) },
    { weight: 1, arbitrary: fc.tuple(anything, anything, anything).map((f) => [...f]) },
    { weight: 1, arbitrary: anything },
  );
  // A fragment carries raw bytes or a whole signals frame body (one fragment that is both first and last).
  const plainPackr = new Packr({ useRecords: false, moreTypes: true });
  const packedOrEmpty = (value: unknown): Uint8Array => {
    try {
      return plainPackr.pack(value);
    } catch {
      return new Uint8Array(0);
    }
  };
  const fragmentBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), withArity(SIGNALS, [field(fc.array(signal, { maxLength: 3 }))]).map(packedOrEmpty));
  const fieldsByKind = new Map<number, fc.Arbitrary<unknown>[]>([
    [HELLO, [field(fc.constant(PROTOCOL_VERSION)), field(fc.constant(FUZZER)), field(fc.constant(targetName)), field(hex(16)), field(fc.constant(FUZZER_CREATION))]],
    [CHALLENGE, [field(fc.constantFrom(DIALLED, targetName)), field(hex(16)), field(hex(32)), field(fc.constant(FUZZER_CREATION))]],
    [ANSWER, [field(hex(32))]],
    [READY, []],
    [REFUSED, [field(fc.constantFrom('cookie', 'name', 'version', 'simultaneous', 'toString', '__proto__'))]],
    [SIGNALS, [field(fc.array(signal, { maxLength: 3 }))]],
    [TICK, []],
    [HEARTBEAT, [field(fc.constant(0))]],
    [RESET, []],
    [FRAGMENT, [field(fc.integer({ min: 0, max: 5 })), field(fc.integer({ min: 0, max: 3 })), field(fragmentBytes)]],
  ]);
  const frame: fc.Arbitrary<unknown[]> = fc.oneof(
    { weight: 12, arbitrary: withArity(SIGNALS, fieldsByKind.get(SIGNALS)!) },
    { weight: 6, arbitrary: fc.constantFrom(...fieldsByKind.keys()).chain((kind) => withArity(kind, fieldsByKind.get(kind)!)) },
    { weight: 1, arbitrary: fc.tuple(field(fc.integer({ min: 0, max: 255 })), anything).map((f) => [...f]) },
  );
  const piece: fc.Arbitrary<Piece> = fc.oneof(
    { weight: 12, arbitrary: frame.map((value) => ({ t: 'frame' as const, value })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ t: 'bytes' as const, bytes })) },
    { weight: 1, arbitrary: fc.tuple(frame, fc.integer({ min: 0, max: 99 })).map(([value, keepPercent]) => ({ t: 'truncated' as const, value, keepPercent })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 31 }).map((extra) => ({ t: 'oversize' as const, extra })) },
    { weight: 1, arbitrary: fc.constant({ t: 'references' as const }) },
  );
  return fc.record({
    where: fc.constantFrom<Where>(...((process.env.FUZZ_WHERE?.split(',') as Where[] | undefined) ?? ['pre', 'after-hello', 'post', 'post', 'post', 'dial', 'dial-ready'])),
    pieces: fc.array(piece, { minLength: 1, maxLength: 3 }),
  });
}

/** The expected fields; now and then one too few or one too many. */
function withArity(head: number, fields: fc.Arbitrary<unknown>[]): fc.Arbitrary<unknown[]> {
  const delta = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.constant(1) });
  return fc.tuple(fc.tuple(...fields), delta, anything).map(([values, delta, extra]) => {
    const out: unknown[] = [head, ...values];
    if (delta < 0 && values.length > 0) out.pop();
    if (delta > 0) out.push(extra);
    return out;
  });
}

export function terminal(pieces: readonly Piece[]): Piece | undefined {
  return pieces.find((p) => p.t === 'truncated' || p.t === 'oversize' || p.t === 'references');
}

/** Ends with a piece the target must refuse at once, whatever came before (no need to end our side). */
export function mustClose(pieces: readonly Piece[]): boolean {
  const last = terminal(pieces);
  return last !== undefined && last.t !== 'truncated';
}
