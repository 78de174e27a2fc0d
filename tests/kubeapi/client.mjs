// client.mjs - the official JavaScript Kubernetes client against kumod: create,
// list, watch and patch an Infra with nothing but the kubeconfig kumod wrote.
// Run by test_kubeapi's js_client case (KUMO_NPM_DIR holds node_modules).
import { pathToFileURL } from 'node:url';

const dir = process.env.KUMO_NPM_DIR;
const k8s = await import(
  pathToFileURL(`${dir}/node_modules/@kubernetes/client-node/dist/index.js`).href);

const kc = new k8s.KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG);
const api = kc.makeApiClient(k8s.CustomObjectsApi);
const where = { group: 'kumo.dev', version: 'v1alpha1', namespace: 'default', plural: 'infras' };

await api.createNamespacedCustomObject({
  ...where,
  body: {
    apiVersion: 'kumo.dev/v1alpha1', kind: 'Infra', metadata: { name: 'js-infra' },
    spec: { groups: [{ name: 'g', size: 0, connection: 'nowhere', instanceType: 't3.micro',
      image: 'ubuntu-22.04' }] },
  },
});
const list = await api.listNamespacedCustomObject(where);
for (const item of list.items) console.log(`listed ${item.metadata.name}`);

const watch = new k8s.Watch(kc);
let resolveSeen;
const seen = new Promise((resolve) => { resolveSeen = resolve; });
const request = await watch.watch(
  '/apis/kumo.dev/v1alpha1/namespaces/default/infras',
  { resourceVersion: list.metadata.resourceVersion },
  (type, obj) => {
    if (obj.metadata && obj.metadata.name === 'js-infra' && type === 'MODIFIED') {
      console.log(`watched ${type} ${obj.metadata.name}`);
      resolveSeen();
    }
  },
  (err) => { if (err && err.name !== 'AbortError') console.log(`watch ended: ${err}`); });

const patched = await api.patchNamespacedCustomObject(
  { ...where, name: 'js-infra', body: { metadata: { labels: { by: 'client-node' } } } },
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
console.log(`patched ${patched.metadata.name} ${JSON.stringify(patched.metadata.labels)}`);

const timer = setTimeout(() => { console.log('no MODIFIED event within 30 s'); process.exit(1); },
  30000);
await seen;
clearTimeout(timer);
request.abort();
