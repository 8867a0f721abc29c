import ipaddr from 'ipaddr.js';

/** Roles a grant may give (the same names as libs/tenancy's ROLES; config cannot import tenancy). */
const GRANT_ROLES = ['producer', 'reader', 'admin'] as const;
export type GrantRole = (typeof GRANT_ROLES)[number];

/** What a trusted network or a service account is let in as. */
export interface IdentityGrant {
  tenantId: string;
  roles: GrantRole[];
}

/** An address range: a CIDR, or one address. */
export type AddressRange = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** AUTH_TRUSTED_NETWORKS: callers from `range` without credentials are `grant`. */
export interface NetworkGrant extends IdentityGrant {
  cidr: string;
  range: AddressRange;
}

/** `10.0.0.0/8`, `fd00::/8` or one address (`10.1.2.3`: a /32); throws on anything else. */
export function parseAddressRange(text: string): AddressRange {
  try {
    if (text.includes('/')) return ipaddr.parseCIDR(text);
    const address = ipaddr.parse(text);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new Error(`"${text}" is not an IP address or CIDR range`);
  }
}

/** Comma-separated ranges (AUTH_TRUSTED_PROXIES). */
export function parseAddressRanges(list: string): AddressRange[] {
  return list
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)
    .map(parseAddressRange);
}

/** Whether `address` (as a socket reports it; IPv4-mapped IPv6 counts as IPv4) is in `range`. */
export function rangeHolds(range: AddressRange, address: string | undefined): boolean {
  if (!address || !ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address);
  return parsed.kind() === range[0].kind() && parsed.match(range);
}

/** AUTH_K8S_SERVICE_ACCOUNTS: a ServiceAccount (`name` `*`: any of the namespace) is `grant`. */
export interface ServiceAccountGrant extends IdentityGrant {
  namespace: string;
  name: string;
}

/** Entries `<who>=<tenant>:<role>,<role>`, separated by `;` or white space. */
function entries(spec: string): { who: string; grant: IdentityGrant }[] {
  return spec
    .split(/[;\s]+/)
    .filter(Boolean)
    .map((entry) => {
      const match = /^([^=]+)=([^:=]+):([a-z,]+)$/.exec(entry);
      if (!match) throw new Error(`"${entry}" is not <who>=<tenant>:<role>[,<role>…]`);
      const roles = match[3]!.split(',').filter(Boolean);
      const unknown = roles.filter((r) => !(GRANT_ROLES as readonly string[]).includes(r));
      if (unknown.length > 0 || roles.length === 0) throw new Error(`"${entry}": roles must be of ${GRANT_ROLES.join(', ')}`);
      return { who: match[1]!, grant: { tenantId: match[2]!, roles: roles as GrantRole[] } };
    });
}

/** Parses AUTH_TRUSTED_NETWORKS, e.g. `10.42.0.0/16=acme:producer,admin; fd00::/8=acme:producer`; throws on a bad entry. */
export function parseNetworkGrants(spec: string): NetworkGrant[] {
  return entries(spec).map(({ who, grant }) => ({ ...grant, cidr: who, range: parseAddressRange(who) }));
}

/** Parses AUTH_K8S_SERVICE_ACCOUNTS, e.g. `ark-system/ark-controller=acme:producer; ark-system/*=acme:reader`. */
export function parseServiceAccountGrants(spec: string): ServiceAccountGrant[] {
  return entries(spec).map(({ who, grant }) => {
    const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/(\*|[a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(who);
    if (!match) throw new Error(`"${who}" is not <namespace>/<service account> (or <namespace>/*)`);
    return { ...grant, namespace: match[1]!, name: match[3]! };
  });
}

/** The grant of the first range that holds `address` (IPv4-mapped IPv6 addresses count as IPv4). */
export function networkGrantFor(grants: readonly NetworkGrant[], address: string | undefined): NetworkGrant | undefined {
  return grants.find((g) => rangeHolds(g.range, address));
}
