// Schema evolution check. Each message's current schema must be both backward compatible (the
// current reader reads what the previous released version wrote) and forward compatible (the
// previous released reader reads what the current schema writes) with its latest released
// version in schemas/history/<Name>/<n>.avsc; and the current reader must read every released
// version, since the registry decodes all of them.
//
//   npx tsx schemas/compat.ts                 check; exit status 1 on any problem
//   npx tsx schemas/compat.ts release [Name]  after a passing check, save each changed current
//                                             schema as the next released version
//
// Options for both: --schemas <dir> (default schemas/avro), --history <dir> (default schemas/history).
import * as fs from 'fs';
import * as path from 'path';
import type { Schema, Type } from 'avsc';
import { parsingCanonicalForm, schemaFingerprint, fingerprintHex } from './fingerprint';
import {
  DEFAULT_HISTORY_DIR,
  DEFAULT_SCHEMA_DIR,
  SchemaSources,
  parseHistorySchema,
  parseMessageSchema,
  parseShared,
  readSchemaSources,
} from './registry';

/** Fields every pipeline message carries. */
export const REQUIRED_FIELDS = ['protocol_version', 'batch_number', 'job_id'] as const;

export type CompatCheck = 'backward' | 'forward' | 'structure';

export interface CompatIssue {
  /** Message name. */
  message: string;
  check: CompatCheck;
  /** Released version the problem concerns, if any. */
  version?: number;
  detail: string;
}

export interface MessageCompat {
  name: string;
  fingerprint: string;
  /** Highest released version, or null when none. */
  latestReleased: number | null;
  /** Released version whose canonical form equals the current schema's, or null (unreleased change). */
  currentIsVersion: number | null;
}

export interface CompatResult {
  ok: boolean;
  issues: CompatIssue[];
  messages: MessageCompat[];
}

export interface CompatOptions {
  /** Fields each current message schema must have (default REQUIRED_FIELDS). */
  requiredFields?: readonly string[];
  /** Whether a message without any released version is a problem (default true). */
  requireHistory?: boolean;
}

