// Public surface of the schemas module.
export * from './types';
export * from './errors';
export { Codec, getCodec, encode, decode, decodeAny } from './codec';
export type { MessageHeader } from './codec';
export { SchemaRegistry, DEFAULT_SCHEMA_DIR, DEFAULT_HISTORY_DIR, HEADER_LENGTH, MAGIC } from './registry';
export type { SchemaEntry, MessageSchemas, SchemaSources } from './registry';
export { rabinFingerprint64, schemaFingerprint, parsingCanonicalForm, fingerprintHex } from './fingerprint';
