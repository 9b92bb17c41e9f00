// The Kubernetes manifests under infra/k8s, validated with no cluster and no network: every object of
// the base and of the rendered gpu overlay against the Kubernetes API schemas (kubernetes-models) and
// KEDA's ScaledObject CRD schema (@kubernetes-models/keda), the metrics-api trigger against the
// committed infra/k8s/schemas/keda-metrics-api-trigger.schema.json (ajv), and the settings that must
// agree with the code: probes, ports, grace periods, selectors, the autoscaler's endpoint.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Ajv } from 'ajv';
import type { Queue } from 'bullmq';
import express from 'express';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { queueDepthRouter } from '@sambay/api/routes/queue-depth';
import { readServiceConfig } from '@sambay/protocol';

const K8S = fileURLToPath(new URL('../../infra/k8s/', import.meta.url));
/** The worker's own bound past SHUTDOWN_GRACE_MS (services/worker/src/main.ts SHUTDOWN_OVERRUN_MS). */
const WORKER_SHUTDOWN_OVERRUN_MS = 6_000;

type Json = Record<string, unknown>;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** A model class of kubernetes-models: construct from plain data, `validate()` throws listing every violation. */
type Model = new (data: never) => { validate(): void };

const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function readDocs(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
    return doc.toJS() as K8sObject;
  });
}

/**
 * Kustomize's strategic merge, as far as these manifests use it: maps merge, lists of named items
 * (containers, env, ports, volumes) merge by name, other lists are replaced. Custom resources (KEDA)
 * get a JSON merge patch: every list is replaced.
 */
function merge(base: unknown, patch: unknown, strategic: boolean): unknown {
  if (isObject(base) && isObject(patch)) {
    const keys = new Set([...Object.keys(base), ...Object.keys(patch)]);
    return Object.fromEntries(
      [...keys].flatMap((key) => {
        if (!(key in patch)) return [[key, base[key]]];
        const value = patch[key];
        if (value === null) return [];
        return [[key, key in base ? merge(base[key], value, strategic) : value]];
      }),
    );
  }
  if (strategic && Array.isArray(base) && Array.isArray(patch) && patch.every((p) => isObject(p) && 'name' in p)) {
    const out = [...(base as unknown[])];
    for (const item of patch as Json[]) {
      const at = out.findIndex((b) => isObject(b) && b.name === item.name);
      if (at < 0) out.push(item);
      else out[at] = merge(out[at], item, strategic);
    }
    return out;
  }
  return patch;
}

interface Kustomization {
  apiVersion: string;
  kind: string;
  namespace?: string;
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean }[];
  resources: string[];
  patches?: { path: string; target: { kind: string; name: string } }[];
}

/** Renders a kustomization directory (resources, namespace, labels, patches) the way `kubectl kustomize` does for these files. */
function render(dir: string): K8sObject[] {
  const k = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  assert.equal(k.kind, 'Kustomization');
  let objects = k.resources.flatMap((r) => {
    const path = resolve(dir, r);
    assert.ok(existsSync(path), `${dir}: resource ${r} does not exist`);
    return existsSync(join(path, 'kustomization.yaml')) ? render(path) : readDocs(path);
  });
  for (const patch of k.patches ?? []) {
    const file = resolve(dir, patch.path);
    const [doc] = readDocs(file);
    assert.ok(doc, `${file}: empty patch`);
    const targets = objects.filter((o) => o.kind === patch.target.kind && o.metadata.name === patch.target.name);
    assert.equal(targets.length, 1, `${file}: its target ${patch.target.kind}/${patch.target.name} is not in the base`);
    const strategic = !doc.apiVersion.includes('.sh/');
    objects = objects.map((o) => (targets.includes(o) ? (merge(o, doc, strategic) as K8sObject) : o));
  }
  for (const o of objects) {
    if (k.namespace && o.kind !== 'Namespace') o.metadata.namespace = k.namespace;
    for (const { pairs } of k.labels ?? []) o.metadata.labels = { ...o.metadata.labels, ...pairs };
  }
  return objects;
}

