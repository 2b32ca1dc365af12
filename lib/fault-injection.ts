// Crash points for failure tests: with ZKP_CRASH_POINT=<name> and ZKP_CRASH_AFTER=<n> in its
// environment, a process kills itself with SIGKILL the n-th time it reaches that point (no
// cleanup, no flush: as a machine dying would). Without them, a crash point costs one lookup.
const point = process.env.ZKP_CRASH_POINT;
let remaining = Number(process.env.ZKP_CRASH_AFTER ?? 1);

export type CrashPointName = 'after-proof-saved' | 'after-landed' | 'before-commit' | 'after-commit';

export function crashPoint(name: CrashPointName): void {
  if (point !== name) return;
  if (--remaining > 0) return;
  process.stderr.write(`crash point ${name} reached: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
