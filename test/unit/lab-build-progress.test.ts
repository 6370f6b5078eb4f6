/** The lab image build shows progress: debootstrap's stages as lines, not minutes of silence. */
import { describe, expect, it } from 'vitest';
import { debootstrapProgress } from '../../src/lab/build.js';

describe('debootstrap progress', () => {
  it('a line per stage (retrieving and validating one stage, not a line each), and every 10 s within a long one, with the packages done', () => {
    const lines: string[] = [];
    let t = 0;
    const on = debootstrapProgress(
      (l) => lines.push(l),
      () => t,
    );
    on('I: Retrieving InRelease');
    for (let i = 0; i < 50; i++) {
      t += 500;
      on(`I: Retrieving pkg${i} 1.0`);
      on(`I: Validating pkg${i} 1.0`);
    }
    on('W: something else');
    t += 1000;
    on('I: Extracting base-files...');
    on('I: Base system installed successfully.');
    expect(lines).toEqual([
      'image: debootstrap: downloading (0 s)',
      'image: debootstrap: downloading (21 packages) (10 s)',
      'image: debootstrap: downloading (41 packages) (20 s)',
      'image: debootstrap: extracting (26 s)',
      'image: debootstrap: base system installed (26 s)',
    ]);
  });
});
