import { describe, expect, it } from 'vitest';
import { parseListen, reachableUrl } from '../../../gateway/config/listen.js';

describe('listen addresses, as the CLI reaches them', () => {
  it('reads every form a config may hold', () => {
    expect(parseListen('8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen(':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListen('10.0.0.5:8080')).toEqual({ host: '10.0.0.5', port: 8080 });
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
  });

  it('reaches a listener on every interface on loopback, and brackets IPv6', () => {
    expect(reachableUrl('8080', 'http')).toBe('http://127.0.0.1:8080'); // the approvals CLI made this http://808:8080
    expect(reachableUrl(':8080', 'http')).toBe('http://127.0.0.1:8080');
    expect(reachableUrl('0.0.0.0:9090', 'https')).toBe('https://127.0.0.1:9090');
    expect(reachableUrl('[::]:9090', 'http')).toBe('http://127.0.0.1:9090');
    expect(reachableUrl('[::1]:9090', 'http')).toBe('http://[::1]:9090');
    expect(reachableUrl('10.0.0.5:8080', 'http')).toBe('http://10.0.0.5:8080');
  });
});
