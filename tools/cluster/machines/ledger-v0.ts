// Old code of the rolling-upgrade test: registers version 0 of the ledger (ledger.ts).
import { registerMachine } from '@rafter/raft';
import { ledgerV0 } from './ledger.js';

registerMachine('ledger', ledgerV0);
