import type { Decision, Principal, Task } from '../domain.js';
import type { LeaseRecord } from '../leases/record.js';

/** What stages 2–5 establish about a request. Filled in as they pass, so a failure still records what was known. */
export interface Admission {
  readonly requestId: string;
  /** `gw.connections.seq` before the task was read: a close notice after it cuts the connection at once. */
  seenSeq?: number;
  principal?: Principal;
  task?: Task;
  decision?: Decision;
  /** The approval a person gave this request or its task (gateway/approvals/), for the audit trail. */
  approvalId?: string;
  lease?: LeaseRecord;
}
