/**
 * The certificates of one job's remote Docker engine: a CA made for the job alone, the engine's
 * server certificate for the addresses the job reaches it at, and the client certificate the job's
 * containers present. The engine runs with `--tlsverify`, so only a holder of the client key (the
 * job) can use it, and the job trusts only this engine. Keys are RSA 2048 from Node's own crypto
 * (native, off the event loop); the certificates are built and signed with node-forge.
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';

/** PEM texts, as dockerd (`--tlscacert/--tlscert/--tlskey`) and the docker CLI (`DOCKER_CERT_PATH`) read them. */
export interface RemoteDockerCerts {
  ca: string;
  server: { cert: string; key: string };
  /** the docker CLI's file names: ca.pem, cert.pem, key.pem */
  client: { cert: string; key: string };
}

/** A day: a job's engine never outlives its job by much, and a clock a little off still works. */
const VALID_MS = 24 * 60 * 60 * 1000;

/** `addresses`: the IPs and host names the engine is reached at (its certificate names each). */
export async function makeRemoteDockerCerts(jobName: string, addresses: string[]): Promise<RemoteDockerCerts> {
  // loaded on use: only jobs with setup_remote_docker need it
  const forge = createRequire(import.meta.url)('node-forge') as typeof import('node-forge');
  const { pki } = forge;
  // the three keys are made in parallel on libuv's threads, not on the job's event loop
  const [caPair, serverPair, clientPair] = await Promise.all(
    [0, 1, 2].map(() => promisify(generateKeyPair)('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })),
  );
  const keyPair = ({ privateKey, publicKey }: { privateKey: string; publicKey: string }) => ({ privatePem: privateKey, privateKey: pki.privateKeyFromPem(privateKey), publicKey: pki.publicKeyFromPem(publicKey) });
  const now = Date.now();
  const certificate = (subject: string, publicKey: import('node-forge').pki.PublicKey, extensions: object[]) => {
    const cert = pki.createCertificate();
    cert.publicKey = publicKey;
    // positive, 16 random bytes: unique per certificate, as RFC 5280 asks
    cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
    cert.validity.notBefore = new Date(now - 5 * 60 * 1000);
    cert.validity.notAfter = new Date(now + VALID_MS);
    cert.setSubject([{ name: 'commonName', value: subject }]);
    cert.setExtensions(extensions);
    return cert;
  };

  const caKeys = keyPair(caPair);
  const ca = certificate(`deckhand remote Docker CA for job ${jobName}`.slice(0, 64), caKeys.publicKey, [
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.setIssuer(ca.subject.attributes);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const signed = (pair: { privateKey: string; publicKey: string }, subject: string, extensions: object[]) => {
    const keys = keyPair(pair);
    const cert = certificate(subject, keys.publicKey, [{ name: 'basicConstraints', cA: false }, { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() }, ...extensions]);
    cert.setIssuer(ca.subject.attributes);
    cert.sign(caKeys.privateKey, forge.md.sha256.create());
    return { cert: pki.certificateToPem(cert), key: keys.privatePem };
  };
  const altNames = [...new Set([...addresses, 'localhost', '127.0.0.1'])].map((a) => (/^[\d.]+$|:/.test(a) ? { type: 7, ip: a } : { type: 2, value: a }));
  return {
    ca: pki.certificateToPem(ca),
    server: signed(serverPair, 'deckhand remote Docker engine', [
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ]),
    client: signed(clientPair, 'deckhand job', [
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ]),
  };
}
