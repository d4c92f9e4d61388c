import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalIp,
  countAddresses,
  formatIp,
  nthAddress,
  parseCidr,
  parseIp,
  parsePoolEntry,
  poolContains,
  rangesOverlap,
} from '../../../src/common/ip.ts';

describe('ip math', () => {
  it('round-trips IPv4 and IPv6 text', () => {
    for (const ip of ['0.0.0.0', '172.22.0.110', '255.255.255.255']) {
      assert.equal(formatIp(4, parseIp(ip).value), ip);
    }
    assert.equal(canonicalIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(canonicalIp('fd00::'), 'fd00::');
    assert.equal(canonicalIp('::'), '::');
    assert.equal(canonicalIp('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
    assert.equal(canonicalIp('::ffff:10.0.0.1'), '::ffff:a00:1');
    assert.equal(canonicalIp('nope'), undefined);
  });

  it('parses pool entries in all three forms', () => {
    assert.equal(countAddresses([parsePoolEntry('172.22.0.100-172.22.0.110')]), 11n);
    assert.equal(countAddresses([parsePoolEntry('10.0.0.0/24')]), 256n);
    assert.equal(countAddresses([parsePoolEntry('10.0.0.7')]), 1n);
    assert.equal(countAddresses([parsePoolEntry('fd00::/64')]), 1n << 64n);
    assert.throws(() => parsePoolEntry('10.0.0.9-10.0.0.1'), /start is after end/);
    assert.throws(() => parsePoolEntry('10.0.0.1-fd00::1'), /mixes IPv4 and IPv6/);
    assert.throws(() => parsePoolEntry('10.0.0.1/33'), /prefix must be 0-32/);
    assert.throws(() => parsePoolEntry('banana'), /is not an IP/);
  });

  it('counts overlapping ranges once and walks pools without listing them', () => {
    const pool = ['10.0.0.0/30', '10.0.0.2-10.0.0.5', '10.0.1.1'].map(parsePoolEntry);
    assert.equal(countAddresses(pool), 7n);
    assert.equal(formatIp(4, nthAddress(pool, 6n)!), '10.0.1.1');
    assert.equal(nthAddress(pool, 7n), undefined);
    assert.ok(poolContains(pool, '10.0.0.5'));
    assert.ok(!poolContains(pool, '10.0.0.6'));
  });

  it('detects overlap only within one family', () => {
    assert.ok(rangesOverlap(parsePoolEntry('10.0.0.0/24'), parsePoolEntry('10.0.0.255')));
    assert.ok(!rangesOverlap(parsePoolEntry('10.0.0.0/24'), parsePoolEntry('10.0.1.0/24')));
    assert.ok(!rangesOverlap(parsePoolEntry('0.0.0.0/0'), parsePoolEntry('::/0')));
  });

  it('reads plain IPs as host CIDRs only when asked', () => {
    assert.deepEqual(parseCidr('10.1.2.3', { allowPlainIp: true }), {
      family: 4,
      network: 0x0a010203n,
      prefix: 32,
    });
    assert.throws(() => parseCidr('10.1.2.3'), /not a CIDR/);
    assert.equal(parseCidr('10.1.2.3/8').network, 0x0a000000n);
  });
});
