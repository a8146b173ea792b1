// The portal's service worker: adds the user's token to the archive requests that the page
// cannot add it to itself — the HiPS tiles and properties Aladin Lite fetches on its own.
//
// The token stays in each tab's sessionStorage; this worker only asks the tab that made a
// request for it (and remembers the answer per tab), so one tab's token never goes out with
// another tab's requests. Only requests to this origin's /hips/ and /moc/ paths are touched;
// everything else goes out as the page made it.

const tokens = new Map(); // client id → token ('' for none)

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// A tab tells the worker its token when it changes.
self.addEventListener('message', (event) => {
  const data = event.data;
  if (event.source && data && data.type === 'token' && typeof data.token === 'string') {
    tokens.set(event.source.id, data.token);
  }
});

/** The token of the tab `clientId`: remembered, or asked of the tab (at most 2 s). */
async function tokenOf(clientId) {
  if (!clientId) return '';
  if (tokens.has(clientId)) return tokens.get(clientId);
  const client = await self.clients.get(clientId);
  if (!client) return '';
  const answer = await new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(''), 2000);
    channel.port1.onmessage = (e) => {
      clearTimeout(timer);
      resolve(typeof e.data?.token === 'string' ? e.data.token : '');
    };
    client.postMessage({ type: 'token?' }, [channel.port2]);
  });
  tokens.set(clientId, answer);
  return answer;
}

function needsToken(request) {
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== 'GET') return false;
  if (request.headers.has('Authorization')) return false;
  // The service root is the worker's scope without its last segment (/portal/ → /).
  const root = new URL('..', self.registration.scope).pathname;
  return url.pathname.startsWith(`${root}hips/`) || url.pathname.startsWith(`${root}moc/`);
}

self.addEventListener('fetch', (event) => {
  if (!needsToken(event.request)) return;
  event.respondWith(
    (async () => {
      const token = await tokenOf(event.clientId || event.resultingClientId);
      if (!token) return fetch(event.request);
      const headers = new Headers(event.request.headers);
      headers.set('Authorization', `Bearer ${token}`);
      return fetch(event.request.url, { headers, credentials: 'same-origin' });
    })(),
  );
});
