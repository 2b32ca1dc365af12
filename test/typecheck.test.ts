// The whole project type-checks under strict TypeScript: a type error fails the tests.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

describe('type check', () => {
  it('tsc --noEmit reports no errors for the whole project', function () {
    this.timeout(180_000);
    const root = join(__dirname, '..');
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(root, 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
    expect(tsc.status, `${tsc.stdout}${tsc.stderr}`).to.equal(0);
  });
});
