/** The reload metric's label sets live with every other bounded label set; this module stays for reload.ts. */
export { REJECT_REASONS, RELOAD_RESULTS, type RejectReason, type ReloadLabel } from './metric-labels.js';
