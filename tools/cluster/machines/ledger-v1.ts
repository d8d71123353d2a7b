// New code of the rolling-upgrade test: registers version 1 of the ledger (ledger.ts).
import { registerMachine } from '@rafter/raft';
import { ledgerV1 } from './ledger.js';

registerMachine('ledger', ledgerV1);
