// Loads the Lua scripts in ./scripts from disk, once per process. A line
// `--- @include "name"` is replaced by ./scripts/includes/name.lua (each include at most
// once per script, nested includes resolved first).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SCRIPTS_DIR = join(__dirname, 'scripts');

/** The scripts, by file name (without `.lua`). */
export const SCRIPT_NAMES = [
  'register_plan',
  'land_proof',
  'land_proofs_batch',
  'batch_progress',
  'clear_batch',
  'mark_emitted',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

const INCLUDE = /^--- @include "([A-Za-z0-9_]+)"\s*$/gm;

const sources = new Map<ScriptName, string>();
let fileReads = 0;

function readLua(path: string): string {
  fileReads += 1;
  return readFileSync(path, 'utf8');
}

function resolveIncludes(text: string, included: Set<string>): string {
  return text.replace(INCLUDE, (_line, name: string) => {
    if (included.has(name)) return `-- (include "${name}" already above)`;
    included.add(name);
    return resolveIncludes(readLua(join(SCRIPTS_DIR, 'includes', `${name}.lua`)), included);
  });
}

/** The full text of a script, includes resolved. Read from disk on first use only. */
export function scriptSource(name: ScriptName): string {
  let text = sources.get(name);
  if (text === undefined) {
    text = resolveIncludes(readLua(join(SCRIPTS_DIR, `${name}.lua`)), new Set());
    sources.set(name, text);
  }
  return text;
}

/** How many .lua files this process has read so far (stays put once all scripts are loaded). */
export function scriptFileReads(): number {
  return fileReads;
}
