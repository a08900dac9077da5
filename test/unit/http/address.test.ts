import { describe, expect, it } from 'vitest';
import { clientIp, unmapIPv4 } from '../../../gateway/http/address.js';

describe('an IPv4-mapped IPv6 address is read as the IPv4 address it carries', () => {
  it('unmaps the form Node reports for IPv4 peers of a dual-stack socket, in any case', () => {
    expect(unmapIPv4('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(unmapIPv4('::FFFF:127.0.0.1')).toBe('127.0.0.1');
  });

  it('leaves every other address as it is, a mapped form without a dotted IPv4 tail included', () => {
    for (const address of ['192.0.2.1', '::1', '2001:db8::1', '::ffff:7f00:1', '::ffff:1.2.3', 'localhost', '']) {
      expect(unmapIPv4(address)).toBe(address);
    }
  });

  it('gives the policy context 0.0.0.0 for a socket with no address', () => {
    expect(clientIp(undefined)).toBe('0.0.0.0');
    expect(clientIp('::ffff:10.0.0.7')).toBe('10.0.0.7');
  });
});
