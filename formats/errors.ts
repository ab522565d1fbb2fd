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
