export * from './counters';
export * from './keys';
export { scriptSource, scriptFileReads, SCRIPT_NAMES, SCRIPTS_DIR, type ScriptName } from './scripts';