function validateAll(objects: K8sObject[]): void {
  for (const o of objects) {
    const Kind = MODELS[`${o.apiVersion}/${o.kind}`];
    assert.ok(Kind, `no schema for ${o.apiVersion} ${o.kind} (${o.metadata.name}): add its model to MODELS`);
    assert.doesNotThrow(() => {
      new Kind(o as never).validate();
    }, `${o.kind}/${o.metadata.name} does not match its schema`);
  }
}

// The few fields the consistency checks read, typed loosely (the schemas above checked the shapes).
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  args?: string[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  nodeSelector?: Record<string, string>;
  containers: Container[];
}
interface Workload extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}
interface Trigger {
  type: string;
  metadata: Record<string, string>;
}
interface Scaled extends K8sObject {
  spec: { scaleTargetRef: { name: string }; minReplicaCount?: number; maxReplicaCount?: number; triggers: Trigger[] };
}

const find = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind}/${name} missing`);
  return found;
};
const container = (w: Workload, name: string): Container => {
  const c = w.spec.template.spec.containers.find((x) => x.name === name);
  assert.ok(c, `${w.metadata.name} has no container ${name}`);
  return c;
};
const portOf = (c: Container, probe: Probe | undefined): number => {
  const port = probe?.httpGet?.port;
  const n = typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
  assert.ok(n !== undefined, `${c.name}: probe port ${String(port)} is not a container port`);
  return n;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** GET /v1/queue of the real route over a stand-in queue: what KEDA's metrics-api trigger reads. */
async function queueAnswer(): Promise<Json> {
  const counts: Record<string, number> = { waiting: 1, paused: 0, prioritized: 20, delayed: 2, active: 8 };
  const queue = { getJobCounts: () => Promise.resolve(counts) } as unknown as Queue;
  const server = express().use(queueDepthRouter(queue)).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    return (await (await fetch(`http://127.0.0.1:${port}/v1/queue`)).json()) as Json;
  } finally {
    server.close();
  }
}

/** Walks a JSON path like `load` or `a.b` in the answer, as KEDA's valueLocation does (GJSON, simple paths). */
const valueAt = (answer: Json, location: string): unknown =>
  location.split('.').reduce<unknown>((v, key) => (isObject(v) ? v[key] : undefined), answer);

const ajv = new Ajv({ allErrors: true, strict: true });
const validateTrigger = ajv.compile(
  JSON.parse(readFileSync(join(K8S, 'schemas/keda-metrics-api-trigger.schema.json'), 'utf8')) as object,
);

