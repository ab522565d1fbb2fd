// Fetches a file that sits beside model.js: fs in Node (file: URLs), fetch everywhere else.
export async function loadBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    const buffer = await readFile(url);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.href}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}
