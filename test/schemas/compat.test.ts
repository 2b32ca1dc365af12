import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as avro from 'avsc';
import { Codec, CodecError, SchemaRegistry } from '../../schemas';
import { checkCompatibility, release } from '../../schemas/compat';
import { parseHistorySchema } from '../../schemas/registry';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(__dirname, 'fixtures', 'evolution');
const dirs = (name: string): [string, string] => [path.join(FIXTURES, name, 'avro'), path.join(FIXTURES, name, 'history')];

interface Widget {
  protocol_version: { minor: number; patch: number };
  batch_number: number;
  job_id: string;
  size: number;
  color: string;
  tags: string[];
}

describe('schemas/compat', () => {
  it("passes on the repository's schemas, each equal to its latest released version", () => {
    const result = checkCompatibility();
    expect(result.issues).to.deep.equal([]);
    expect(result.ok).to.equal(true);
    expect(result.messages.length).to.equal(7);
    for (const m of result.messages) {
      expect(m.latestReleased, m.name).to.be.a('number');
      expect(m.currentIsVersion, m.name).to.equal(m.latestReleased);
    }
  });

  it('keeps released versions self-contained', () => {
    const historyDir = path.join(ROOT, 'schemas', 'history');
    for (const name of fs.readdirSync(historyDir)) {
      for (const file of fs.readdirSync(path.join(historyDir, name))) {
        const text = fs.readFileSync(path.join(historyDir, name, file), 'utf8');
        expect(() => parseHistorySchema(JSON.parse(text)), `${name}/${file}`).not.to.throw();
      }
    }
  });

  it('passes when a field is added with a default', () => {
    const result = checkCompatibility(...dirs('add-field-with-default'));
    expect(result.issues).to.deep.equal([]);
    expect(result.messages[0].currentIsVersion).to.equal(null); // an unreleased change
  });

  it('fails when a field without default is removed (old readers need it)', () => {
    const result = checkCompatibility(...dirs('remove-field-without-default'));
    expect(result.ok).to.equal(false);
    expect(result.issues.map((i) => i.check)).to.deep.equal(['forward']);
    expect(result.issues[0].detail).to.contain('size');
  });

  it('fails when a field changes type incompatibly, in both directions', () => {
    const result = checkCompatibility(...dirs('incompatible-type-change'));
    expect(result.ok).to.equal(false);
    expect(result.issues.map((i) => i.check).sort()).to.deep.equal(['backward', 'forward']);
  });

  it('fails when a field is added without default (the new reader cannot read old messages)', () => {
    const result = checkCompatibility(...dirs('add-field-without-default'));
    expect(result.issues.map((i) => i.check)).to.deep.equal(['backward']);
  });

  it('fails on a promotion that old readers cannot follow (int to long)', () => {
    const result = checkCompatibility(...dirs('promote-int-to-long'));
    expect(result.issues.map((i) => i.check)).to.deep.equal(['forward']);
  });

  it('checks structure: missing required fields, missing history, numbering gaps', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-'));
    try {
      fs.cpSync(path.join(FIXTURES, 'multi-version'), tmp, { recursive: true });
      fs.renameSync(path.join(tmp, 'history', 'Widget', '2.avsc'), path.join(tmp, 'history', 'Widget', '3.avsc'));
      const result = checkCompatibility(path.join(tmp, 'avro'), path.join(tmp, 'history'), {
        requiredFields: ['protocol_version', 'batch_number', 'job_id', 'missing_one'],
      });
      const details = result.issues.map((i) => i.detail).join('\n');
      expect(details).to.contain('missing field missing_one');
      expect(details).to.contain('without gaps');
      fs.rmSync(path.join(tmp, 'history'), { recursive: true });
      expect(checkCompatibility(path.join(tmp, 'avro'), path.join(tmp, 'history')).issues[0].detail).to.contain(
        'no released version',
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('decodes messages written with older versions through the registry into the current shape', () => {
    const registry = SchemaRegistry.load(...dirs('multi-version'));
    const codec = new Codec<{ Widget: Widget }>(registry);
    const message = registry.message('Widget')!;
    expect(message.history.map((h) => h.version)).to.deep.equal([1, 2]);
    expect(registry.entries().map((e) => e.version)).to.have.members([null, 1, 2]);

    const base = { protocol_version: { minor: 1, patch: 0 }, batch_number: 9, job_id: 'j', size: 3 };
    const [v1, v2] = message.history;
    const writtenWith = (version: { version: number; type: avro.Type }, value: object): Buffer => {
      const entry = registry.entries().find((e) => e.version === version.version)!;
      return Buffer.concat([entry.header, version.type.toBuffer(value)]);
    };
    // v1 had `legacy` (dropped since) and no color or tags: defaults fill them.
    expect(codec.decode('Widget', writtenWith(v1, { ...base, legacy: 'old' }))).to.deep.equal({
      ...base,
      color: 'blue',
      tags: [],
    });
    expect(codec.decode('Widget', writtenWith(v2, { ...base, color: 'red' }))).to.deep.equal({
      ...base,
      color: 'red',
      tags: [],
    });
    // The current schema round-trips, with its own fingerprint.
    const now = { ...base, color: 'green', tags: ['a'] };
    const buf = codec.encode('Widget', now);
    expect(codec.decodeAny(buf)).to.deep.equal({ name: 'Widget', value: now });
    expect(codec.header(buf).entry?.isCurrent).to.equal(true);
    // Truncated old-version messages are still reported as malformed.
    const old = writtenWith(v1, { ...base, legacy: 'old' });
    expect(() => codec.decode('Widget', old.subarray(0, old.length - 2))).to.throw(CodecError);
  });

  it('refuses to load a registry whose current schema cannot read a released version', () => {
    expect(() => SchemaRegistry.load(...dirs('add-field-without-default'))).to.throw(/cannot read messages written with it/);
  });

  it('release writes the next version, self-contained, and only when changed', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-'));
    try {
      fs.cpSync(path.join(FIXTURES, 'multi-version'), tmp, { recursive: true });
      const [schemaDir, historyDir] = [path.join(tmp, 'avro'), path.join(tmp, 'history')];
      const written = release([], schemaDir, historyDir);
      expect(written).to.deep.equal([path.join(historyDir, 'Widget', '3.avsc')]);
      const v3 = parseHistorySchema(JSON.parse(fs.readFileSync(written[0], 'utf8')));
      expect(v3.name).to.equal('zkp.pipeline.Widget');
      const result = checkCompatibility(schemaDir, historyDir);
      expect(result.ok).to.equal(true);
      expect(result.messages[0].currentIsVersion).to.equal(3);
      expect(release([], schemaDir, historyDir)).to.deep.equal([]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    expect(() => release([], ...dirs('incompatible-type-change'))).to.throw(/compatibility check failed/);
  });

  it('runs as a command: exit 0 when compatible, 1 when not', function () {
    this.timeout(120_000);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'schemas', 'compat.ts'), ...args], {
        cwd: ROOT,
        encoding: 'utf8',
      });
    const ok = run();
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain('schemas compatible');
    const [schemaDir, historyDir] = dirs('incompatible-type-change');
    const bad = run('--schemas', schemaDir, '--history', historyDir);
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.contain('[forward]');
  });
});
