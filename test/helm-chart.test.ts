import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { BrokerConfig, loadBrokerConfig } from '#ark/config';
import { fixtureText } from './support/fixtures.js';
import { helm } from './support/helm.js';

/** helm/ark-broker, from dist/test/. */
const CHART = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../helm/ark-broker');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [key: string]: any;
}

describe('helm chart (rendered by the real helm binary)', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-helm-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  const render = async (set: Record<string, string>, release = 'ark-broker') => {
    const args = ['template', release, CHART, '--namespace', 'ark-system'];
    for (const [key, value] of Object.entries(set)) args.push('--set', `${key}=${value}`);
    const result = await helm(args, scratch);
    return { ...result, objects: result.code === 0 ? (yaml.loadAll(result.stdout).filter(Boolean) as K8sObject[]) : [] };
  };
  const rendered = async (set: Record<string, string>, release?: string) => {
    const result = await render(set, release);
    assert.equal(result.code, 0, result.stderr);
    return result.objects;
  };
  const find = (objects: K8sObject[], kind: string, name?: string) =>
    objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  const one = (objects: K8sObject[], kind: string, name?: string) => {
    const found = find(objects, kind, name);
    assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''} (found ${found.length})`);
    return found[0]!;
  };
  const envOf = (container: any) => new Map<string, any>((container.env ?? []).map((e: any) => [e.name, e]));

  it('passes helm lint --strict with a database secret', async () => {
    const result = await helm(['lint', '--strict', CHART, '--set', 'database.existingSecret=db'], scratch);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it('renders a hardened Deployment of 2+ replicas with probes, resources and a writable /tmp only', async () => {
    const objects = await rendered({ 'database.existingSecret': 'ark-db' });
    const deployment = one(objects, 'Deployment', 'ark-broker');
    assert.equal(deployment.metadata.namespace, 'ark-system');
    assert.ok(deployment.spec.replicas >= 2);
    const pod = deployment.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 10001);
    const [container] = pod.containers;
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/health');
    assert.equal(container.readinessProbe.httpGet.port, 'http');
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    assert.deepEqual(container.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
    assert.ok(pod.volumes.find((v: any) => v.name === 'tmp').emptyDir);
    // The pod's grace period covers the preStop sleep plus the broker's own drain time.
    const env = envOf(container);
    const graceMs = Number(env.get('SHUTDOWN_GRACE_MS').value);
    const preStop = Number(container.lifecycle.preStop.exec.command[1]);
    assert.ok(preStop * 1000 + graceMs < pod.terminationGracePeriodSeconds * 1000, 'preStop + SHUTDOWN_GRACE_MS < terminationGracePeriodSeconds');
    assert.deepEqual(env.get('DATABASE_URL').valueFrom, { secretKeyRef: { name: 'ark-db', key: 'DATABASE_URL' } });
    assert.equal(env.get('MIGRATE_ON_START').value, 'true');
    assert.equal(env.get('AUTH_MODE').value, 'none');
    assert.equal(env.get('ALLOW_PURGE_ALL').value, 'false', 'the chart switches purge-all DELETEs off');
    assert.equal(find(objects, 'Job').length, 0, 'startup migrations: no Job');
    assert.equal(find(objects, 'Secret').length, 0, 'existingSecret: the chart makes no Secret');
    assert.equal(find(objects, 'HorizontalPodAutoscaler').length, 0);
    assert.equal(find(objects, 'StatefulSet').length, 0, 'no bundled PostgreSQL by default');

    const service = one(objects, 'Service', 'ark-broker');
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    assert.equal(service.spec.ports[0].name, 'http');
    assert.equal(service.spec.ports[0].targetPort, 'http');
    assert.equal(container.ports[0].name, 'http');

    const pdb = one(objects, 'PodDisruptionBudget');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  });

  it('every environment variable it sets for the broker is a setting the broker knows, with a valid value', async () => {
    const objects = await rendered({
      'database.existingSecret': 'ark-db',
      'auth.mode': 'jwt',
      'auth.jwksUrl': 'https://issuer.example/jwks',
      'auth.jwtIssuer': 'https://issuer.example',
      'config.DATABASE_POOL_SIZE': '30',
      'config.SSE_RETRY_MS': '5000',
      'tracing.otlpEndpoint': 'http://collector:4318',
    });
    const env = envOf(one(objects, 'Deployment').spec.template.spec.containers[0]);
    const known = new Set(
      Object.keys(new BrokerConfig()).concat(
        'DATABASE_URL',
        'AUTH_JWT_SECRET',
        'AUTH_JWKS_URL',
        'AUTH_JWT_ISSUER',
        'AUTH_JWT_AUDIENCE',
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'OTEL_SERVICE_NAME',
      ),
    );
    const values: Record<string, string> = { DATABASE_URL: 'postgres://u@db/ark' };
    for (const [name, entry] of env) {
      assert.ok(known.has(name), `${name} is a broker setting`);
      if (entry.value !== undefined) values[name] = entry.value;
    }
    const config = loadBrokerConfig(values);
    assert.equal(config.AUTH_MODE, 'jwt');
    assert.equal(config.DATABASE_POOL_SIZE, 30);
    assert.equal(config.MIGRATE_ON_START, true);
    assert.equal(config.SHUTDOWN_GRACE_MS, 20_000);
    assert.equal(values.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://collector:4318');
  });

  it("creates the Ark integration objects in upstream chart's shape", async () => {
    const objects = await rendered({ 'database.existingSecret': 'ark-db' });
    for (const [name, fixture] of [
      ['ark-config-broker', 'ark-config-broker-configmap.chainsaw.yaml'],
      ['ark-config-streaming', 'ark-config-streaming-configmap.yaml'],
    ] as const) {
      const configMap = one(objects, 'ConfigMap', name);
      const upstream = yaml.load(fixtureText(fixture)) as K8sObject;
      assert.equal(configMap.metadata.name, upstream.metadata.name);
      assert.deepEqual(Object.keys(configMap.data).sort(), Object.keys(upstream.data).sort());
      assert.equal(configMap.data.enabled, 'true');
      const ref = yaml.load(configMap.data.serviceRef) as Record<string, string>;
      const upstreamRef = yaml.load(upstream.data.serviceRef) as Record<string, string>;
      assert.deepEqual(Object.keys(ref).sort(), Object.keys(upstreamRef).sort());
      assert.deepEqual(ref, { name: 'ark-broker', namespace: 'ark-system', port: 'http' });
    }
    const memory = one(objects, 'Memory', 'default');
    assert.equal(memory.apiVersion, 'ark.mckinsey.com/v1alpha1');
    assert.deepEqual(memory.spec.address.valueFrom.serviceRef, { name: 'ark-broker', namespace: 'ark-system', port: 'http' });

    const named = await rendered(
      { 'database.existingSecret': 'ark-db', 'ark.memory.setAsDefault': 'false', 'ark.streamingConfig.enabled': 'false' },
      'broker-two',
    );
    assert.equal(one(named, 'Memory').metadata.name, 'broker-two-ark-broker');
    assert.equal(find(named, 'ConfigMap', 'ark-config-streaming').length, 0);
    assert.equal((yaml.load(one(named, 'ConfigMap', 'ark-config-broker').data.serviceRef) as { name: string }).name, 'broker-two-ark-broker');
  });

  it("otel-environment-variables Secrets point Ark's exporters at the broker, with the producer key header", async () => {
    const objects = await rendered({
      'database.existingSecret': 'ark-db',
      'auth.mode': 'header',
      'ark.otelEnvironmentSecrets.namespaces': '{team-a,team-b}',
      'ark.otelEnvironmentSecrets.headers': 'Authorization=Bearer ark_key_123',
    });
    const secrets = find(objects, 'Secret', 'otel-environment-variables');
    assert.deepEqual(
      secrets.map((s) => s.metadata.namespace),
      ['team-a', 'team-b'],
    );
    for (const s of secrets) {
      assert.equal(s.stringData.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://ark-broker.ark-system.svc.cluster.local:80');
      assert.equal(s.stringData.OTEL_EXPORTER_OTLP_HEADERS, 'Authorization=Bearer ark_key_123');
    }
  });

  it('migrations.mode=job: a pre-install/pre-upgrade hook Job, and pods that do not migrate', async () => {
    const objects = await rendered({ 'database.existingSecret': 'ark-db', 'migrations.mode': 'job', 'migrations.existingSecret': 'ark-db-owner' });
    const job = one(objects, 'Job', 'ark-broker-migrate');
    assert.equal(job.metadata.annotations!['helm.sh/hook'], 'pre-install,pre-upgrade');
    const [container] = job.spec.template.spec.containers;
    assert.deepEqual(container.command.slice(-1), ['migrate']);
    assert.deepEqual(envOf(container).get('DATABASE_URL').valueFrom.secretKeyRef, { name: 'ark-db-owner', key: 'DATABASE_URL' });
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(envOf(one(objects, 'Deployment').spec.template.spec.containers[0]).get('MIGRATE_ON_START').value, 'false');
  });

  it('database.url and auth.jwtSecret go into chart-made Secrets the pods read', async () => {
    const objects = await rendered({ 'database.url': 'postgres://ark:pw@db:5432/ark', 'auth.mode': 'jwt', 'auth.jwtSecret': 'x'.repeat(40) });
    const database = one(objects, 'Secret', 'ark-broker-database');
    assert.equal(database.stringData.DATABASE_URL, 'postgres://ark:pw@db:5432/ark');
    const auth = one(objects, 'Secret', 'ark-broker-auth');
    assert.equal(auth.stringData.AUTH_JWT_SECRET, 'x'.repeat(40));
    const container = one(objects, 'Deployment').spec.template.spec.containers[0];
    assert.deepEqual(container.envFrom, [{ secretRef: { name: 'ark-broker-auth' } }]);
    assert.equal(envOf(container).get('DATABASE_URL').valueFrom.secretKeyRef.name, 'ark-broker-database');
    assert.equal(envOf(container).get('AUTH_MODE').value, 'jwt');
  });

  it('postgresql.enabled: a bundled PostgreSQL whose URL the pods use', async () => {
    const objects = await rendered({ 'postgresql.enabled': 'true' });
    const statefulSet = one(objects, 'StatefulSet', 'ark-broker-postgresql');
    assert.equal(statefulSet.spec.volumeClaimTemplates.length, 1);
    const secret = one(objects, 'Secret', 'ark-broker-postgresql');
    const password = secret.stringData.POSTGRES_PASSWORD;
    assert.match(password, /^[A-Za-z0-9]{32}$/);
    assert.equal(secret.stringData.DATABASE_URL, `postgres://ark:${password}@ark-broker-postgresql:5432/ark_broker`);
    one(objects, 'Service', 'ark-broker-postgresql');
    const container = one(objects, 'Deployment').spec.template.spec.containers[0];
    assert.deepEqual(envOf(container).get('DATABASE_URL').valueFrom.secretKeyRef, { name: 'ark-broker-postgresql', key: 'DATABASE_URL' });
  });

  it('autoscaling.enabled: an HPA owns the replica count', async () => {
    const objects = await rendered({ 'database.existingSecret': 'ark-db', 'autoscaling.enabled': 'true', 'autoscaling.maxReplicas': '8' });
    const hpa = one(objects, 'HorizontalPodAutoscaler');
    assert.equal(hpa.spec.scaleTargetRef.name, 'ark-broker');
    assert.equal(hpa.spec.minReplicas, 2);
    assert.equal(hpa.spec.maxReplicas, 8);
    assert.equal(one(objects, 'Deployment').spec.replicas, undefined);
    one(objects, 'PodDisruptionBudget');
  });

  it('refuses renders that could not run', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /set database\.existingSecret/],
      [{ 'database.url': 'mysql://x' }, /postgres:\/\//],
      [{ 'database.existingSecret': 'a', 'postgresql.enabled': 'true' }, /only one of/],
      [{ 'postgresql.enabled': 'true', 'migrations.mode': 'job' }, /migrations\.mode=job/],
      [{ 'database.existingSecret': 'a', 'auth.mode': 'jwt' }, /auth\.mode=jwt needs/],
      [{ 'database.existingSecret': 'a', 'migrations.mode': 'later' }, /startup or job/],
    ];
    for (const [set, message] of cases) {
      const result = await render(set);
      assert.notEqual(result.code, 0, JSON.stringify(set));
      assert.match(result.stderr, message, JSON.stringify(set));
    }
  });
});
