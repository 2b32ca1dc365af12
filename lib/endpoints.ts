import { resolve } from 'node:path';

// Where the local services listen. One place for every port the project uses;
// each can be overridden from the environment.
export const endpoints = {
  kafkaBrokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(','),
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:16379',
  gcsEmulatorUrl: process.env.GCS_EMULATOR_URL ?? 'http://127.0.0.1:14443',
  coreApiUrl: process.env.CORE_API_URL ?? 'http://127.0.0.1:13050',
};

/** Project-local folder for service data, downloaded jars links, object-store data. Ignored by git. */
export const localDir = resolve(process.env.PIPELINE_LOCAL_DIR ?? `${__dirname}/../.local`);
