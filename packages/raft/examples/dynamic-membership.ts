// Ra's README "Dynamically Changing Cluster Membership" in TypeScript: a one-member
// cluster on the second node, members added on the first and third nodes (addMember,
// then startServer on the new member's node), a temporary fourth member that leaves
// with leaveAndTerminate. Four node processes stand in for `rebar3 shell --name ra{N}`.
// Run with `pnpm tsx packages/raft/examples/dynamic-membership.ts`.

import { ProcessCluster } from '../../../tools/cluster/process-cluster.js';
import { type MachineRef, type ServerId, leaveAndTerminate, localQuery, members, processCommand, addMember, startCluster, startServer, useCaller } from '../src/index.js';

const say = (line: string): void => console.log(line);

const nodes = await ProcessCluster.start({ nodes: 4, machineModules: [], system: 'default' });
try {
  useCaller(nodes.control);
  say(`nodes: ${nodes.nodes.map((n) => n.fullName).join(', ')}`);
  const clusterName = 'dyn_members';
  const machine: MachineRef = { module: new URL('./adder.ts', import.meta.url).href, export: 'adder' };
  const [ra1, ra2, ra3, ra4] = nodes.nodes.map((n): ServerId => ({ name: clusterName, node: n.fullName })) as [ServerId, ServerId, ServerId, ServerId];
  const names = (ids: readonly ServerId[]): string => ids.map((s) => s.node.split('@')[0]).sort().join(', ');

  // A single-member cluster on ra2.
  await startCluster('default', clusterName, machine, [ra2]);
  await processCommand(ra2, 1);
  say(`started ${clusterName} on ${ra2.node}`);

  // Add ra1: start its server, given the existing members, then tell the cluster about
  // it. Ra's README does these the other way round, as ra:add_member answers once the
  // change is in the leader's log; addMember answers once it is committed, which a
  // change from one member to two cannot be before the new member runs.
  await startServer('default', clusterName, ra1, machine, [ra2]);
  await addMember(ra2, ra1);
  // Add ra3 the same way.
  await startServer('default', clusterName, ra3, machine, [ra2]);
  await addMember(ra2, ra3);

  const three = await members(ra1);
  say(`members: ${names(three.members)}; leader ${three.leader?.node.split('@')[0]}`);
  if (three.members.length !== 3) throw new Error(`expected 3 members, got ${three.members.length}`);

  // A temporary fourth member, which then leaves and is deleted.
  await startServer('default', clusterName, ra4, machine, [ra2]);
  await addMember(ra2, ra4);
  const four = await members(ra2);
  say(`members: ${names(four.members)}`);
  const added = await processCommand<number>([ra4, ra2], 2);
  // The new member has the whole history: the first command and this one.
  const onRa4 = await localQuery<number>(ra4, 'value', { minIndex: added.index });
  say(`ra4 applied the history: value ${onRa4.result}`);
  await leaveAndTerminate('default', ra4, ra4);

  const after = await members(ra2);
  say(`members: ${names(after.members)}`);
  if (after.members.length !== 3 || after.members.some((s) => s.node === ra4.node)) throw new Error('ra4 did not leave');
  const last = await processCommand<number>([ra1, ra2, ra3], 3);
  say(`process_command 3 -> ${last.reply}`);
  if (last.reply !== 6) throw new Error(`expected 6, got ${String(last.reply)}`);
  say('dynamic membership: ok');
} finally {
  await nodes.stop();
}
