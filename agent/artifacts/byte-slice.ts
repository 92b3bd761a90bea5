/**
 * Bytes `start`..`end` (inclusive) of a stream, for Range requests. The BlobStore has no ranged
 * read, so the bytes before `start` are read and dropped; leaving the loop once `end` is passed
 * destroys the source, so nothing after the range is read.
 */
export async function* byteSlice(source: AsyncIterable<Buffer>, start: number, end: number): AsyncGenerator<Buffer> {
  let offset = 0;
  for await (const chunk of source) {
    const from = Math.max(0, start - offset);
    const to = Math.min(chunk.length, end + 1 - offset);
    offset += chunk.length;
    if (to > from) yield chunk.subarray(from, to);
    if (offset > end) return;
  }
}
