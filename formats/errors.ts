// A file that cannot be read as what it claims to be. The message names the file and, when known, the tensor.
export class FormatError extends Error {
  override name = 'FormatError';
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly tensor?: string,
  ) {
    super(`${file}: ${tensor ? `tensor '${tensor}': ` : ''}${detail}`);
  }
}

/** The FormatError for a file that could not be opened or read (`e` from fs): "file not found", or the code. */
export function unreadableFile(path: string, e: unknown, what = 'be read'): FormatError {
  const code = (e as NodeJS.ErrnoException).code;
  return new FormatError(path, code === 'ENOENT' ? 'file not found' : `cannot ${what} (${code ?? String(e)})`);
}
