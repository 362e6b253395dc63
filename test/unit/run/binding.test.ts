import { describe, expect, it } from 'vitest';
import { pendingDeprecation, quietBinding } from '../../../src/run/binding.js';

describe('pendingDeprecation', () => {
  it('is on with NODE_PENDING_DEPRECATION=1, --pending-deprecation in execArgv or in NODE_OPTIONS', () => {
    expect(pendingDeprecation({}, [])).toBe(false);
    expect(pendingDeprecation({ NODE_PENDING_DEPRECATION: '1' }, [])).toBe(true);
    expect(pendingDeprecation({ NODE_PENDING_DEPRECATION: '0' }, [])).toBe(false);
    expect(pendingDeprecation({}, ['--pending-deprecation'])).toBe(true);
    expect(pendingDeprecation({ NODE_OPTIONS: '--max-old-space-size=100 --pending-deprecation' }, [])).toBe(true);
    expect(pendingDeprecation({ NODE_OPTIONS: '--pending-deprecations-are-not-a-flag' }, [])).toBe(false);
  });
});

describe('quietBinding', () => {
  it("gives the handles node's own modules wrap, and undefined for a name node does not expose", () => {
    if (pendingDeprecation()) return; // the test runner's own node options: nothing to get then
    expect(typeof quietBinding<{ Process?: unknown }>('process_wrap')?.Process).toBe('function');
    expect(quietBinding('no_such_binding')).toBeUndefined();
  });
});
