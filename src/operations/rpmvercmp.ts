/** rpm's version comparison (rpmvercmp), without epochs: -1, 0 or 1. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  const seg = (s: string) => s.match(/~|\d+|[A-Za-z]+/g) ?? [];
  const x = seg(a);
  const y = seg(b);
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    // A tilde sorts before anything, even the end of the string (1.0~rc1 < 1.0).
    if (p === '~' || q === '~') {
      if (p !== q) return p === '~' ? -1 : 1;
      continue;
    }
    if (p === undefined || q === undefined) return p === q ? 0 : p === undefined ? -1 : 1;
    const pn = /^\d/.test(p);
    const qn = /^\d/.test(q);
    if (pn !== qn) return pn ? 1 : -1;
    const c = pn ? cmpNum(p, q) : p < q ? -1 : p > q ? 1 : 0;
    if (c !== 0) return c;
  }
}

const cmpNum = (p: string, q: string): number => {
  const a = p.replace(/^0+/, '');
  const b = q.replace(/^0+/, '');
  return a.length !== b.length ? Math.sign(a.length - b.length) : a < b ? -1 : a > b ? 1 : 0;
};

/** Compare a wanted `version` or `version-release` with an installed `version-release`. */
export function cmpWanted(wanted: string, installed: string): number {
  const inst = wanted.includes('-') ? installed : installed.split('-')[0]!;
  if (!wanted.includes('-')) return rpmvercmp(wanted, inst);
  const [wv, wr] = splitVR(wanted);
  const [iv, ir] = splitVR(inst);
  return rpmvercmp(wv, iv) || rpmvercmp(wr, ir);
}

const splitVR = (s: string): [string, string] => {
  const i = s.lastIndexOf('-');
  return [s.slice(0, i), s.slice(i + 1)];
};
