/** AUTH_TRUSTED_NETWORKS, AUTH_TRUSTED_PROXIES and AUTH_K8S_SERVICE_ACCOUNTS: parsing, matching, validation at start-up. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidConfigError,
  loadBrokerConfig,
  networkGrantFor,
  parseAddressRanges,
  parseNetworkGrants,
  parseServiceAccountGrants,
  rangeHolds,
} from '#ark/config';

describe('identity grants', () => {
  it('matches callers to trusted networks by CIDR, IPv4-mapped IPv6 as IPv4', () => {
    const grants = parseNetworkGrants('10.42.0.0/16=acme:producer,admin;\n fd00::/8=beta:reader 192.168.1.7=gamma:producer');
    assert.deepEqual(
      grants.map((g) => [g.cidr, g.tenantId, g.roles]),
      [
        ['10.42.0.0/16', 'acme', ['producer', 'admin']],
        ['fd00::/8', 'beta', ['reader']],
        ['192.168.1.7', 'gamma', ['producer']],
      ],
    );
    assert.equal(networkGrantFor(grants, '10.42.3.4')?.tenantId, 'acme');
    assert.equal(networkGrantFor(grants, '::ffff:10.42.3.4')?.tenantId, 'acme');
    assert.equal(networkGrantFor(grants, 'fd12::1')?.tenantId, 'beta');
    assert.equal(networkGrantFor(grants, '192.168.1.7')?.tenantId, 'gamma');
    for (const outside of ['10.43.0.1', '192.168.1.8', '::1', '127.0.0.1', 'not-an-ip', undefined])
      assert.equal(networkGrantFor(grants, outside), undefined, String(outside));
    const proxies = parseAddressRanges('127.0.0.1, ::1');
    assert.ok(rangeHolds(proxies[0]!, '::ffff:127.0.0.1'));
    assert.ok(!rangeHolds(proxies[0]!, '127.0.0.2'));
  });

  it('parses service account grants, with * for every account of a namespace', () => {
    assert.deepEqual(
      parseServiceAccountGrants('ark-system/ark-controller=acme:producer; ark-system/*=acme:reader').map((g) => [g.namespace, g.name, g.tenantId, g.roles]),
      [
        ['ark-system', 'ark-controller', 'acme', ['producer']],
        ['ark-system', '*', 'acme', ['reader']],
      ],
    );
  });

  it('refuses bad settings at start-up, naming the setting', () => {
    const bad: Record<string, string>[] = [
      { AUTH_TRUSTED_NETWORKS: '10.0.0.0/33=acme:producer' },
      { AUTH_TRUSTED_NETWORKS: '10.0.0.0/8=acme:root' },
      { AUTH_TRUSTED_NETWORKS: '10.0.0.0/8' },
      { AUTH_K8S_SERVICE_ACCOUNTS: 'ark-controller=acme:producer' },
      { AUTH_TRUSTED_PROXIES: 'localhost' },
      { AUTH_MODE: 'header' },
    ];
    for (const env of bad) {
      assert.throws(
        () => loadBrokerConfig(env),
        (error: Error) =>
          error instanceof InvalidConfigError &&
          error.message.includes(Object.keys(env).at(-1) === 'AUTH_MODE' ? 'AUTH_TRUSTED_PROXIES' : Object.keys(env)[0]!),
        JSON.stringify(env),
      );
    }
    assert.equal(loadBrokerConfig({ AUTH_MODE: 'header', AUTH_TRUSTED_PROXIES: '10.1.2.3' }).AUTH_MODE, 'header');
  });
});
