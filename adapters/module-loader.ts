import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileFunction } from 'node:vm';

/** How a user adapter module is loaded: as an ES module (`import()`) or as CommonJS (`require`). */
export type ModuleFormat = 'module' | 'commonjs';

/** Why a module could not be loaded, in words an operator can act on (no secret: see registry.ts). */
export class ModuleLoadError extends Error {}

/**
 * The nearest package.json's `"type"`, as Node resolves it: the first package.json found walking up from the
 * file decides, and anything but `"module"` (or no package.json at all) means CommonJS.
 */
function packageType(file: string): { type: ModuleFormat; packageJson?: string } {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      let type: unknown;
      try {
        type = (JSON.parse(readFileSync(candidate, 'utf8')) as { type?: unknown }).type;
      } catch (cause) {
        throw new ModuleLoadError(`${candidate} is not valid JSON`, { cause });
      }
      return { type: type === 'module' ? 'module' : 'commonjs', packageJson: candidate };
    }
    if (dirname(dir) === dir) return { type: 'commonjs' };
  }
}

/**
 * Node's rule on 20.18, the oldest Node Escrow supports: `.mjs` is an ES module, `.cjs` is CommonJS, and `.js`
 * is whatever the nearest package.json's `"type"` says. Newer Node also guesses an ES module from its syntax;
 * Escrow does not, so that an adapter that loads on a developer's Node loads the same way in production.
 */
function moduleFormat(file: string): ModuleFormat {
  const ext = extname(file);
  if (ext === '.mjs') return 'module';
  if (ext === '.cjs') return 'commonjs';
  if (ext === '.js') return packageType(file).type;
  throw new ModuleLoadError(`an adapter module must be a .mjs, .cjs or .js file (got "${ext || 'no extension'}")`);
}

/** Parse as Node's CommonJS loader does, and say plainly when the file is an ES module in a CommonJS scope. */
function checkCommonJsSyntax(file: string): void {
  const source = readFileSync(file, 'utf8').replace(/^#!.*/, '');
  try {
    compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
  } catch (cause) {
    if (!(cause instanceof SyntaxError)) throw cause;
    const esm = /\b(import|export)\b/.test(source) && /import|export|Unexpected token/.test(cause.message);
    if (!esm) throw new ModuleLoadError(`${cause.message} (loaded as CommonJS)`, { cause });
    const where = packageType(file).packageJson;
    throw new ModuleLoadError(
      `it is an ES module, but Node loads this .js file as CommonJS (${where ? `${where} has no "type": "module"` : 'no package.json with "type": "module" above it'}): name it .mjs, or add {"type": "module"} to a package.json beside it`,
      { cause },
    );
  }
}

/**
 * A CommonJS file loaded as an ES module: Node 20.18 throws "module is not defined in ES module scope", newer
 * Node may hand back an empty namespace. Either way, say what it is and how to fix it.
 */
function commonJsAsModule(file: string): ModuleLoadError {
  const where = extname(file) === '.js' ? ` (${packageType(file).packageJson} has "type": "module")` : '';
  return new ModuleLoadError(
    `it is CommonJS (module.exports), but Node loads this file as an ES module${where}: name it .cjs`,
  );
}

const COMMONJS_SOURCE = /\bmodule\.exports\b|\bexports\.[A-Za-z_$][\w$]*\s*=/;

async function importModule(file: string): Promise<unknown> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ReferenceError && /^(module|exports|require) is not defined/.test(error.message)) {
      throw commonJsAsModule(file);
    }
    throw error;
  }
  const empty = namespace.default === undefined && namespace.create === undefined;
  if (empty && COMMONJS_SOURCE.test(readFileSync(file, 'utf8'))) throw commonJsAsModule(file);
  return namespace;
}

/** Load `file` (absolute) the way Node 20.18 would; resolves to its exports (ESM namespace or `module.exports`). */
export async function loadModule(file: string): Promise<unknown> {
  if (!existsSync(file)) throw new ModuleLoadError(`no such file: ${file}`);
  if (moduleFormat(file) === 'module') return importModule(file);
  checkCommonJsSyntax(file);
  return createRequire(file)(file);
}
