// infra/k8s/: the manifests parse as YAML, match what infra/k8s/generate.ts writes (so they
// follow the prover groups and partitions), and the KEDA triggers use the autoscaling rule's
// lag threshold.
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { K8S_DIR, renderManifests, staleManifests } from '../../infra/k8s/generate';
import { DEFAULT_LAG_THRESHOLD } from '../../metrics/autoscaling';
import { defaultPartitionConfig, partitionsForTopic } from '../../topics/partitions';
import { defaultProverGroups, pairsForGroup } from '../../topics/prover-groups';
import { consumerGroup, pairTopic, retryTopic } from '../../topics/naming';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

let loaded: Obj[] | null = null;

/** Every document of every manifest, parsed once. */
function load(): Obj[] {
  if (loaded) return loaded;
  const docs: Obj[] = [];
  for (const name of readdirSync(K8S_DIR).filter((n) => n.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(K8S_DIR, name), 'utf8'))) {
      expect(d.errors, `${name}: ${d.errors.map((e) => e.message).join('; ')}`).to.have.length(0);
      const js = d.toJS() as Obj | null;
      if (js !== null) docs.push({ ...js, __file: name });
    }
  }
  return (loaded = docs);
}

describe('metrics: example Kubernetes manifests (infra/k8s)', () => {
  it('are what infra/k8s/generate.ts writes', () => {
    expect(staleManifests(), 'run: npx tsx infra/k8s/generate.ts').to.deep.equal([]);
    expect(readdirSync(K8S_DIR).filter((n) => n.endsWith('.yaml')).sort()).to.deep.equal([...renderManifests().keys()].sort());
  });

  it('parse as YAML into Kubernetes objects', () => {
    const docs = load();
    for (const d of docs) {
      expect(d.apiVersion, d.__file).to.be.a('string');
      expect(d.kind, d.__file).to.be.a('string');
      expect(d.metadata?.name, d.__file).to.be.a('string');
    }
    const kinds = new Set(docs.map((d) => d.kind));
    for (const k of ['Namespace', 'ConfigMap', 'Job', 'Deployment', 'Service', 'ScaledObject', 'ServiceMonitor']) expect(kinds.has(k), k).to.equal(true);
  });

  it('run one prover Deployment per prover group, scaled by a ScaledObject with a kafka trigger per consumer group topic', () => {
    const docs = load();
    const version = { minor: 24, patch: 0 };
    const partitions = defaultPartitionConfig();
    const config = defaultProverGroups();
    for (const g of config.groups) {
      const name = `zkp-prover-group-${g.id}`;
      const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === name);
      expect(dep, name).to.not.equal(undefined);
      const c = dep!.spec.template.spec.containers[0];
      expect([...c.command, ...c.args].join(' ')).to.contain(`npx tsx cli/main.ts prover --group ${g.id} --instance $(POD_NAME)`);
      expect(c.args).to.include('--metrics-port');
      const so = docs.find((d) => d.kind === 'ScaledObject' && d.metadata.name === name);
      expect(so?.spec.scaleTargetRef.name).to.equal(name);
      const triggers: Obj[] = so!.spec.triggers;
      for (const pair of pairsForGroup(g.id, config)) {
        for (const topic of [pairTopic(version, pair), retryTopic(version, pair)]) {
          const t = triggers.find((x) => x.metadata.topic === topic);
          expect(t, topic).to.not.equal(undefined);
          expect(t!.type).to.equal('kafka');
          expect(t!.metadata.consumerGroup).to.equal(consumerGroup(pairTopic(version, pair)));
          expect(t!.metadata.lagThreshold).to.equal(String(DEFAULT_LAG_THRESHOLD));
          expect(t!.metadata.activationLagThreshold).to.equal(String(partitionsForTopic(partitions, topic)));
        }
      }
    }
  });

  it('expose /metrics through a Service and a ServiceMonitor', () => {
    const docs = load();
    const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'zkp-metrics')!;
    const sm = docs.find((d) => d.kind === 'ServiceMonitor')!;
    expect(sm.spec.selector.matchLabels).to.deep.equal({ 'app.kubernetes.io/name': svc.metadata.labels['app.kubernetes.io/name'] });
    expect(sm.spec.endpoints[0]).to.include({ port: 'metrics', path: '/metrics' });
    const scraped = docs.filter((d) => d.kind === 'Deployment');
    for (const d of scraped) {
      expect(d.spec.template.metadata.labels).to.include(svc.spec.selector);
      expect(d.spec.template.spec.containers[0].ports.map((p: Obj) => p.name)).to.include('metrics');
    }
  });
});
