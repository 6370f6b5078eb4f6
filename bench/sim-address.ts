/** The loopback address of simulated host i (127.1.a.b; Linux routes all of 127/8 to lo). */
export const simAddress = (i: number): string => `127.1.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`;
