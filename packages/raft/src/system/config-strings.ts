// Server configurations arrive decoded from the distribution, where the longer strings
// of a message are slices of one string decoded for all of it: a configuration kept for
// the server's life would keep the whole message's text. The strings a server keeps are
// copied out here, and node names (a few per system, in every member list) shared.

import type { Member } from '../internal/core/log.js';
import type { ServerConfig } from './runtime.js';

/** Node names shared per thread; past this many (a fleet that keeps changing) they are only copied. */
const NODE_NAMES_SHARED_MAX = 1_024;
const nodeNames = new Map<string, string>();

/** `config` with strings of its own (same values); machineConfig is the machine's and left as given. */
export function withOwnStrings(config: ServerConfig): ServerConfig {
  return {
    ...config,
    name: ownString(config.name),
    uid: ownString(config.uid),
    clusterName: ownString(config.clusterName),
    initialMembers: config.initialMembers.map(ownMember),
  };
}

function ownMember(member: Member): Member {
  return { ...member, id: { name: ownString(member.id.name), node: sharedNodeName(member.id.node) } };
}

function sharedNodeName(node: string): string {
  const known = nodeNames.get(node);
  if (known !== undefined) return known;
  const own = ownString(node);
  if (nodeNames.size < NODE_NAMES_SHARED_MAX) nodeNames.set(own, own);
  return own;
}

/** A copy that is no slice of a longer string (a UTF-8 round trip makes a new flat string). */
function ownString(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}
