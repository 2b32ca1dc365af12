// The TypeScript codec against Apache Avro's Java implementation (org.apache.avro.message).
import { expect } from 'chai';
import * as path from 'path';
import type { Type } from 'avsc';
import { Codec, DEFAULT_HISTORY_DIR, DEFAULT_SCHEMA_DIR, SchemaRegistry, getCodec } from '../../schemas';
import { checkSources } from '../../schemas/compat';
import { readSchemaSources } from '../../schemas/registry';
import { AvroInterop, javaToolsMissing } from './support/java';
import { SAMPLES } from './support/samples';

const FIXTURES = path.join(__dirname, 'fixtures', 'evolution');

describe('schemas interop with Apache Avro (Java)', function () {
  this.timeout(600_000);
  let java: AvroInterop;
  const codec = getCodec();
  const reader = (name: string): Type => codec.registry.message(name)!.current.type;

  before(function () {
    const missing = javaToolsMissing();
    if (missing) {
      console.warn(`    (skipped: ${missing} is not installed)`);
      this.skip();
    }
    java = new AvroInterop();
  });

  it('computes the same canonical forms and CRC-64-AVRO fingerprints for every schema', () => {
    const lines = java.run(['fingerprints', DEFAULT_SCHEMA_DIR, DEFAULT_HISTORY_DIR]);
    const javaByWhere = new Map(lines.map((l) => l.split('\t')).map(([where, full, fp, pcf]) => [where, { full, fp, pcf }]));
    let compared = 0;
    for (const name of codec.registry.names()) {
      const message = codec.registry.message(name)!;
      const j = javaByWhere.get(`current/${name}`);
      expect(j, name).to.not.equal(undefined);
      expect(j!.fp, name).to.equal(message.current.fingerprintHex);
      expect(j!.pcf, name).to.equal(message.current.canonicalForm);
      compared++;
      for (const h of message.history) {
        const jh = javaByWhere.get(`history/${name}/${h.version}`)!;
        const ours = codec.registry.entries().find((e) => e.name === name && e.version === h.version)!;
        expect(jh.fp, `${name} v${h.version}`).to.equal(ours.fingerprintHex);
        compared++;
      }
    }
    expect(compared).to.equal(lines.length);
  });

  it('Java encodes, TypeScript decodes equal values (and the bytes are identical)', () => {
    const hexes = java.run(
      ['encode', DEFAULT_SCHEMA_DIR],
      SAMPLES.map((s) => `${s.name}\t${reader(s.name).toString(s.value)}`),
    );
    expect(hexes.length).to.equal(SAMPLES.length);
    SAMPLES.forEach((s, i) => {
      const buf = Buffer.from(hexes[i], 'hex');
      expect(codec.decode(s.name, buf), `${s.name} #${i}`).to.deep.equal(s.value);
      expect(buf.equals(codec.encode(s.name, s.value as never)), `${s.name} #${i} bytes`).to.equal(true);
    });
  });

  it('TypeScript encodes, Java decodes equal values', () => {
    const jsons = java.run(
      ['decode', DEFAULT_SCHEMA_DIR, DEFAULT_HISTORY_DIR],
      SAMPLES.map((s) => `${s.name}\t${codec.encode(s.name, s.value as never).toString('hex')}`),
    );
    expect(jsons.length).to.equal(SAMPLES.length);
    SAMPLES.forEach((s, i) => {
      expect(jsons[i], `${s.name} #${i}`).to.not.match(/^ERROR/);
      expect(reader(s.name).fromString(jsons[i]), `${s.name} #${i}`).to.deep.equal(s.value);
    });
  });

  it('both reject the same unknown fingerprint', () => {
    const buf = Buffer.from(codec.encode('ProverJob', SAMPLES.find((s) => s.name === 'ProverJob')!.value as never));
    buf.writeBigUInt64LE(0x0123456789abcdefn, 2);
    const [line] = java.run(['decode', DEFAULT_SCHEMA_DIR, DEFAULT_HISTORY_DIR], [`ProverJob\t${buf.toString('hex')}`]);
    expect(line).to.match(/^ERROR\tMissingSchemaException/);
    expect(codec.tryDecodeAny(buf).ok).to.equal(false);
  });

  it('Java reads older versions written by TypeScript into the current shape, as the registry does', () => {
    const schemaDir = path.join(FIXTURES, 'multi-version', 'avro');
    const historyDir = path.join(FIXTURES, 'multi-version', 'history');
    const registry = SchemaRegistry.load(schemaDir, historyDir);
    const fixtureCodec = new Codec<{ Widget: object }>(registry);
    const base = { protocol_version: { minor: 1, patch: 0 }, batch_number: 9, job_id: 'j', size: 3 };
    const messages: Buffer[] = registry.message('Widget')!.history.map((h) => {
      const entry = registry.entries().find((e) => e.version === h.version)!;
      return Buffer.concat([entry.header, h.type.toBuffer({ ...base, legacy: 'x', color: 'red' })]);
    });
    messages.push(fixtureCodec.encode('Widget', { ...base, color: 'green', tags: ['t'] }));
    const jsons = java.run(['decode', schemaDir, historyDir], messages.map((m) => `Widget\t${m.toString('hex')}`));
    const current = registry.message('Widget')!.current.type;
    jsons.forEach((json, i) => {
      expect(json).to.not.match(/^ERROR/);
      expect(current.fromString(json), `message ${i}`).to.deep.equal(fixtureCodec.decode('Widget', messages[i]));
    });
  });

  it("Java's SchemaCompatibility agrees with the evolution check on every fixture", () => {
    const cases = ['add-field-with-default', 'remove-field-without-default', 'incompatible-type-change', 'add-field-without-default', 'promote-int-to-long', 'multi-version'];
    const pairs: { label: string; reader: string; writer: string; oursOk: boolean }[] = [];
    for (const c of cases) {
      const sources = readSchemaSources(path.join(FIXTURES, c, 'avro'), path.join(FIXTURES, c, 'history'));
      const result = checkSources(sources);
      // Self-contained JSON of the current and latest released schema, via a throwaway registry
      // that does not insist the pair is readable.
      const current = new SchemaRegistry({ shared: sources.shared, current: sources.current }).message('Widget')!.current.type;
      const versions = Object.keys(sources.history!.Widget).map(Number).sort((a, b) => a - b);
      const latest = versions[versions.length - 1];
      const previous = JSON.stringify(sources.history!.Widget[latest]);
      const currentJson = JSON.stringify(current.schema({ exportAttrs: true }));
      const failed = (check: string) => result.issues.some((i) => i.check === check && i.version === latest);
      pairs.push({ label: `${c} backward`, reader: currentJson, writer: previous, oursOk: !failed('backward') });
      pairs.push({ label: `${c} forward`, reader: previous, writer: currentJson, oursOk: !failed('forward') });
    }
    const verdicts = java.run(['compat'], pairs.map((p) => `${p.reader}\t${p.writer}`));
    pairs.forEach((p, i) => {
      expect(verdicts[i].startsWith('COMPATIBLE'), `${p.label}: Java says ${verdicts[i]}`).to.equal(p.oursOk);
    });
    expect(pairs.filter((p) => !p.oursOk).length).to.equal(5);
  });
});