/** Null when `reader` can read data written with `writer` (Avro schema resolution), else why not. */
export function readProblem(reader: Type, writer: Type): string | null {
  try {
    reader.createResolver(writer);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Checks a set of schema sources; see the file comment for the rules. */
export function checkSources(sources: SchemaSources, options: CompatOptions = {}): CompatResult {
  const requiredFields = options.requiredFields ?? REQUIRED_FIELDS;
  const requireHistory = options.requireHistory ?? true;
  const origin = (s: Schema, fallback: string): string => sources.origins?.get(s) ?? fallback;
  const issues: CompatIssue[] = [];
  const messages: MessageCompat[] = [];

  let shared: Record<string, Type>;
  try {
    shared = parseShared(sources.shared ?? [], sources.origins);
  } catch (err) {
    return { ok: false, issues: [{ message: '*', check: 'structure', detail: (err as Error).message }], messages };
  }

  for (const name of Object.keys(sources.history ?? {})) {
    if (!(name in sources.current)) {
      issues.push({ message: name, check: 'structure', detail: 'released versions exist but the current schema is gone' });
    }
  }

  for (const [name, schema] of Object.entries(sources.current)) {
    let current: Type;
    try {
      current = parseMessageSchema(schema, shared, origin(schema, name));
    } catch (err) {
      issues.push({ message: name, check: 'structure', detail: (err as Error).message });
      continue;
    }
    const simple = (current.name ?? '').split('.').pop();
    if (current.typeName !== 'record' || simple !== name) {
      issues.push({ message: name, check: 'structure', detail: `the file must define the record ${name}` });
      continue;
    }
    const fieldNames = new Set(((current as unknown as { fields: { name: string }[] }).fields ?? []).map((f) => f.name));
    for (const field of requiredFields) {
      if (!fieldNames.has(field)) issues.push({ message: name, check: 'structure', detail: `missing field ${field}` });
    }

    const released: { version: number; type: Type }[] = [];
    const versions = Object.keys(sources.history?.[name] ?? {})
      .map(Number)
      .sort((a, b) => a - b);
    versions.forEach((v, i) => {
      if (v !== i + 1) {
        issues.push({ message: name, check: 'structure', version: v, detail: `released versions must be numbered 1..n without gaps` });
      }
    });
    for (const version of versions) {
      const s = sources.history![name][version];
      try {
        const type = parseHistorySchema(s, origin(s, `${name} v${version}`));
        if (type.name !== current.name) {
          issues.push({ message: name, check: 'structure', version, detail: `defines ${type.name}, not ${current.name}` });
          continue;
        }
        released.push({ version, type });
      } catch (err) {
        issues.push({ message: name, check: 'structure', version, detail: (err as Error).message });
      }
    }
    if (versions.length === 0 && requireHistory) {
      issues.push({
        message: name,
        check: 'structure',
        detail: `no released version; run npx tsx schemas/compat.ts release ${name}`,
      });
    }

    const form = parsingCanonicalForm(current);
    const same = [...released].reverse().find((r) => parsingCanonicalForm(r.type) === form);
    messages.push({
      name,
      fingerprint: fingerprintHex(schemaFingerprint(current)),
      latestReleased: released.length > 0 ? released[released.length - 1].version : null,
      currentIsVersion: same ? same.version : null,
    });

    // Both directions against the latest released version.
    const previous = released[released.length - 1];
    if (previous) {
      const forward = readProblem(previous.type, current);
      if (forward) {
        issues.push({
          message: name,
          check: 'forward',
          version: previous.version,
          detail: `a v${previous.version} reader cannot read the current schema's messages: ${forward}`,
        });
      }
    }
    // The current reader against every released version (the latest is the backward check proper).
    for (const r of released) {
      const backward = readProblem(current, r.type);
      if (backward) {
        issues.push({
          message: name,
          check: 'backward',
          version: r.version,
          detail: `the current schema cannot read v${r.version} messages: ${backward}`,
        });
      }
    }
  }
  return { ok: issues.length === 0, issues, messages };
}

/** Checks the schemas in the given folders (default: the repository's). */
export function checkCompatibility(
  schemaDir = DEFAULT_SCHEMA_DIR,
  historyDir = DEFAULT_HISTORY_DIR,
  options: CompatOptions = {},
): CompatResult {
  let sources: SchemaSources;
  try {
    sources = readSchemaSources(schemaDir, historyDir);
  } catch (err) {
    return { ok: false, issues: [{ message: '*', check: 'structure', detail: (err as Error).message }], messages: [] };
  }
  return checkSources(sources, options);
}

/** The self-contained JSON text of a released version (named types inlined, docs and defaults kept). */
export function releasedSchemaText(type: Type): string {
  return `${formatJson(type.schema({ exportAttrs: true }), '')}\n`;
}

/** JSON with each value on one line when it fits in 100 columns, else broken over lines. */
function formatJson(value: unknown, indent: string): string {
  const flat = JSON.stringify(value);
  if (flat.length + indent.length <= 100 || value === null || typeof value !== 'object') return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).map(
    ([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`,
  );
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

/**
 * Saves each named (default: every) message's current schema as its next released version,
 * unless it equals the latest one. Refuses when the check fails. Returns the files written.
 */
export function release(
  names: readonly string[] = [],
  schemaDir = DEFAULT_SCHEMA_DIR,
  historyDir = DEFAULT_HISTORY_DIR,
): string[] {
  const result = checkCompatibility(schemaDir, historyDir, { requireHistory: false });
  if (!result.ok) {
    throw new Error(`compatibility check failed:\n${formatResult(result)}`);
  }
  const sources = readSchemaSources(schemaDir, historyDir);
  const shared = parseShared(sources.shared ?? [], sources.origins);
  const wanted = names.length > 0 ? names : Object.keys(sources.current);
  const written: string[] = [];
  for (const name of wanted) {
    const schema = sources.current[name];
    if (!schema) throw new Error(`no current schema for ${name}`);
    const info = result.messages.find((m) => m.name === name);
    if (info && info.currentIsVersion !== null && info.currentIsVersion === info.latestReleased) continue;
    const type = parseMessageSchema(schema, shared, name);
    const version = (info?.latestReleased ?? 0) + 1;
    const file = path.join(historyDir, name, `${version}.avsc`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, releasedSchemaText(type), { flag: 'wx' });
    written.push(file);
  }
  return written;
}

export function formatResult(result: CompatResult): string {
  const lines: string[] = [];
  for (const m of result.messages) {
    const state =
      m.latestReleased === null
        ? 'not released'
        : m.currentIsVersion === m.latestReleased
          ? `= v${m.latestReleased}`
          : m.currentIsVersion !== null
            ? `= v${m.currentIsVersion} (an older version; latest is v${m.latestReleased})`
            : `changed since v${m.latestReleased} (unreleased)`;
    lines.push(`${m.name.padEnd(18)} ${m.fingerprint}  ${state}`);
  }
  for (const i of result.issues) {
    lines.push(`FAIL ${i.message}${i.version !== undefined ? ` v${i.version}` : ''} [${i.check}]: ${i.detail}`);
  }
  lines.push(result.ok ? 'schemas compatible' : `${result.issues.length} problem(s)`);
  return lines.join('\n');
}

function main(argv: string[]): number {
  let schemaDir = DEFAULT_SCHEMA_DIR;
  let historyDir = DEFAULT_HISTORY_DIR;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--schemas') schemaDir = path.resolve(argv[++i]);
    else if (argv[i] === '--history') historyDir = path.resolve(argv[++i]);
    else rest.push(argv[i]);
  }
  if (rest[0] === 'release') {
    const written = release(rest.slice(1), schemaDir, historyDir);
    for (const f of written) process.stdout.write(`wrote ${path.relative(process.cwd(), f)}\n`);
    if (written.length === 0) process.stdout.write('nothing to release\n');
    return 0;
  }
  if (rest.length > 0) {
    process.stderr.write('usage: compat.ts [release [Name...]] [--schemas <dir>] [--history <dir>]\n');
    return 2;
  }
  const result = checkCompatibility(schemaDir, historyDir);
  (result.ok ? process.stdout : process.stderr).write(`${formatResult(result)}\n`);
  return result.ok ? 0 : 1;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
