// Ra's README quick start as an application that installed @rafter/actors and
// @rafter/raft from a registry runs it: only the packages' public entries, and no
// workspace tools, so that it also runs with plain `node` once compiled. It starts three
// node processes of itself (Ra: `rebar3 shell --name ra{N}@hostname`), each with the
// default Raft system, then a 3-member cluster of the adding machine, two commands, a
// leader query and a local query.
// From the workspace: `pnpm tsx packages/raft/examples/installed/quick-start.ts`; the
// pack test (packages/raft/test/pack) compiles it against the installed packages.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Node, stderrLogger } from '@rafter/actors';
import { type MachineRef, type ServerId, leaderQuery, localQuery, members, processCommand, startCluster, startSystem, useCaller } from '@rafter/raft';

const COOKIE = 'quick-start';
const NODE_READY_TIMEOUT_MS = 30_000;
const say = (line: string): void => console.log(line);
// Errors only: the connections that close at the end are expected.
const logger = stderrLogger('error');

/** One node process: a distributed node with a worker scheduler and the default Raft system. */
async function runNode(name: string, dataDir: string): Promise<void> {
  const node = await Node.start({ name, port: 0, cookie: COOKIE, schedulers: 2, dirtyThreads: 1, logger });
  const system = await startSystem(node, { dataDir });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await system.stop();
    await node.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  // A parent that is gone closes our stdin: stop rather than linger.
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ node: node.name })}\n`);
}

interface NodeProcess {
  readonly child: ChildProcess;
  readonly fullName: string;
  readonly exited: Promise<unknown>;
}

/** Starts this file as a node process and waits for the line with its node name. */
function startNodeProcess(name: string, dataDir: string): Promise<NodeProcess> {
  // execArgv carries a TypeScript loader along when this runs from source.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'node', name, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start within ${NODE_READY_TIMEOUT_MS} ms`)), NODE_READY_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`node ${name} exited with ${code ?? signal} before it was ready`));
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const end = out.indexOf('\n');
      if (end < 0) return;
      clearTimeout(timer);
      resolve({ child, fullName: (JSON.parse(out.slice(0, end)) as { node: string }).node, exited });
    });
  });
}

async function stopNodeProcesses(nodes: readonly NodeProcess[]): Promise<void> {
  await Promise.all(
    nodes.map(async ({ child, exited }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const grace = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(grace);
    }),
  );
}

async function runQuickStart(): Promise<void> {
  const dataRoot = mkdtempSync(join(tmpdir(), 'rafter-quick-start-'));
  const started = await Promise.allSettled(['ra1', 'ra2', 'ra3'].map((name) => startNodeProcess(name, join(dataRoot, name))));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  // API calls go through a node in this process that connects to the others.
  const client = await Node.start({ name: 'quick_start_client', port: 0, cookie: COOKIE, logger });
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    useCaller(client);
    say(`nodes: ${nodes.map((n) => n.fullName).join(', ')}`);

    // Server ids name a server on a node: { name, node } (Ra: {quick_start, Node}).
    const serverIds: ServerId[] = nodes.map((n) => ({ name: 'quick_start', node: n.fullName }));
    // The machine is named by module and export; each node process imports the module.
    const machine: MachineRef = { module: new URL('./adder.js', import.meta.url).href, export: 'adder' };
    const cluster = await startCluster('default', 'quick_start', machine, serverIds);
    say(`started ${cluster.started.length} servers, ${cluster.notStarted.length} not started`);

    // Add a number to the state machine; the reply is the new state.
    const first = await processCommand<number>(cluster.started[0] as ServerId, 5);
    say(`process_command 5 -> ${first.reply} (leader ${first.leader.name} on ${first.leader.node})`);
    // Use the leader from the last result for the next command.
    const second = await processCommand<number>(first.leader, 7);
    say(`process_command 7 -> ${second.reply}`);
    if (second.reply !== 12) throw new Error(`expected 12, got ${String(second.reply)}`);

    // Leader query: find the leader, read its machine state.
    const { leader } = await members(serverIds);
    if (leader === undefined) throw new Error('no leader known');
    const fromLeader = await leaderQuery<number>(leader, 'value');
    say(`leader_query -> ${fromLeader.result} (index ${fromLeader.index})`);

    // Local query: a replica's own state, possibly stale; wait until it has applied the second command.
    const replica = serverIds[2] as ServerId;
    const local = await localQuery<number>(replica, 'value', { minIndex: second.index });
    say(`local_query on ${replica.node} -> ${local.result}`);
    if (fromLeader.result !== 12 || local.result !== 12) throw new Error('queries disagree with the commands');
    say('quick start: ok');
  } finally {
    await stopNodeProcesses(nodes);
    await client.stop();
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

const [role, name, dataDir] = process.argv.slice(2);
if (role === 'node' && name !== undefined && dataDir !== undefined) await runNode(name, dataDir);
else await runQuickStart();
