// The floor under any run of a provisioner that starts as a process and opens a fresh SSH
// connection (bench compare prints it beside the runs): Node starting, ssh2 loaded, one
// connection (the lab's key, the host key checked against the lab's known_hosts) and one
// command (`true`) on one node. Plain JavaScript, run by node as users run bin/provision.js.
//   node bench/floor.mjs ADDRESS PRIVATE_KEY KNOWN_HOSTS   (exit 0 when the command ran)
//   node bench/floor.mjs --node-only                        (Node's own start, nothing else)
import fs from 'node:fs';
import process from 'node:process';

const [address, keyFile, knownHosts] = process.argv.slice(2);
if (address !== '--node-only') {
  const { Client } = (await import('ssh2')).default;
  // "address[,alias] ssh-ed25519 BASE64" lines, as lab up writes them.
  const known = fs
    .readFileSync(knownHosts, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find(([names, type]) => type === 'ssh-ed25519' && names.split(',').includes(address));
  if (!known) throw new Error(`${address}: no ssh-ed25519 key in ${knownHosts}`);
  const code = await new Promise((resolve, reject) => {
    const c = new Client();
    c.on('error', reject);
    c.on('ready', () =>
      c.exec('true', (err, stream) => {
        if (err) return reject(err);
        stream.on('close', (exitCode) => {
          c.end();
          resolve(exitCode);
        });
        stream.resume();
        stream.stderr.resume();
      }),
    );
    c.connect({
      host: address,
      username: 'root',
      privateKey: fs.readFileSync(keyFile),
      // The key straight away (ssh2 would ask for "none" first: one more round trip).
      authHandler: ['publickey'],
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key) => key.toString('base64') === known[2],
    });
    // As provision does: no Nagle delay on the handshake's small round trips.
    c.setNoDelay(true);
  });
  process.exitCode = code === 0 ? 0 : 1;
}
