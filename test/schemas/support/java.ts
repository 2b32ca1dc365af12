// Runs schemas/interop/AvroInterop.java against Apache Avro's Java implementation.
import { execFileSync, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
const POM = 'schemas/interop/pom.xml';
const SOURCE = path.join(ROOT, 'schemas', 'interop', 'AvroInterop.java');
export const CLASSPATH_FILE = path.join(ROOT, '.local', 'classpath', 'avro-interop.txt');

/** Whether `java`, `javac` and `mvn` are on the PATH. */
export function javaToolsMissing(): string | null {
  for (const tool of ['java', 'javac', 'mvn']) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) return tool;
  }
  return null;
}

function classpathUsable(): boolean {
  if (!fs.existsSync(CLASSPATH_FILE)) return false;
  const jars = fs.readFileSync(CLASSPATH_FILE, 'utf8').trim().split(path.delimiter);
  return jars.length > 0 && jars.every((jar) => fs.existsSync(jar));
}

/** The resolved classpath, resolving the pom first when the install step has not (or its jars are gone). */
export function interopClasspath(): string {
  if (!classpathUsable()) {
    execFileSync(
      'mvn',
      ['-q', '-f', POM, 'dependency:build-classpath', '-Dmdep.outputFile=.local/classpath/avro-interop.txt'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  }
  const cp = fs.readFileSync(CLASSPATH_FILE, 'utf8').trim();
  if (!cp.includes('avro-')) throw new Error(`${CLASSPATH_FILE} does not name the avro jar`);
  return cp;
}

/** Compiles the program once per source and classpath into .local/interop/<hash>/. */
export function compiledInterop(cp: string): string {
  const hash = createHash('sha256').update(fs.readFileSync(SOURCE)).update(cp).digest('hex').slice(0, 16);
  const dir = path.join(ROOT, '.local', 'interop', hash);
  if (fs.existsSync(path.join(dir, 'AvroInterop.class'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  execFileSync('javac', ['-nowarn', '-d', tmp, '-cp', cp, SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another run got there first
  }
  return dir;
}

export class AvroInterop {
  private readonly classpath: string;

  constructor() {
    const cp = interopClasspath();
    this.classpath = `${compiledInterop(cp)}${path.delimiter}${cp}`;
  }

  /** Runs one mode with `lines` on stdin; returns stdout's lines. */
  run(args: string[], lines: string[] = []): string[] {
    const r = spawnSync('java', ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', this.classpath, 'AvroInterop', ...args], {
      cwd: ROOT,
      input: lines.map((l) => `${l}\n`).join(''),
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`AvroInterop ${args[0]} failed (${r.status}): ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l.length > 0);
  }
}
