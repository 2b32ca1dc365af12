'use strict';
// Readiness probe for the local Kafka: a real protocol round trip (Metadata via kafkajs
// admin.describeCluster). Exits 0 when at least N brokers are registered, 1 otherwise.
//   node infra/kafka/ready.js <host:port[,host:port...]> [expected brokers = 1]
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const brokers = (process.argv[2] || '127.0.0.1:19092').split(',');
  const expected = Number(process.argv[3] || 1);
  const kafka = new Kafka({
    clientId: 'infra-ready',
    brokers,
    connectionTimeout: 2000,
    requestTimeout: 4000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const n = cluster.brokers.length;
    process.stdout.write(
      `cluster ${cluster.clusterId} brokers=${n} controller=${cluster.controller}\n`,
    );
    return n >= expected && cluster.controller !== null ? 0 : 1;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

const timer = setTimeout(() => process.exit(1), 8000);
timer.unref();
main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err && err.message ? err.message : err}\n`);
    process.exit(1);
  },
);
