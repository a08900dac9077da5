#!/usr/bin/env node
// First: V8 flags that must be set before cedar-wasm is compiled (gateway/v8-memory.ts).
import './cli/memory-flags.js';
import { approvalsCommand, approvalsHelp } from './cli/approvals.js';
import { auditCommand, auditHelp } from './cli/audit.js';
import { checkCommand, checkHelp } from './cli/check.js';
import { reportFailure, UsageError } from './cli/common.js';
import { policyCommand, policyHelp } from './cli/policy.js';
import { revokeCommand, revokeHelp } from './cli/revoke.js';
import { startCommand, startHelp } from './cli/start.js';
import { tasksCommand, tasksHelp } from './cli/tasks.js';
import { tokenCommand, tokenHelp } from './cli/token.js';

const commands: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  start: { run: startCommand, help: startHelp },
  check: { run: checkCommand, help: checkHelp },
  token: { run: tokenCommand, help: tokenHelp },
  policy: { run: policyCommand, help: policyHelp },
  audit: { run: auditCommand, help: auditHelp },
  revoke: { run: revokeCommand, help: revokeHelp },
  tasks: { run: tasksCommand, help: tasksHelp },
  approvals: { run: approvalsCommand, help: approvalsHelp },
};

/** How long a failed command may take to close what it opened before it is made to exit. */
const EXIT_GRACE_MS = 3_000;

const usage = `escrow — a reverse proxy that holds upstream secrets in escrow for AI agents

Usage: escrow <command> [options]      (escrow <command> --help for details)

  start     run the gateway (no config: the embedded dev default)
  check     validate config, adapters, identity key sets and policies without starting
  token     mint a dev workload token (dev configs only)
  policy    validate | test | explain Cedar policies
  audit     trace | verify | hash the audit trail
  revoke    kill switch: revoke leases by principal, target, or all
  tasks     list | show | close live tasks (operators, via the admin API)
  approvals list | show | approve | deny what waits for a person

Exit codes: 0 ok, 1 failure, 2 invalid config or usage.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = reportFailure(
      error instanceof TypeError && /parseArgs|ERR_PARSE_ARGS/.test(String((error as { code?: string }).code))
        ? new UsageError(error.message)
        : error,
    );
    // A failed command closes what it opened, and the process ends by itself. Should anything still hold it
    // open, exit anyway: a supervisor that restarts on exit must see the failure (and this line says it is a bug).
    setTimeout(() => {
      process.stderr.write('escrow: something was still open after the failure; exiting anyway (a bug: report it)\n');
      process.exit();
    }, EXIT_GRACE_MS).unref();
  },
);
