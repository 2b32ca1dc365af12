// The `dashboard` role as an operator starts it: one process, it prints its URL, serves the
// page and a snapshot of the version's topics, and exits 0 on SIGTERM.
import { expect } from 'chai';
import { once } from 'node:events';
import { kafkaClient } from '../../cli/local-pipeline';
import { ensureTopics } from '../../topics/admin';
import { pairTopic } from '../../topics/naming';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';
import { spawnCli } from '../support/spawn-cli';

describe('cli dashboard role (Kafka + Redis)', function () {
  this.timeout(120_000);
  const version = uniqueVersion();
  const kafka = kafkaClient('dashboard-role-test');
  const pair = { round: 0, circuitId: 1 };

  before(async () => {
    await ensureTopics(kafka, version, { pairs: [pair] });
  });

  after(async () => {
    await dropVersion(kafka, version);
  });

  it('prints its URL, serves the page and a snapshot of the version, and stops cleanly on SIGTERM', async () => {
    const output: string[] = [];
    const child = spawnCli(['dashboard', '--version', `${version.minor}.${version.patch}`, '--port', '0', '--core-url', 'none', '--interval-ms', '500'], {}, output);
    try {
      const deadline = Date.now() + 90_000;
      let url: string | undefined;
      while (!url) {
        url = /dashboard of protocol \S+: (http:\/\/127\.0\.0\.1:\d+)/.exec(output.join(''))?.[1];
        if (child.exitCode !== null) throw new Error(`dashboard exited ${child.exitCode}: ${output.join('')}`);
        if (Date.now() > deadline) throw new Error(`no URL printed: ${output.join('')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const page = await fetch(url);
      expect(page.status).to.equal(200);
      expect(await page.text()).to.match(/<html/i);
      const snapshot = JSON.stringify(await (await fetch(`${url}/api/snapshot`)).json());
      expect(snapshot).to.include(pairTopic(version, pair));
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    expect(code, output.join('')).to.equal(0);
  });

  it('refuses an unknown flag with a usage error (exit 2)', async () => {
    const output: string[] = [];
    const child = spawnCli(['dashboard', '--colour', 'blue'], {}, output);
    const [code] = await once(child, 'exit');
    expect(code).to.equal(2);
    expect(output.join('')).to.include('unknown flag(s) --colour');
  });
});
