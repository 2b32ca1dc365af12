// Every schema the pipeline knows: the current one of each message (what writers use and what
// readers decode into) and every released version (what older writers may have used), indexed
// by CRC-64-AVRO fingerprint, each with its resolver into the current shape.
import * as fs from 'fs';
import * as path from 'path';
import * as avro from 'avsc';
import type { Resolver, Schema, Type } from 'avsc';
import { fingerprintBytes, fingerprintHex, parsingCanonicalForm, schemaFingerprint } from './fingerprint';
import { longTypeHook } from './long';
import { BodyWalker, compileBodyWalker } from './validate';

/** Current message schemas: `<dir>/<Name>.avsc`; shared named types: `<dir>/common/*.avsc`. */
export const DEFAULT_SCHEMA_DIR = path.join(__dirname, 'avro');
/** Released versions: `<dir>/<Name>/<n>.avsc`, each self-contained. */
export const DEFAULT_HISTORY_DIR = path.join(__dirname, 'history');

/** Single-object encoding marker (Avro specification). */
export const MAGIC = Buffer.from([0xc3, 0x01]);
/** Marker plus the 8-byte fingerprint. */
export const HEADER_LENGTH = 10;

/**
 * How every schema is parsed: unions as plain values (`T | null`), records without methods,
 * longs exact (see long.ts).
 */
export const PARSE_OPTIONS = { wrapUnions: 'never', omitRecordMethods: true, typeHook: longTypeHook } as const;

/** One writer schema, as found in a message header. */
export interface SchemaEntry {
  /** Message name (the record's simple name). */
  readonly name: string;
  readonly fullName: string;
  /** Released version (schemas/history/<Name>/<n>.avsc); null for a current schema not released yet. */
  readonly version: number | null;
  readonly isCurrent: boolean;
  readonly type: Type;
  readonly canonicalForm: string;
  readonly fingerprint: bigint;
  readonly fingerprintHex: string;
  /** The fingerprint's high 32 bits, for the fast lookup. */
  readonly fingerprintHigh: number;
  /** 0xC3 0x01 and the little-endian fingerprint. */
  readonly header: Buffer;
  /** Reads this writer's bodies as the current schema; undefined when this is the current schema. */
  readonly resolver: Resolver | undefined;
  /** Structural check of a body written with this schema. */
  readonly walk: BodyWalker;
  /** The message's current schema (reader). */
  readonly reader: Type;
}

export interface MessageSchemas {
  readonly name: string;
  /** The current schema's entry: what encode writes. */
  readonly current: SchemaEntry;
  /** Released versions by number, oldest first. */
  readonly history: readonly { version: number; type: Type; file?: string }[];
}

export interface SchemaSources {
  /** Shared named types, each a schema defining one named type (any order). */
  shared?: Schema[];
  /** Current schema of each message, by message name. */
  current: Record<string, Schema>;
  /** Released versions of each message, by message name then version number. */
  history?: Record<string, Record<number, Schema>>;
  /** Where each source came from, for error messages. */
  origins?: Map<Schema, string>;
}

function readJson(file: string): Schema {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Schema;
  } catch (err) {
    throw new Error(`cannot read schema ${file}: ${(err as Error).message}`);
  }
}