function checkConsistency(objects: K8sObject[], answer: Json): void {
  const config = find(objects, 'ConfigMap', 'sambay-config') as K8sObject & { data: Record<string, string> };
  // The ConfigMap is the services' environment: it must pass their own configuration check.
  const env = readServiceConfig(config.data);
  const api = find(objects, 'Deployment', 'sambay-api') as Workload;
  const worker = find(objects, 'Deployment', 'sambay-worker') as Workload;
  const apiC = container(api, 'api');
  const workerC = container(worker, 'worker');
  const workerEnv = Object.fromEntries((workerC.env ?? []).map((e) => [e.name, e.value ?? '']));
  const workerConfig = readServiceConfig({
    ...config.data,
    ...workerEnv,
  });

  for (const w of [api, worker]) {
    assert.ok(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), `${w.metadata.name} selector`);
    for (const c of w.spec.template.spec.containers) {
      assert.ok(c.resources?.requests && c.resources.limits, `${w.metadata.name}/${c.name}: requests and limits`);
      assert.ok(
        c.envFrom?.some((e) => e.configMapRef?.name === 'sambay-config'),
        `${c.name} reads the ConfigMap`,
      );
    }
  }

  // API: probes on its PORT, a Service in front of it, a PDB over its pods.
  assert.equal(apiC.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(apiC.livenessProbe?.httpGet?.path, '/healthz');
  const apiPort = Number(apiC.env?.find((e) => e.name === 'PORT')?.value ?? env.PORT);
  assert.equal(portOf(apiC, apiC.readinessProbe), apiPort);
  assert.equal(portOf(apiC, apiC.livenessProbe), apiPort);
  const service = find(objects, 'Service', 'sambay-api') as K8sObject & {
    spec: { selector: Record<string, string>; ports: { port: number }[] };
  };
  assert.ok(matches(service.spec.selector, api.spec.template.metadata.labels), 'the Service selects the API pods');

  // Worker: probes on HEALTH_PORT, grace beyond its bounded SIGTERM hand-back.
  assert.ok(workerConfig.HEALTH_PORT !== undefined, 'HEALTH_PORT is set for the worker');
  for (const probe of [workerC.startupProbe, workerC.readinessProbe, workerC.livenessProbe])
    assert.equal(portOf(workerC, probe), workerConfig.HEALTH_PORT);
  assert.equal(workerC.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(workerC.livenessProbe?.httpGet?.path, '/healthz');
  const graceS = worker.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  assert.ok(
    graceS * 1000 >= workerConfig.SHUTDOWN_GRACE_MS + WORKER_SHUTDOWN_OVERRUN_MS + 5_000,
    `terminationGracePeriodSeconds ${graceS} s leaves no margin past SHUTDOWN_GRACE_MS + the overrun bound`,
  );
  // ORT's threads are set (Node sees the node's cores, not the pod's CPU limit) and, for the small
  // model the manifests serve, leave the worker's main thread a core of that limit.
  const cpuLimit = String(workerC.resources?.limits?.cpu ?? '');
  const cores = cpuLimit.endsWith('m') ? Number(cpuLimit.slice(0, -1)) / 1000 : Number(cpuLimit);
  assert.ok(
    workerConfig.WORKER_INTRA_OP_THREADS !== undefined &&
      workerConfig.WORKER_INTRA_OP_THREADS <= Math.max(1, cores - 1),
    `WORKER_INTRA_OP_THREADS ${workerConfig.WORKER_INTRA_OP_THREADS} leaves no core of the worker's CPU limit ${cpuLimit}`,
  );

  // Metrics: the worker serves them on METRICS_PORT, a container port apart from the probes'; both
  // pods carry the prometheus.io annotations Prometheus' pod discovery scrapes by.
  const metricsPort = workerConfig.METRICS_PORT;
  assert.ok(metricsPort !== undefined, 'METRICS_PORT is set for the worker');
  assert.notEqual(metricsPort, workerConfig.HEALTH_PORT, 'metrics and probes on ports of their own');
  assert.equal(workerC.ports?.find((p) => p.name === 'metrics')?.containerPort, metricsPort);
  for (const [w, port] of [
    [api, apiPort],
    [worker, metricsPort],
  ] as const) {
    const annotations = w.spec.template.metadata.annotations ?? {};
    assert.equal(annotations['prometheus.io/scrape'], 'true', `${w.metadata.name} is scraped`);
    assert.equal(Number(annotations['prometheus.io/port']), port, `${w.metadata.name} is scraped on its metrics port`);
    assert.equal(annotations['prometheus.io/path'], '/metrics');
  }

  for (const w of [api, worker]) {
    const pdbs = objects.filter(
      (o): o is K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } } =>
        o.kind === 'PodDisruptionBudget' &&
        matches((o as Workload).spec.selector.matchLabels, w.spec.template.metadata.labels),
    );
    assert.equal(pdbs.length, 1, `one PodDisruptionBudget covers ${w.metadata.name}`);
  }

  // Redis: AOF on a persistent volume, never evicting.
  const redis = find(objects, 'StatefulSet', 'sambay-redis') as Workload;
  const redisC = container(redis, 'redis');
  const args = (redisC.args ?? []).join(' ');
  assert.match(args, /--appendonly yes/);
  assert.match(args, /--maxmemory-policy noeviction/);
  const claim = redis.spec.volumeClaimTemplates?.[0]?.metadata.name;
  assert.ok(claim && redisC.volumeMounts?.some((m) => m.name === claim && m.mountPath === '/data'));
  assert.match(env.REDIS_URL, /\/\/sambay-redis:6379$/);

  // KEDA: scales the worker Deployment on the API's /v1/queue, one worker per WORKER_MAX_SEQUENCES jobs.
  const scaled = find(objects, 'ScaledObject', 'sambay-worker') as Scaled;
  assert.equal(scaled.spec.scaleTargetRef.name, worker.metadata.name);
  assert.equal(scaled.spec.triggers.length, 1);
  const trigger = scaled.spec.triggers[0]!;
  assert.ok(validateTrigger(trigger), ajv.errorsText(validateTrigger.errors));
  const url = new URL(trigger.metadata.url!);
  assert.equal(url.hostname, `${service.metadata.name}.${service.metadata.namespace ?? ''}.svc.cluster.local`);
  assert.equal(Number(url.port || 80), service.spec.ports[0]?.port);
  assert.equal(url.pathname, '/v1/queue');
  const value = valueAt(answer, trigger.metadata.valueLocation!);
  assert.equal(
    value,
    31,
    `valueLocation ${trigger.metadata.valueLocation} reads waiting + prioritized + delayed + active`,
  );
  assert.equal(Number(trigger.metadata.targetValue), workerConfig.WORKER_MAX_SEQUENCES);
}

