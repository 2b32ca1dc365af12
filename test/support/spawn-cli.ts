import { ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');

/**
 * Runs `cli/main.ts <args>` as one node process (no wrapper process in between, so signals
 * such as SIGKILL and SIGTERM reach the component itself).
 */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, output?: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', join(ROOT, 'cli/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer) => output?.push(d.toString());
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}
