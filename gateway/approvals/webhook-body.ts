import type { Approval } from './model.js';
import { approverView } from './views.js';

export type NotificationEvent =
  | 'approval.requested'
  | 'approval.granted'
  | 'approval.denied'
  | 'approval.expired'
  | 'approval.cancelled';

/** Escrow's own body: the event and the approver's view of the approval (nothing secret). */
export function jsonBody(event: NotificationEvent, approval: Approval, deliveryId: string, now: number): string {
  return JSON.stringify({
    type: event,
    id: deliveryId,
    time: new Date(now).toISOString(),
    approval: approverView(approval, now),
  });
}

/**
 * Slack's mrkdwn treats `<…>` as links and mentions (`<!channel>`, `<https://evil|click here>`) and `&` as an entity:
 * the agent writes the intent and the path, so every one of those characters is escaped as Slack documents.
 */
export function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

const HEADLINE: Readonly<Record<NotificationEvent, string>> = {
  'approval.requested': 'Approval requested',
  'approval.granted': 'Approved',
  'approval.denied': 'Denied',
  'approval.expired': 'Expired without a decision',
  'approval.cancelled': 'Cancelled (the task was closed)',
};

/** A Slack incoming-webhook body: one `text` line (for notifications) and one mrkdwn section. */
export function slackBody(event: NotificationEvent, approval: Approval, now: number): string {
  const view = approverView(approval, now);
  const what =
    view.kind === 'task'
      ? `open a task on ${view.targets.join(', ')}`
      : `${view.method} ${view.targets[0] ?? '?'}${view.path}${view.query}`;
  const lines = [
    `*${HEADLINE[event]}*: ${slackEscape(view.agent.id)} wants to ${slackEscape(what)}`,
    `Intent: ${slackEscape(view.task.intent || '(none)')}`,
    `Approval \`${view.id}\` · expires ${view.expiresAt}`,
    ...(view.decision ? [`Decided by ${slackEscape(view.decision.by.id)} (${view.decision.outcome})`] : []),
    ...(event === 'approval.requested' ? [`Decide with: \`escrow approvals approve ${view.id}\` (or deny)`] : []),
  ];
  return JSON.stringify({
    text: `${HEADLINE[event]}: ${slackEscape(view.agent.id)} wants to ${slackEscape(what)}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }],
  });
}
