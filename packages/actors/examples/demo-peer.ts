// The second node of the demo, in its own process: a greeter registered by name.

import { Node, silentLogger, type Behaviour, type Pid } from '../src/index.js';

const greeter: Behaviour<number> = {
  init: () => 0,
  handle: (msg: { hello: string; replyTo: Pid }, n, ctx) => {
    ctx.send(msg.replyTo, { greeting: `hello ${msg.hello}, from ${ctx.self.node}`, pid: ctx.self });
    return n + 1;
  },
  handleCall: (_req, _from, n) => ({ reply: `greeted ${n} time(s)`, state: n }),
};

const node = await Node.start({ name: 'peer', port: 0, cookie: process.argv[2] ?? 'demo-cookie', logger: silentLogger });
node.spawn(greeter, undefined, { name: 'greeter' });
process.stdout.write(`${node.name}\n`);
