// The compose `monitoring` profile without Docker: docker-compose.yml's Prometheus and Grafana
// services, the scrape config they mount, and the provisioned Grafana dashboard (its queries use the
// documented vLLM-style metric names and the provisioned data source).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface ComposeService {
  image?: string;
  profiles?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}
interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; type: string; port: number }[];
}
interface Panel {
  title: string;
  datasource: { uid: string };
  targets: { expr: string }[];
}

/** The metric names the dashboard charts (vLLM's names under `sambay:`); the API and workers export them. */
const DASHBOARD_METRICS = [
  'sambay:num_requests_running',
  'sambay:num_requests_waiting',
  'sambay:queue_depth',
  'sambay:time_to_first_token_seconds_bucket',
  'sambay:e2e_request_latency_seconds_bucket',
  'sambay:generation_tokens_total',
  'sambay:prompt_tokens_total',
];

describe('compose monitoring profile', () => {
  const compose = parse(read('docker-compose.yml')) as Compose;

  test('Prometheus and Grafana run only in the monitoring profile, with files that exist', () => {
    for (const name of ['prometheus', 'grafana']) {
      const service = compose.services[name];
      assert.ok(service, `${name} service`);
      assert.deepEqual(service.profiles, ['monitoring']);
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        if (source?.startsWith('./')) assert.ok(existsSync(join(ROOT, source)), `${name}: ${source} exists`);
        else assert.ok(source && source in compose.volumes, `${name}: named volume ${source ?? ''} is declared`);
      }
    }
    for (const name of ['redis', 'api', 'worker']) assert.equal(compose.services[name]?.profiles, undefined);
  });

  test("Prometheus scrapes the API's port and every worker's METRICS_PORT at /metrics", () => {
    const config = parse(read('infra/prometheus/prometheus.yml')) as { scrape_configs: ScrapeConfig[] };
    const api = config.scrape_configs.find((c) => c.job_name === 'sambay-api');
    const worker = config.scrape_configs.find((c) => c.job_name === 'sambay-worker');
    assert.equal(api?.metrics_path, '/metrics');
    assert.deepEqual(api.static_configs?.[0]?.targets, ['api:3000']);
    assert.equal(worker?.metrics_path, '/metrics');
    assert.deepEqual(worker.dns_sd_configs?.[0]?.names, ['worker']);
    assert.equal(worker.dns_sd_configs[0].port, Number(compose.services.worker?.environment?.METRICS_PORT));
  });

  test('the provisioned dashboard charts the documented metrics from the provisioned data source', () => {
    const datasources = parse(read('infra/grafana/provisioning/datasources/prometheus.yaml')) as {
      datasources: { uid: string; url: string }[];
    };
    const uid = datasources.datasources[0]?.uid;
    assert.equal(datasources.datasources[0]?.url, 'http://prometheus:9090');
    const provider = parse(read('infra/grafana/provisioning/dashboards/sambay.yaml')) as {
      providers: { options: { path: string } }[];
    };
    assert.ok(
      compose.services.grafana?.volumes?.some((v) => v.endsWith(`:${provider.providers[0]?.options.path ?? ''}:ro`)),
      'the dashboards folder is mounted where the provider reads it',
    );

    const dashboard = JSON.parse(read('infra/grafana/dashboards/sambay-serve.json')) as {
      uid: string;
      panels: Panel[];
    };
    assert.equal(dashboard.uid, 'sambay-serve');
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    for (const metric of DASHBOARD_METRICS)
      assert.ok(
        exprs.some((e) => e.includes(metric)),
        `a panel queries ${metric}`,
      );
    for (const panel of dashboard.panels) assert.equal(panel.datasource.uid, uid, panel.title);
    assert.ok(
      exprs.some((e) => e.includes('rate(sambay:generation_tokens_total[')),
      'token counters are charted as rates',
    );
  });
});
