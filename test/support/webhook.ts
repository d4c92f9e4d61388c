// Our admission webhook for tests: served in process on loopback with a throwaway CA, and
// registered with the apiserver the way the chart registers it.
import { readFile } from 'node:fs/promises';
import { AdmissionregistrationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Pki } from '../../lab/src/controlplane/pki.ts';
import { GROUP, VERSION } from '../../src/api/schema/json-schema.ts';
import { apiserverContext } from '../../src/controller/webhook/apiserver-context.ts';
import { startWebhookServer, type WebhookServer } from '../../src/controller/webhook/server.ts';

export const WEBHOOK_NAME = 'egressgateway.egressgateway.spidernet.io';

export async function startTestWebhook(
  kc: KubeConfig,
  pkiDir: string,
  families: { enableIPv4: boolean; enableIPv6: boolean },
): Promise<WebhookServer> {
  const pki = new Pki(pkiDir);
  await pki.ensureCa();
  const cert = await pki.issue({
    file: 'webhook',
    commonName: 'webhook',
    ips: ['127.0.0.1'],
    usage: 'server',
  });
  const server = await startWebhookServer({
    certFile: cert.cert,
    keyFile: cert.key,
    port: 0,
    host: '127.0.0.1',
    context: apiserverContext(kc, families),
  });
  const caBundle = (await readFile(pki.ca.cert)).toString('base64');
  const client = (path: string) => ({ url: `https://127.0.0.1:${server.port}${path}`, caBundle });
  const resources = ['egressgateways', 'egresspolicies', 'egressclusterpolicies'];
  const common = {
    name: WEBHOOK_NAME,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
  };
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  await admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name: 'egressgateway-controller' },
      webhooks: [
        {
          ...common,
          clientConfig: client('/validate'),
          rules: [
            {
              apiGroups: [GROUP],
              apiVersions: [VERSION],
              operations: ['CREATE', 'UPDATE', 'DELETE'],
              resources,
            },
            // as the chart: not CREATE, which the chart does before the webhook runs
            {
              apiGroups: [GROUP],
              apiVersions: [VERSION],
              operations: ['UPDATE', 'DELETE'],
              resources: ['egressclusterinfos'],
            },
          ],
        },
      ],
    },
  });
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'egressgateway-controller' },
      webhooks: [
        {
          ...common,
          clientConfig: client('/mutate'),
          rules: [
            { apiGroups: [GROUP], apiVersions: [VERSION], operations: ['CREATE', 'UPDATE'], resources },
          ],
        },
      ],
    },
  });
  return server;
}
