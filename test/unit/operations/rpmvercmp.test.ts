import { describe, expect, it } from 'vitest';
import { cmpWanted, rpmvercmp } from '../../../src/operations/rpmvercmp.js';

describe('rpmvercmp', () => {
  it.each([
    ['1.0', '1.0', 0],
    ['1.0', '1.1', -1],
    ['3.4.23', '3.4.9', 1],
    ['1.0a', '1.0', 1],
    ['1.0', '1.0a', -1],
    ['2.0', '2.a', 1],
    ['1.0~rc1', '1.0', -1],
    ['010', '10', 0],
    ['1.el8', '1.el9', -1],
  ])('%s vs %s', (a, b, want) => expect(rpmvercmp(a, b)).toBe(want));

  it.each([
    ['3.4.23', '3.4.23-1.el8', 0],
    ['3.4.23-2.el8', '3.4.23-1.el8', 1],
    ['3.4.9', '3.4.23-1.el8', -1],
  ])('wanted %s vs installed %s', (w, i, want) => expect(cmpWanted(w, i)).toBe(want));
});
