import { expect } from 'chai';
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseCoreArgs, UsageError } from '../../core/main';
import { TempStore, get, post, tempStore } from './helpers';

const ROOT = join(__dirname, '..', '..');

describe('core process', () => {
  it('parses the command line', () => {
    const o = parseCoreArgs([
      '--port', '0', '--store', 'file:///tmp/x', '--seed', 's', '--batches', '5', '--basic-jobs', '20',
      '--circuit-ids', '1,2,3', '--version', '24.1', '--lease-ms', '500', '--seal-every-ms=100', '--max-batches', '9',
    ]);
    expect(o).to.deep.equal({
      port: 0,
      store: 'file:///tmp/x',
      seed: 's',
      batches: 5,
      basicJobs: 20,
      circuitIds: [1, 2, 3],
      version: { minor: 24, patch: 1 },
      leaseMs: 500,
      sealEveryMs: 100,
      maxBatches: 9,
    });
    expect(parseCoreArgs(['--version', '24.0', '--accept-versions', '25.0']).acceptedVersions).to.deep.equal([
      { minor: 25, patch: 0 },
      { minor: 24, patch: 0 },
    ]);
    for (const bad of [['--port', 'x'], ['--bogus', '1'], ['--batches'], ['--version', 'abc'], ['--lease-ms', '0'], ['stray']]) {
      expect(() => parseCoreArgs(bad), bad.join(' ')).to.throw(UsageError);
    }
  });

  describe('as its own process', () => {
    let store: TempStore;
    let child: ChildProcess | null = null;

    beforeEach(() => {
      store = tempStore();
    });
    afterEach(() => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child = null;
      store.remove();
    });

    it('starts, serves, and stops on SIGTERM', async () => {
      child = spawn(
        process.execPath,
        ['-r', 'tsx/cjs', 'core/main.ts', '--port', '0', '--store', store.url, '--seed', 'proc', '--batches', '2', '--basic-jobs', '10'],
        { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const c = child;
      let out = '';
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`core did not start: ${out}${err}`)), 30_000);
        c.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          for (const line of out.split('\n')) {
            if (!line.includes('core listening')) continue;
            clearTimeout(timer);
            resolve(JSON.parse(line).url as string);
          }
        });
        c.once('exit', (code) => reject(new Error(`core exited with ${code}: ${out}${err}`)));
      });
      expect((await get(url, '/health')).body.status).to.equal('ok');
      expect((await get(url, '/batches')).body.total).to.equal(2);
      expect((await post(url, '/proof_generation_data', { prover_id: 'x' })).body.batch_number).to.equal(1);
      const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
      c.kill('SIGTERM');
      expect(await exited).to.equal(0);
      expect(out).to.include('core stopped');
    });
  });
});
