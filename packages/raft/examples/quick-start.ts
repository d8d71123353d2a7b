// Ra's README quick start in TypeScript: three node processes on this machine (standing
// in for `rebar3 shell --name ra{N}@hostname`), each with the default Raft system, a
// 3-member cluster of an adding machine started from here, commands, and a leader and
// a local query. Run with `pnpm tsx packages/raft/examples/quick-start.ts`.

import { ProcessCluster } from '../../../tools/cluster/process-cluster.js';
import { type MachineRef, type ServerId, leaderQuery, localQuery, members, processCommand, startCluster, useCaller } from '../src/index.js';

const say = (line: string): void => console.log(line);

// The node processes start the Raft system `default` themselves (Ra: rpc:call(N, ra, start, [])).
const nodes = await ProcessCluster.start({ nodes: 3, machineModules: [], system: 'default' });
try {
  // API calls go through a node in this process that is connected to the others.
  useCaller(nodes.control);
  say(`nodes: ${nodes.nodes.map((n) => n.fullName).join(', ')}`);

  // Server ids name a server on a node: { name, node } (Ra: {quick_start, Node}).
  const serverIds: ServerId[] = nodes.nodes.map((n) => ({ name: 'quick_start', node: n.fullName }));
  const clusterName = 'quick_start';
  const machine: MachineRef = { module: new URL('./adder.ts', import.meta.url).href, export: 'adder' };

  const { started, notStarted } = await startCluster('default', clusterName, machine, serverIds);
  say(`started ${started.length} servers, ${notStarted.length} not started`);

  // Add a number to the state machine; the reply is the new state.
  const first = await processCommand<number>(started[0] as ServerId, 5);
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
  await nodes.stop();
}