describe('Kubernetes manifests (infra/k8s)', () => {
  test('every YAML file parses and every object in it has a schema it matches', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
      );
    const all = files(K8S);
    assert.ok(all.length >= 9, all.join(', '));
    // Kustomization files and patches are checked by rendering below; the rest are whole objects.
    const whole = all.filter((f) => !f.endsWith('kustomization.yaml') && !dirname(f).includes('overlays'));
    validateAll(whole.flatMap(readDocs));
  });

  test('the base renders to valid objects that agree with the services', async () => {
    const objects = render(join(K8S, 'base'));
    validateAll(objects);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ConfigMap/sambay-config',
      'Deployment/sambay-api',
      'Deployment/sambay-worker',
      'Namespace/sambay',
      'PodDisruptionBudget/sambay-api',
      'PodDisruptionBudget/sambay-worker',
      'ScaledObject/sambay-worker',
      'Service/sambay-api',
      'Service/sambay-redis',
      'StatefulSet/sambay-redis',
    ]);
    for (const o of objects) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'sambay');
    checkConsistency(objects, await queueAnswer());
  });

  test('the gpu overlay gives workers a GPU each, the CUDA image and provider, and still agrees', async () => {
    const objects = render(join(K8S, 'overlays/gpu'));
    validateAll(objects);
    checkConsistency(objects, await queueAnswer());
    const worker = find(objects, 'Deployment', 'sambay-worker') as Workload;
    const c = container(worker, 'worker');
    assert.equal(c.resources?.limits?.['nvidia.com/gpu'], 1);
    assert.equal(c.resources.requests?.['nvidia.com/gpu'], 1);
    assert.equal(c.env?.find((e) => e.name === 'EXECUTION_PROVIDER')?.value, 'cuda');
    assert.equal(c.image, 'sambay-serve:cuda');
    assert.ok(Object.keys(worker.spec.template.spec.nodeSelector ?? {}).length > 0, 'a node selector');
    // The patch merged into the base: probes, ConfigMap and grace are still there; the API is untouched.
    assert.ok(c.livenessProbe && c.envFrom);
    assert.equal(container(find(objects, 'Deployment', 'sambay-api') as Workload, 'api').image, 'sambay-serve:latest');
    // The Dockerfile takes the build arg the overlay's image needs.
    const dockerfile = readFileSync(join(K8S, '../Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ARG ONNXRUNTIME_NODE_INSTALL=skip$/m);
  });

  test('a broken manifest is rejected, so the checks above can fail', () => {
    const [deployment] = readDocs(join(K8S, 'base/worker.yaml'));
    const broken = merge(deployment, { spec: { replicas: 'two' } }, true) as K8sObject;
    assert.throws(() => {
      validateAll([broken]);
    }, /does not match its schema/);
    const trigger = { type: 'metrics-api', metadata: { url: 'http://x/v1/queue', valueLocation: 'load' } };
    assert.equal(validateTrigger(trigger), false, 'targetValue is required');
  });
});