function listAvsc(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Reads the schema files of a schema folder and its history folder. */
export function readSchemaSources(schemaDir = DEFAULT_SCHEMA_DIR, historyDir = DEFAULT_HISTORY_DIR): SchemaSources {
  const origins = new Map<Schema, string>();
  const load = (file: string): Schema => {
    const schema = readJson(file);
    origins.set(schema, path.relative(process.cwd(), file) || file);
    return schema;
  };
  const shared = listAvsc(path.join(schemaDir, 'common')).map(load);
  const current: Record<string, Schema> = {};
  for (const file of listAvsc(schemaDir)) current[path.basename(file, '.avsc')] = load(file);
  const history: Record<string, Record<number, Schema>> = {};
  if (fs.existsSync(historyDir)) {
    for (const name of fs.readdirSync(historyDir).sort()) {
      const dir = path.join(historyDir, name);
      if (!fs.statSync(dir).isDirectory()) continue;
      const versions: Record<number, Schema> = {};
      for (const file of listAvsc(dir)) {
        const base = path.basename(file, '.avsc');
        if (!/^[1-9][0-9]*$/.test(base)) throw new Error(`history file name is not a version number: ${file}`);
        versions[Number(base)] = load(file);
      }
      history[name] = versions;
    }
  }
  return { shared, current, history, origins };
}

/** Parses the shared named types, in whatever order their references allow. */
export function parseShared(shared: readonly Schema[], origins?: Map<Schema, string>): Record<string, Type> {
  const registry: Record<string, Type> = {};
  let pending = [...shared];
  while (pending.length > 0) {
    const failed: { schema: Schema; err: Error }[] = [];
    for (const schema of pending) {
      const attempt = { ...registry };
      try {
        avro.Type.forSchema(schema, { ...PARSE_OPTIONS, registry: attempt });
        Object.assign(registry, attempt);
      } catch (err) {
        failed.push({ schema, err: err as Error });
      }
    }
    if (failed.length === pending.length) {
      const { schema, err } = failed[0];
      throw new Error(`cannot parse shared schema ${origins?.get(schema) ?? JSON.stringify(schema)}: ${err.message}`);
    }
    pending = failed.map((f) => f.schema);
  }
  return registry;
}

/** Parses a message schema against the shared named types. */
export function parseMessageSchema(schema: Schema, sharedTypes: Record<string, Type> = {}, origin?: string): Type {
  try {
    return avro.Type.forSchema(schema, { ...PARSE_OPTIONS, registry: { ...sharedTypes } });
  } catch (err) {
    throw new Error(`cannot parse schema ${origin ?? ''}: ${(err as Error).message}`);
  }
}

/** Parses a released version: it must stand alone, without the shared types. */
export function parseHistorySchema(schema: Schema, origin?: string): Type {
  try {
    return avro.Type.forSchema(schema, { ...PARSE_OPTIONS, registry: {} });
  } catch (err) {
    throw new Error(`cannot parse released schema ${origin ?? ''} (it must be self-contained): ${(err as Error).message}`);
  }
}

function simpleName(type: Type): string {
  const full = type.name ?? '';
  return full.slice(full.lastIndexOf('.') + 1);
}

export class SchemaRegistry {
  private readonly byFp = new Map<bigint, SchemaEntry>();
  /** The same entries keyed by the fingerprint's low 32 bits (a number key is faster than a bigint). */
  private readonly byLow = new Map<number, SchemaEntry[]>();
  private readonly messages = new Map<string, MessageSchemas>();

  /** Loads the repository's schemas (or those of the given folders). */
  static load(schemaDir = DEFAULT_SCHEMA_DIR, historyDir = DEFAULT_HISTORY_DIR): SchemaRegistry {
    return new SchemaRegistry(readSchemaSources(schemaDir, historyDir));
  }

  constructor(sources: SchemaSources) {
    const origin = (s: Schema): string | undefined => sources.origins?.get(s);
    const shared = parseShared(sources.shared ?? [], sources.origins);
    const historyNames = Object.keys(sources.history ?? {});
    for (const name of historyNames) {
      if (!(name in sources.current)) throw new Error(`released versions of ${name}, which has no current schema`);
    }
    for (const [name, schema] of Object.entries(sources.current)) {
      const reader = parseMessageSchema(schema, shared, origin(schema));
      if (reader.typeName !== 'record' || simpleName(reader) !== name) {
        throw new Error(`schema ${origin(schema) ?? name} must define the record ${name}`);
      }
      const released = Object.entries(sources.history?.[name] ?? {})
        .map(([v, s]) => ({ version: Number(v), type: parseHistorySchema(s, origin(s)), file: origin(s) }))
        .sort((a, b) => a.version - b.version);
      for (const h of released) {
        if (h.type.name !== reader.name) {
          throw new Error(`released schema ${h.file ?? `${name} v${h.version}`} defines ${h.type.name}, not ${reader.name}`);
        }
      }
      const currentFp = schemaFingerprint(reader);
      const currentEntry = this.addEntry(name, reader, reader, currentFp, releasedVersionOf(reader, released), true);
      for (const h of released) {
        const fp = schemaFingerprint(h.type);
        if (fp === currentFp || this.byFp.has(fp)) continue; // same canonical form, already indexed
        this.addEntry(name, h.type, reader, fp, h.version, false);
      }
      this.messages.set(name, { name, current: currentEntry, history: released });
    }
  }

  private addEntry(name: string, writer: Type, reader: Type, fp: bigint, version: number | null, isCurrent: boolean): SchemaEntry {
    const canonicalForm = parsingCanonicalForm(writer);
    const clash = this.byFp.get(fp);
    if (clash && clash.canonicalForm !== canonicalForm) {
      throw new Error(`fingerprint collision between ${clash.fullName} and ${writer.name}`);
    }
    let resolver: Resolver | undefined;
    if (!isCurrent) {
      try {
        resolver = reader.createResolver(writer);
      } catch (err) {
        throw new Error(
          `${name} v${version}: the current schema cannot read messages written with it ` +
            `(${(err as Error).message}); run npx tsx schemas/compat.ts`,
        );
      }
    }
    const entry: SchemaEntry = {
      name,
      fullName: writer.name ?? name,
      version,
      isCurrent,
      type: writer,
      canonicalForm,
      fingerprint: fp,
      fingerprintHex: fingerprintHex(fp),
      fingerprintHigh: Number(fp >> 32n),
      header: Buffer.concat([MAGIC, fingerprintBytes(fp)]),
      resolver,
      walk: compileBodyWalker(writer),
      reader,
    };
    this.byFp.set(fp, entry);
    const low = Number(fp & 0xffffffffn);
    const bucket = this.byLow.get(low);
    if (bucket) bucket.push(entry);
    else this.byLow.set(low, [entry]);
    return entry;
  }

  /** Message names, in load order. */
  names(): string[] {
    return [...this.messages.keys()];
  }

  has(name: string): boolean {
    return this.messages.has(name);
  }

  /** The message's current schema and its released versions, or undefined. */
  message(name: string): MessageSchemas | undefined {
    return this.messages.get(name);
  }

  /** The writer schema with this fingerprint, or undefined. */
  byFingerprint(fp: bigint): SchemaEntry | undefined {
    return this.byFp.get(fp);
  }

  /** The writer schema whose fingerprint is at `offset` (8 bytes, little-endian), or undefined. */
  byFingerprintAt(buf: Buffer, offset: number): SchemaEntry | undefined {
    const bucket = this.byLow.get(buf.readUInt32LE(offset));
    if (bucket === undefined) return undefined;
    const high = buf.readUInt32LE(offset + 4);
    for (let i = 0; i < bucket.length; i++) {
      if (bucket[i].fingerprintHigh === high) return bucket[i];
    }
    return undefined;
  }

  /** Every writer schema the registry can decode. */
  entries(): SchemaEntry[] {
    return [...this.byFp.values()];
  }
}

function releasedVersionOf(type: Type, released: { version: number; type: Type }[]): number | null {
  const form = parsingCanonicalForm(type);
  for (let i = released.length - 1; i >= 0; i--) {
    if (parsingCanonicalForm(released[i].type) === form) return released[i].version;
  }
  return null;
}
