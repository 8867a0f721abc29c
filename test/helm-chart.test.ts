import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { BrokerConfig, loadBrokerConfig } from '#ark/config';
import { samplerFromEnvironment } from '#ark/tracing';
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
  let valueFiles = 0;
  /** Renders with a values file (structured values, as an operator writes them). */
  const renderValues = async (values: unknown, release = 'ark-broker') => {
    const file = path.join(scratch, `values-${++valueFiles}.yaml`);
    await writeFile(file, yaml.dump(values));
    const result = await helm(['template', release, CHART, '--namespace', 'ark-system', '-f', file], scratch);
    return { ...result, objects: result.code === 0 ? (yaml.loadAll(result.stdout).filter(Boolean) as K8sObject[]) : [] };
  };
  const renderedValues = async (values: unknown) => {
    const result = await renderValues(values);
    assert.equal(result.code, 0, result.stderr);
    return result.objects;
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
    assert.equal(container.image, 'ark-broker:0.2.0');
    assert.ok(pod.volumes.find((v: any) => v.name === 'tmp').emptyDir);
    // The pod's grace period covers the preStop sleep plus the broker's own drain time.
    const env = envOf(container);
    const graceMs = Number(env.get('SHUTDOWN_GRACE_MS').value);
    const preStop = Number(container.lifecycle.preStop.exec.command[1]);
    assert.ok(preStop * 1000 + graceMs < pod.terminationGracePeriodSeconds * 1000, 'preStop + SHUTDOWN_GRACE_MS < terminationGracePeriodSeconds');
    assert.deepEqual(env.get('DATABASE_URL').valueFrom, { secretKeyRef: { name: 'ark-db', key: 'DATABASE_URL' } });
    assert.equal(env.get('MIGRATE_ON_START').value, 'true');
    // The start-up migration gives up before the start-up probe kills the pod.
    const probeWindowMs = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold * 1000;
    assert.ok(Number(env.get('MIGRATE_ON_START_TIMEOUT_MS').value) < probeWindowMs, 'MIGRATE_ON_START_TIMEOUT_MS < the start-up probe window');
    assert.equal(env.get('NODE_OPTIONS').value, '--max-old-space-size=384', '75% of the 512Mi limit');
    assert.equal(env.get('AUTH_MODE').value, 'none');
    assert.equal(env.get('ALLOW_PURGE_ALL').value, 'false', 'the chart switches purge-all DELETEs off');
    // migrations.mode=auto: start-up migration on install, the migration Job before every upgrade.
    assert.equal(one(objects, 'Job', 'ark-broker-migrate').metadata.annotations!['helm.sh/hook'], 'pre-upgrade');
    assert.equal(pod.serviceAccountName, 'ark-broker');
    assert.equal(one(objects, 'ServiceAccount', 'ark-broker').automountServiceAccountToken, false);
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
      'tracing.sampler': 'parentbased_traceidratio',
      'tracing.samplerArg': '0.25',
      'tracing.resourceAttributes': 'deployment.environment.name=prod',
      'database.tls.enabled': 'true',
      'database.tls.secretName': 'pg-ca',
    });
    const env = envOf(one(objects, 'Deployment').spec.template.spec.containers[0]);
    const known = new Set(
      Object.keys(new BrokerConfig()).concat(
        'DATABASE_URL',
        'DATABASE_SSL_ROOT_CERT_PATH',
        'NODE_OPTIONS',
        'AUTH_JWT_SECRET',
        'AUTH_JWKS_URL',
        'AUTH_JWT_ISSUER',
        'AUTH_JWT_AUDIENCE',
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'OTEL_SERVICE_NAME',
        'OTEL_TRACES_SAMPLER',
        'OTEL_TRACES_SAMPLER_ARG',
        'OTEL_RESOURCE_ATTRIBUTES',
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
    assert.equal(config.MIGRATE_ON_START_TIMEOUT_MS, 100_000);
    assert.equal(config.DATABASE_SSL_ROOT_CERT_PATH, '/etc/pg-ssl/ca.crt');
    assert.equal(config.SHUTDOWN_GRACE_MS, 20_000);
    assert.equal(values.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://collector:4318');
    assert.equal(values.OTEL_TRACES_SAMPLER, 'parentbased_traceidratio');
    assert.equal(values.OTEL_TRACES_SAMPLER_ARG, '0.25');
    assert.equal(values.OTEL_RESOURCE_ATTRIBUTES, 'deployment.environment.name=prod');
    assert.doesNotThrow(() => samplerFromEnvironment(values), 'the broker takes the sampler the chart sets');
  });

  it("values.yaml's commented config entries are settings the broker knows, shown with its defaults", async () => {
    const text = await readFile(path.join(CHART, 'values.yaml'), 'utf8');
    const block = text.slice(text.indexOf('\nconfig:\n'), text.indexOf('\n\n', text.indexOf('\nconfig:\n') + 1));
    const documented = [...block.matchAll(/^ {2}# ([A-Z][A-Z0-9_]*): "([^"]*)"$/gm)].map((m) => [m[1]!, m[2]!] as const);
    assert.ok(documented.length >= 15, `${documented.length} documented settings`);
    const defaults = loadBrokerConfig({ DATABASE_URL: 'postgres://u@db/ark' }) as unknown as Record<string, unknown>;
    for (const [name, value] of documented) {
      assert.ok(name in defaults, `${name} is a broker setting`);
      const shown = defaults[name];
      assert.equal(value, Array.isArray(shown) ? shown.join(',') : String((shown as string | number | boolean | undefined) ?? ''), `${name}'s default`);
    }
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
    assert.equal(envOf(one(objects, 'Deployment').spec.template.spec.containers[0]).get('MIGRATE_DATABASE_URL'), undefined, 'job mode: pods never migrate');
  });

  it("migrations.existingSecret in auto mode: the pods migrate at start-up with the owner's URL and serve with their own", async () => {
    const objects = await rendered({ 'database.existingSecret': 'ark-db', 'migrations.existingSecret': 'ark-db-owner' });
    const env = envOf(one(objects, 'Deployment').spec.template.spec.containers[0]);
    assert.equal(env.get('MIGRATE_ON_START').value, 'true');
    assert.deepEqual(env.get('DATABASE_URL').valueFrom.secretKeyRef, { name: 'ark-db', key: 'DATABASE_URL' });
    assert.deepEqual(env.get('MIGRATE_DATABASE_URL').valueFrom.secretKeyRef, { name: 'ark-db-owner', key: 'DATABASE_URL' });
    assert.equal(envOf(brokerPod(await rendered({ 'database.existingSecret': 'ark-db' })).containers[0]).get('MIGRATE_DATABASE_URL'), undefined);
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
      [{ 'database.existingSecret': 'a', 'migrations.mode': 'later' }, /migrations\/mode'?: value must be one of 'auto', 'startup', 'job'/],
      [{ 'database.existingSecret': 'a', 'database.tls.enabled': 'true' }, /database\.tls\.enabled needs database\.tls\.secretName/],
    ];
    for (const [set, message] of cases) {
      const result = await render(set);
      assert.notEqual(result.code, 0, JSON.stringify(set));
      assert.match(result.stderr, message, JSON.stringify(set));
    }
  });
  const db = { database: { existingSecret: 'ark-db' } };
  const brokerPod = (objects: K8sObject[]) => one(objects, 'Deployment').spec.template.spec;

  it('the chart carries the ark.mckinsey.com annotations ark-api lists Ark services by, and a semantic version', async () => {
    const result = await helm(['show', 'chart', CHART], scratch);
    assert.equal(result.code, 0, result.stderr);
    const chart = yaml.load(result.stdout) as { version: string; appVersion: string; annotations: Record<string, string> };
    assert.equal(chart.annotations['ark.mckinsey.com/service'], 'ark-broker');
    assert.equal(chart.annotations['ark.mckinsey.com/resources'], 'service');
    assert.match(chart.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    const pkg = JSON.parse(await readFile(path.join(CHART, '../../package.json'), 'utf8')) as { version: string };
    assert.equal(chart.appVersion, pkg.version, "the chart's appVersion is the package's version");
  });

  it('image.registry and image.digest', async () => {
    const byTag = brokerPod(await renderedValues({ ...db, image: { registry: 'registry.example.com/platform/', tag: '1.2.3' } }));
    assert.equal(byTag.containers[0].image, 'registry.example.com/platform/ark-broker:1.2.3');
    const digest = `sha256:${'a'.repeat(64)}`;
    const objects = await renderedValues({ ...db, image: { registry: 'registry.example.com', digest } });
    assert.equal(brokerPod(objects).containers[0].image, `registry.example.com/ark-broker@${digest}`);
    assert.equal(
      one(objects, 'Job').spec.template.spec.containers[0].image,
      `registry.example.com/ark-broker@${digest}`,
      'the migration Job runs the same image',
    );
    assert.equal(one(objects, 'Pod').spec.containers[0].image, `registry.example.com/ark-broker@${digest}`, 'so does the helm test');
    const bad = await renderValues({ ...db, image: { digest: 'latest' } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /digest/);
  });

  it('prometheus.enable renders a ServiceMonitor on the http port at /metrics', async () => {
    assert.equal(find(await renderedValues(db), 'ServiceMonitor').length, 0);
    const objects = await renderedValues({
      ...db,
      prometheus: { enable: true, serviceMonitor: { labels: { release: 'kube-prometheus-stack' }, interval: '15s' } },
    });
    const monitor = one(objects, 'ServiceMonitor', 'ark-broker');
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(monitor.metadata.labels!.release, 'kube-prometheus-stack');
    assert.deepEqual(monitor.spec.selector.matchLabels, one(objects, 'Service').spec.selector);
    assert.deepEqual(monitor.spec.endpoints, [{ port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }]);
  });

  it('networkPolicy admits the release namespace and the namespaces allowed, to the http port only', async () => {
    assert.equal(find(await renderedValues(db), 'NetworkPolicy').length, 0);
    const objects = await renderedValues({ ...db, networkPolicy: { enabled: true, allowedNamespaces: ['team-a', 'monitoring'] } });
    const policy = one(objects, 'NetworkPolicy', 'ark-broker');
    assert.deepEqual(policy.spec.podSelector.matchLabels, one(objects, 'Deployment').spec.selector.matchLabels);
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    const [rule] = policy.spec.ingress;
    assert.deepEqual(rule.ports, [{ port: 'http', protocol: 'TCP' }]);
    assert.deepEqual(rule.from[0].namespaceSelector.matchExpressions[0].values, ['ark-system', 'team-a', 'monitoring']);
  });

  it('serviceAccount: created with annotations, or an existing one named', async () => {
    const objects = await renderedValues({ ...db, serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/ark' } } });
    assert.equal(one(objects, 'ServiceAccount', 'ark-broker').metadata.annotations!['eks.amazonaws.com/role-arn'], 'arn:aws:iam::1:role/ark');
    const existing = await renderedValues({ ...db, serviceAccount: { create: false, name: 'ark-broker-irsa' } });
    assert.equal(find(existing, 'ServiceAccount').length, 0);
    assert.equal(brokerPod(existing).serviceAccountName, 'ark-broker-irsa');
    assert.equal(one(existing, 'Job').spec.template.spec.serviceAccountName, 'ark-broker-irsa');
  });

  it('auth.serviceAccounts: the pod gets its token mounted to ask TokenReview, and the broker the grants; auth.trustedNetworks too', async () => {
    const objects = await renderedValues({
      ...db,
      auth: {
        mode: 'jwt',
        jwksUrl: 'https://issuer.example/jwks',
        serviceAccounts: 'ark-system/ark-controller=default:producer',
        trustedNetworks: '10.0.0.0/8=default:producer',
      },
    });
    const pod = brokerPod(objects);
    assert.equal(pod.automountServiceAccountToken, true);
    const env = envOf(pod.containers[0]);
    assert.equal(env.get('AUTH_K8S_SERVICE_ACCOUNTS').value, 'ark-system/ark-controller=default:producer');
    assert.equal(env.get('AUTH_TRUSTED_NETWORKS').value, '10.0.0.0/8=default:producer');
    const role = one(objects, 'ClusterRole', 'ark-broker-ark-system-tokenreview');
    assert.deepEqual(role.rules, [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]);
    const binding = one(objects, 'ClusterRoleBinding', 'ark-broker-ark-system-tokenreview');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: 'ark-system' }]);

    const without = await renderedValues(db);
    assert.equal(brokerPod(without).automountServiceAccountToken, false, 'no token without TokenReview');
    assert.equal(find(without, 'ClusterRoleBinding').length + find(without, 'ClusterRole').length, 0, 'no grant without TokenReview');
    const bindOwn = await renderedValues({
      ...db,
      rbac: { create: false },
      auth: { mode: 'jwt', jwksUrl: 'https://issuer.example/jwks', serviceAccounts: 'a/b=t:reader' },
    });
    assert.equal(find(bindOwn, 'ClusterRoleBinding').length, 0, 'rbac.create=false leaves the grant to the operator');
  });

  it('extraVolumes/extraVolumeMounts and database.tls mount into the broker and the migration Job', async () => {
    const objects = await renderedValues({
      ...db,
      database: { ...db.database, tls: { enabled: true, secretName: 'pg-ca' } },
      extraVolumes: [{ name: 'secrets-store', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true } }],
      extraVolumeMounts: [{ name: 'secrets-store', mountPath: '/mnt/secrets', readOnly: true }],
    });
    for (const pod of [brokerPod(objects), one(objects, 'Job').spec.template.spec]) {
      assert.deepEqual(
        pod.volumes.map((v: any) => v.name),
        ['tmp', 'database-tls', 'secrets-store'],
      );
      assert.deepEqual(pod.volumes.find((v: any) => v.name === 'database-tls').secret, { secretName: 'pg-ca' });
      const [container] = pod.containers;
      assert.deepEqual(
        container.volumeMounts.map((m: any) => m.mountPath),
        ['/tmp', '/etc/pg-ssl', '/mnt/secrets'],
      );
      assert.equal(envOf(container).get('DATABASE_SSL_ROOT_CERT_PATH').value, '/etc/pg-ssl/ca.crt');
    }
  });

  it('NODE_OPTIONS sizes the heap from the memory limit', async () => {
    for (const [limit, expected] of [
      ['1Gi', '--max-old-space-size=768'],
      ['1500M', '--max-old-space-size=1072'],
      ['2.5Gi', '--max-old-space-size=1920'],
    ]) {
      const env = envOf(brokerPod(await renderedValues({ ...db, resources: { limits: { memory: limit } } })).containers[0]);
      assert.equal(env.get('NODE_OPTIONS').value, expected, limit);
    }
    const extra = envOf(brokerPod(await renderedValues({ ...db, nodeOptions: { heapPercentOfMemoryLimit: 50, extra: '--enable-source-maps' } })).containers[0]);
    assert.equal(extra.get('NODE_OPTIONS').value, '--max-old-space-size=256 --enable-source-maps');
    const none = envOf(brokerPod(await renderedValues({ ...db, resources: { limits: null } })).containers[0]);
    assert.equal(none.get('NODE_OPTIONS'), undefined, 'no limit: no heap cap');
  });

  it('ingress and httpRoute route to the http port of the Service', async () => {
    const objects = await renderedValues({
      ...db,
      ingress: { enabled: true, className: 'nginx', hosts: [{ host: 'broker.example.com' }], tls: [{ hosts: ['broker.example.com'], secretName: 'tls' }] },
      httpRoute: { enabled: true, parentRefs: [{ name: 'ark-gateway', namespace: 'ark-system' }], hostnames: ['broker.example.com'] },
    });
    const ingress = one(objects, 'Ingress', 'ark-broker');
    assert.equal(ingress.spec.ingressClassName, 'nginx');
    assert.equal(ingress.metadata.annotations!['nginx.ingress.kubernetes.io/proxy-buffering'], 'off', 'SSE is not buffered');
    assert.deepEqual(ingress.spec.rules[0], {
      host: 'broker.example.com',
      http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'ark-broker', port: { name: 'http' } } } }] },
    });
    const route = one(objects, 'HTTPRoute', 'ark-broker');
    assert.equal(route.apiVersion, 'gateway.networking.k8s.io/v1');
    assert.deepEqual(route.spec.parentRefs, [{ name: 'ark-gateway', namespace: 'ark-system' }]);
    assert.deepEqual(route.spec.rules[0].backendRefs, [{ name: 'ark-broker', port: 80 }]);
  });

  it('helm test: a pod that checks GET /readyz on the Service', async () => {
    const test = one(await renderedValues(db), 'Pod', 'ark-broker-test');
    assert.equal(test.metadata.annotations!['helm.sh/hook'], 'test');
    const [container] = test.spec.containers;
    assert.equal(container.command.at(-1), 'http://ark-broker.ark-system.svc:80/readyz');
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  });

  it('values.schema.json rejects unknown keys and wrong types', async () => {
    for (const [values, message] of [
      [{ ...db, replicas: 3 }, /replicas/],
      [{ ...db, image: { repo: 'x' } }, /repo/],
      [{ ...db, prometheus: { enabled: true } }, /enabled/],
      [{ ...db, replicaCount: 'two' }, /replicaCount/],
      [{ ...db, config: { log_level: 'debug' } }, /log_level/],
    ] as const) {
      const result = await renderValues(values);
      assert.notEqual(result.code, 0, JSON.stringify(values));
      assert.match(result.stderr, /schema/, JSON.stringify(values));
      assert.match(result.stderr, message, JSON.stringify(values));
    }
  });

  it("upstream ark-broker's value names are used where they mean the same", async () => {
    const objects = await renderedValues({
      app: {
        name: 'ark-broker',
        image: { repository: 'ghcr.io/example/ark-broker', tag: '9.9.9', pullPolicy: 'Always' },
        resources: { limits: { memory: '1Gi' } },
      },
      database: { urlSecretRef: { name: 'pg-url', key: 'database-url' }, poolMax: 30, tls: { enabled: true, secretName: 'pg-ca', mountPath: '/etc/pg-ssl' } },
      memory: { createMemoryCRD: true, setAsDefault: false, port: 9000 },
      streaming: { enabled: false },
      backends: { message: 'postgres', event: 'postgres' },
      global: { annotations: { 'ark.mckinsey.com/service': 'ark-broker' } },
      serviceAccount: { create: true, name: '' },
    });
    const pod = brokerPod(objects);
    const [container] = pod.containers;
    assert.equal(container.image, 'ghcr.io/example/ark-broker:9.9.9');
    assert.equal(container.imagePullPolicy, 'Always');
    assert.equal(container.resources.limits.memory, '1Gi');
    const env = envOf(container);
    assert.deepEqual(env.get('DATABASE_URL').valueFrom.secretKeyRef, { name: 'pg-url', key: 'database-url' });
    assert.equal(env.get('DATABASE_POOL_SIZE').value, '30');
    assert.equal(env.get('PORT').value, '9000');
    assert.equal(container.ports[0].containerPort, 9000);
    assert.equal(env.get('DATABASE_SSL_ROOT_CERT_PATH').value, '/etc/pg-ssl/ca.crt');
    assert.equal(one(objects, 'Memory').metadata.name, 'ark-broker');
    assert.equal(find(objects, 'ConfigMap', 'ark-config-streaming').length, 0);
    assert.equal(one(objects, 'Deployment').metadata.annotations!['ark.mckinsey.com/service'], 'ark-broker');
    assert.equal(one(objects, 'Service').metadata.annotations!['ark.mckinsey.com/service'], 'ark-broker');
  });

  it("upstream ark-broker's value names without a counterpart fail the render, naming what to use", async () => {
    const cases: [unknown, RegExp][] = [
      [{ database: { migrateUrl: 'postgres://owner@db/ark' } }, /database\.migrateUrl \(upstream\) is migrations\.existingSecret/],
      [{ backends: { message: 'memory' } }, /backends\.message=memory .*PostgreSQL/],
      [{ persistence: { enabled: true } }, /persistence .*postgresql\.persistence/],
      [{ limits: { maxMessages: 50000 } }, /limits\.maxMessages/],
      [{ redis: { url: 'redis://r:6379' } }, /redis .*remove redis/],
      [{ migrate: { image: { repository: 'ghcr.io/x/ark-broker-migrate' } } }, /migrate\.image .*image\.\*/],
      [{ restartController: { enabled: true } }, /restartController .*restartController\.enabled=false/],
      [{ app: { name: 'broker' } }, /app\.name \(upstream\) is fullnameOverride/],
      [{ database: { statementTimeoutMs: 30000 } }, /statementTimeoutMs/],
    ];
    for (const [values, message] of cases) {
      const result = await renderValues({ ...db, ...(values as object), database: { ...db.database, ...((values as { database?: object }).database ?? {}) } });
      assert.notEqual(result.code, 0, JSON.stringify(values));
      assert.match(result.stderr, message, JSON.stringify(values));
    }
  });

  it('passes helm lint --strict with every option on', async () => {
    const file = path.join(scratch, 'everything.yaml');
    await writeFile(
      file,
      yaml.dump({
        database: { existingSecret: 'db', tls: { enabled: true, secretName: 'pg-ca' } },
        image: { registry: 'registry.example.com', digest: `sha256:${'b'.repeat(64)}` },
        prometheus: { enable: true },
        networkPolicy: { enabled: true, allowedNamespaces: ['team-a'] },
        serviceAccount: { annotations: { a: 'b' } },
        extraVolumes: [{ name: 'x', emptyDir: {} }],
        extraVolumeMounts: [{ name: 'x', mountPath: '/x' }],
        ingress: { enabled: true },
        httpRoute: { enabled: true, parentRefs: [{ name: 'gw' }] },
        autoscaling: { enabled: true },
        commonAnnotations: { team: 'ark' },
        auth: { mode: 'jwt', jwksUrl: 'https://issuer.example/jwks', serviceAccounts: 'ark-system/ark-controller=default:producer' },
      }),
    );
    const result = await helm(['lint', '--strict', CHART, '-f', file], scratch);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });
});
