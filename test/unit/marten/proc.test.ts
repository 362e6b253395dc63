/** The one line a failed tool gives: its real error, not a warning, its prefix once. */
import { describe, expect, it } from 'vitest';
import { toolError } from '../../../src/marten/proc.js';

describe('toolError', () => {
  it("skips tar's warnings and strips its own prefix", () => {
    const err = "tar: Removing leading `../' from member names\ntar: ../evil: Member name contains '..'\ntar: Unexpected EOF in archive\ntar: Error is not recoverable: exiting now\n";
    expect(toolError('tar', err)).toBe("../evil: Member name contains '..'");
    expect(toolError('tar', 'tar: Removing leading `/\' from member names\ntar: Exiting with failure status due to previous errors\n')).toBeUndefined();
  });
  it('says no space left on device plainly, naming what was written', () => {
    expect(toolError('tar', 'tar: ./big: Cannot write: No space left on device\ntar: Exiting with failure status due to previous errors\n'))
      .toBe('no space left on device (big)');
  });
});
